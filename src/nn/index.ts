export { Module, Parameter, Buffer } from './module.js';
export * from './layers.js';
export { setInitSeed, truncNormal, uniformFanIn } from './init.js';
