/** visionmix — Node entry. */
import './models/convnext.js';
import { setBackend } from './models/base.js';
import { nodeBackend } from './tasks/engine.js';

setBackend(nodeBackend);

export { Tensor } from './tensor.js';
export type { DType } from './tensor.js';
export * from './errors.js';
export { createModel, listModels } from './models/index.js';
export type { ModelInfo } from './models/index.js';
export { VisionModel } from './models/base.js';
export type { RunOptions, RunOutput, LossAndGrads, PretrainedConfig } from './models/base.js';
export { readSafetensors, writeSafetensors, SafetensorsFile } from './io/safetensors.js';
export { Module, Parameter } from './nn/module.js';
