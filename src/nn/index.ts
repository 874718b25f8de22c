export { Module, Parameter, Buffer } from './module.js';
export * from './layers.js';
export { truncNormal, uniformFanIn } from './init.js';
export { BatchNorm2d, batchNorm2dTrain, batchNorm2dEval, type BatchNorm2dOptions, type BatchNormTrainResult } from './batchnorm.js';
