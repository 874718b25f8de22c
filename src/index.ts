/**
 * visionmix — Node entry: the model zoo, run on onnxruntime-node, weights read from the file system.
 * Importing it installs nothing globally; models made by its `createModel` run on its own engine.
 */
import type { ModelSpec, RawConfig } from './models/registry.js';
import type { VisionModel } from './models/base.js';
import type { CreateModelOptions, Engine, EngineOptions } from './tasks/engine.js';
import { createFcmae as createFcmaeOn, type Fcmae } from './tasks/fcmae.js';
import { createNodeEngine, nodeEngine } from './tasks/node_engine.js';

/** An engine on onnxruntime-node (own session caches, e.g. with another `sessionCacheSize`). */
export function createEngine(opts: EngineOptions = {}): Engine {
  return createNodeEngine(opts);
}

/**
 * The engine behind this entry's `createModel` (and the CLI's), created on first use: importing
 * visionmix starts nothing.
 */
export function defaultEngine(): Engine {
  return nodeEngine();
}

/**
 * Build a model: a registry name ('convnextv2_atto'), a weight tag ('convnext_atto.d2_in1k') or
 * `{ family, ...config }` with the reference constructor's keywords, plus config overrides;
 * `{ pretrained: true }` fetches the tag's weights from the hub (cached) before the first run.
 */
export function createModel(spec: ModelSpec, overrides?: CreateModelOptions): VisionModel {
  return nodeEngine().createModel(spec, overrides);
}

/**
 * FCMAE pretraining around a ConvNeXt encoder (`'convnextv2_atto'` or a config), on this entry's
 * engine: `await f.run(x, { mask })` → `{ loss, pred, mask }`.
 */
export function createFcmae(encoder: ModelSpec, options: RawConfig = {}): Fcmae {
  return createFcmaeOn(nodeEngine(), encoder, options);
}

export { Tensor } from './tensor.js';
export type { DType } from './tensor.js';
export * from './errors.js';
export { listModels } from './models/index.js';
export type { ModelInfo, ListOptions } from './models/index.js';
export { VisionModel } from './models/base.js';
export type { RunOptions, RunOutput, LossAndGrads, LossOptions, LoadResult, TensorTree, ForwardHeadOptions } from './models/base.js';
export type { PretrainedConfig } from './models/pretrained.js';
export type { ModelSpec, RawConfig } from './models/registry.js';
export { describeSchema } from './models/config.js';
export { familySchema, familyNames, pretrainedConfig } from './models/registry.js';
export { Engine } from './tasks/engine.js';
export type { EngineOptions, CreateModelOptions } from './tasks/engine.js';
export { crossEntropy } from './train/losses.js';
export { maskedPatchMse } from './train/masked_mse.js';
export type { Fcmae, FcmaeRunOptions } from './tasks/fcmae.js';
export { loadImage } from './io/load_image.js';
export type { LoadedImage, LoadImageOptions, ImageSource } from './io/load_image.js';
export { createTransform } from './tasks/transform.js';
export type { ImageTransform, EvalTransformConfig } from './tasks/transform.js';
export { tokenLabelling } from './train/token_labelling.js';
export type { TokenLabelTargets, TokenLabellingOptions } from './train/token_labelling.js';
export type { Objective, ObjectiveContext, BuiltObjective } from './train/objective.js';
export { readSafetensors, writeSafetensors, SafetensorsFile } from './io/safetensors.js';
export { Module, Parameter } from './nn/module.js';
