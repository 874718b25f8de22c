/**
 * visionmix — Node entry: the model zoo, run on onnxruntime-node, weights read from the file system.
 * Importing it installs nothing globally (it only defaults ORT_DISABLE_TELEMETRY to 1, see
 * runtime/node_env.ts); models made by its `createModel` run on its own engine.
 */
// First, before any module loads onnxruntime-node: no /tmp/mat-debug-<pid>.log (see runtime/node_env.ts).
import './runtime/node_env.js';
import type { ModelSpec, RawConfig } from './models/registry.js';
import { readWeightsSource, type ReadWeightsOptions } from './io/weights_source.js';
import type { VisionModel } from './models/base.js';
import { typedCreateModel, type Engine, type EngineOptions } from './tasks/engine.js';
import { createFcmae as createFcmaeOn, type Fcmae } from './tasks/fcmae.js';
import { createNodeEngine, nodeEngine, type NodeEngineOptions } from './tasks/node_engine.js';
import type { PlanarImage } from './data/resample.js';
import { loadImage } from './io/load_image.js';
import { classify as classifyPixels, type Classification, type ClassifyOptions } from './tasks/classify_image.js';
import { Tensor } from './tensor.js';
import { readFile } from 'node:fs/promises';
import { ConfigError } from './errors.js';
import { OnnxModel } from './tasks/onnx_model.js';

/** An engine on onnxruntime-node (own session caches, e.g. with another `sessionCacheSize`). */
export function createEngine(opts: NodeEngineOptions = {}): Engine {
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
 * With a known name or family, the config keys are typed and the model is its family's class.
 */
export const createModel = typedCreateModel((spec, overrides) => nodeEngine().createModel(spec, overrides));

/**
 * A state dict from a weights source — a .safetensors file, a PyTorch checkpoint (.pth/.pt/.bin,
 * zip or legacy torch.save, read without running any code from it; `weightsKey` picks 'model_ema'
 * and the like), or `hf:org/repo` — as name → Tensor, the file's own key names.
 */
export function readWeights(source: string, opts: ReadWeightsOptions = {}): Promise<Map<string, Tensor>> {
  return readWeightsSource(source, opts);
}

/**
 * FCMAE pretraining around a ConvNeXt encoder (`'convnextv2_atto'` or a config), on this entry's
 * engine: `await f.run(x, { mask })` → `{ loss, pred, mask }`.
 */
export function createFcmae(encoder: ModelSpec, options: RawConfig = {}): Fcmae {
  return createFcmaeOn(nodeEngine(), encoder, options);
}

/**
 * Top-k classes of one image — a file path, its bytes, pixels from `loadImage`, or an input Tensor
 * [1, C, H, W] — with ImageNet labels for a 1000-class head or `labels` (a run's class list).
 */
export async function classify(model: VisionModel, image: string | Uint8Array | PlanarImage | Tensor, opts: ClassifyOptions = {}): Promise<Classification[]> {
  const decoded = typeof image === 'string' || image instanceof Uint8Array ? await loadImage(image) : image;
  return classifyPixels(model, decoded, opts);
}

/**
 * Load an exported ONNX file (`visionmix export`: fp32, fp16, int8 — or any file with one float32
 * image input) to run on an engine (default: the shared one): `run(x)`, `classify(x)` with the file's
 * labels, and its recorded `transform`. External data files beside it are not read (embed the weights).
 */
export async function loadOnnxModel(source: string | Uint8Array, opts: { engine?: Engine; threads?: number } = {}): Promise<OnnxModel> {
  const bytes = typeof source === 'string' ? await readFile(source).catch((err: unknown) => {
    throw new ConfigError(`cannot read ONNX file ${source}: ${(err as Error).message}`);
  }) : source;
  return OnnxModel.load(opts.engine ?? nodeEngine(), bytes, typeof source === 'string' ? source : 'model.onnx', opts.threads);
}

export type { Classification, ClassifyOptions } from './tasks/classify_image.js';
export { OnnxModel } from './tasks/onnx_model.js';
export type { OnnxFileTransform } from './tasks/onnx_model.js';
export { Tensor };
export type { DType } from './tensor.js';
export * from './errors.js';
export { listModels } from './models/index.js';
export type { ModelInfo, ListOptions } from './models/index.js';
export { VisionModel } from './models/base.js';
export type { RunOptions, RunOutput, NamedOutputs, OutputName, LossAndGrads, LossOptions, LoadResult, TensorTree, CheckpointInfo, LoadWeightsOptions, ForwardHeadOptions, CompileProgress } from './models/base.js';
export type { PretrainedConfig } from './models/pretrained.js';
export type { ModelSpec, RawConfig, ModelName, FamilyName, FamilySpec } from './models/registry.js';
export type { ConvNeXt } from './models/convnext.js';
export type { CMT } from './models/cmt.js';
export type { MobileViT } from './models/mobilevit.js';
export type { GLNet } from './models/glnet.js';
export { describeSchema } from './models/config.js';
export { familySchema, familyNames, pretrainedConfig } from './models/registry.js';
export { Engine } from './tasks/engine.js';
export { timmHandoff, type TimmHandoffOptions, type TimmHandoffResult } from './tasks/timm_handoff.js';
export type { TimmArchitecture } from './models/base.js';
export type { EngineOptions, CreateModel, CreateModelOptions, FamilyModelOptions, ModelOptions } from './tasks/engine.js';
export type { NodeEngineOptions } from './tasks/node_engine.js';
export type { NodeDevice } from './runtime/node.js';
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
export { exportOnnx, EXPORT_METADATA_KEYS } from './io/onnx_export.js';
export type { ExportOnnxOptions, ExportResult, ExportTransform, ExportOutput, ExportDType } from './io/onnx_export.js';
export { exportTransformers } from './io/transformers_export.js';
export type { ExportTransformersOptions, ExportTransformersResult } from './io/transformers_export.js';
export type { TransformersArchitecture } from './models/base.js';
