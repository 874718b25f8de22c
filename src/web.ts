/**
 * visionmix/web — the browser entry: the same models, engine and transforms as the Node entry
 * (src/index.ts), run on onnxruntime-web (wasm or WebGPU), with weights fetched (Cache API, sha256
 * verified) or given as a File or bytes, and images decoded without Node. No Node built-in, sharp,
 * piscina or file system is reachable from here (test/layering.test.ts and the bundling test in
 * test/web/ check it). Importing it loads nothing: onnxruntime-web is imported on the first run.
 *
 * Multi-threaded wasm needs a cross-origin isolated page: serve it with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`.
 */
import type { PlanarImage } from './data/resample.js';
import type { LoadedImage } from './data/decode_image.js';
import { loadImageWeb, type WebImageSource, type WebLoadImageOptions } from './data/web_image.js';
import { OnnxModel } from './tasks/onnx_model.js';
import { ConfigError } from './errors.js';
import { readWeightsWeb, type WebWeightsOptions, type WeightsInput } from './io/web_weights.js';
import type { CompileProgress, LoadResult, LoadWeightsOptions, VisionModel } from './models/base.js';
import type { ModelSpec, RawConfig } from './models/registry.js';
import { webRuntime, type WebDevice, type WebRuntimeOptions } from './runtime/web.js';
import { classify as classifyPixels, type Classification, type ClassifyOptions } from './tasks/classify_image.js';
import { Engine, typedCreateModel, type CreateModelOptions, type EngineOptions } from './tasks/engine.js';
import { createFcmae as createFcmaeOn, type Fcmae } from './tasks/fcmae.js';
import { Tensor } from './tensor.js';
import type { WeightsProgress } from './util/weights_options.js';

export interface WebEngineOptions extends EngineOptions, WebRuntimeOptions {
  /** Defaults for weights read by this engine's models (hub endpoint, token, cache name, progress). */
  weights?: Omit<WebWeightsOptions, 'sha256'>;
}

/** An engine on onnxruntime-web (own session caches; its device and thread count). */
export function createEngine(opts: WebEngineOptions = {}): Engine {
  const { weights = {}, device, numThreads, loadOrt, log, onCompile, ...engine } = opts;
  const read = (source: string, o: WebWeightsOptions = {}) =>
    readWeightsWeb(source, { ...weights, ...o, onProgress: o.onProgress ?? weights.onProgress });
  return new Engine(webRuntime(read, { device, numThreads, loadOrt, log, onCompile }), engine);
}

const engines = new Map<WebDevice, Engine>();

/** The engine behind this entry's `createModel` for a device (default 'auto'), created on first use. */
export function defaultEngine(device: WebDevice = 'auto'): Engine {
  let e = engines.get(device);
  if (!e) {
    e = createEngine({ device });
    engines.set(device, e);
  }
  return e;
}

/** `createModel`'s options in the browser besides config keys and `ModelOptions`: transformers.js's names. */
export interface WebOptions {
  /** Where it runs: 'wasm', 'webgpu' or 'auto' (WebGPU when an adapter exists). Default 'auto'. */
  device?: WebDevice;
  /** Weight precision: 'fp32' (int8 / fp16 are not available yet). */
  dtype?: 'fp32';
  /** Download events of `pretrained` weights (initiate → download → progress … → done), then compile → compiled for each graph. */
  progress_callback?: (e: WeightsProgress | CompileProgress) => void;
  /** The engine to attach to (instead of the device's default one). */
  engine?: Engine;
}

/** `createModel`'s options in the browser for a spec of any family: config overrides plus `WebOptions`. */
export type WebModelOptions = CreateModelOptions & WebOptions;

/**
 * Build a model: a registry name, a weight tag or `{ family, ...config }`, plus config overrides;
 * `{ pretrained: true }` fetches the tag's hub weights (Cache API) before the first run. With a known
 * name or family, the config keys are typed and the model is its family's class.
 */
export const createModel = typedCreateModel<WebOptions>((spec, options = {}) => {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new ConfigError(`createModel options must be an object, got ${JSON.stringify(options)}`);
  const { device, dtype, progress_callback, engine, ...overrides } = options;
  if (dtype !== undefined && dtype !== 'fp32') throw new ConfigError(`dtype ${JSON.stringify(dtype)} is not available in the browser yet: use 'fp32'`);
  const model = (engine ?? defaultEngine(device ?? 'auto')).createModel(spec, { ...overrides, ...(progress_callback ? { onProgress: progress_callback } : {}) });
  if (progress_callback) model.onCompile = progress_callback;
  return model;
});

/** FCMAE pretraining around a ConvNeXt encoder, on the default engine of a device. */
export function createFcmae(encoder: ModelSpec, options: RawConfig = {}, device: WebDevice = 'auto'): Fcmae {
  return createFcmaeOn(defaultEngine(device), encoder, options);
}

/** A state dict from a URL, `hf:org/name[@revision][:file]`, a File/Blob or bytes (safetensors). */
export function readWeights(source: WeightsInput, opts: WebWeightsOptions = {}): Promise<Map<string, Tensor>> {
  return readWeightsWeb(source, opts);
}

/** Load weights into a model from any browser source (URL, hf:, File/Blob, bytes) or a state dict. */
export async function loadWeights(
  model: VisionModel,
  source: WeightsInput | Map<string, Tensor> | Record<string, Tensor>,
  opts: LoadWeightsOptions & WebWeightsOptions = {},
): Promise<LoadResult> {
  const isDict = source instanceof Map || (typeof source === 'object' && source !== null && Object.getPrototypeOf(source) === Object.prototype);
  const sd = isDict ? (source as Map<string, Tensor> | Record<string, Tensor>) : await readWeightsWeb(source as WeightsInput, opts);
  return model.loadWeights(sd, opts);
}

/**
 * Load an exported ONNX file (`visionmix export`: fp32, fp16, int8 — or any file with one float32
 * image input) from a URL, a File/Blob or bytes, to run on an engine (default: this entry's for
 * `device`): `run(x)`, `classify(x)` with the file's labels, and its recorded `transform`.
 */
export async function loadOnnxModel(source: string | Blob | Uint8Array, opts: { engine?: Engine; device?: WebDevice } = {}): Promise<OnnxModel> {
  let bytes: Uint8Array;
  if (source instanceof Uint8Array) bytes = source;
  else if (typeof source === 'string') {
    const r = await fetch(source);
    if (!r.ok) throw new ConfigError(`cannot fetch ONNX file ${source}: HTTP ${r.status}`);
    bytes = new Uint8Array(await r.arrayBuffer());
  } else bytes = new Uint8Array(await source.arrayBuffer());
  const label = typeof source === 'string' ? source : source instanceof Blob && 'name' in source ? String(source.name) : 'model.onnx';
  return OnnxModel.load(opts.engine ?? defaultEngine(opts.device), bytes, label);
}

/** Decode an image (URL, File/Blob, bytes, an element, bitmap, ImageData or VideoFrame) to CHW uint8 RGB. */
export function loadImage(source: WebImageSource, opts: WebLoadImageOptions = {}): Promise<LoadedImage> {
  return loadImageWeb(source, opts);
}

/** Top-k classes of one image (any `loadImage` source, decoded pixels, or an input Tensor [1, C, H, W]). */
export async function classify(model: VisionModel, image: WebImageSource | PlanarImage | Tensor, opts: ClassifyOptions = {}): Promise<Classification[]> {
  const decoded = image instanceof Tensor || isPlanar(image) ? image : await loadImageWeb(image);
  return classifyPixels(model, decoded, opts);
}

function isPlanar(x: unknown): x is PlanarImage {
  const p = x as PlanarImage;
  return typeof x === 'object' && x !== null && p.data instanceof Uint8Array && typeof p.channels === 'number' && typeof p.height === 'number' && typeof p.width === 'number';
}

export { Tensor };
export type { DType } from './tensor.js';
export * from './errors.js';
export { listModels } from './models/index.js';
export type { ModelInfo, ListOptions } from './models/index.js';
export { VisionModel } from './models/base.js';
export type { CompileProgress, RunOptions, RunOutput, NamedOutputs, OutputName, LossAndGrads, LossOptions, LoadResult, LoadWeightsOptions, TensorTree } from './models/base.js';
export type { PretrainedConfig } from './models/pretrained.js';
export type { ModelSpec, RawConfig, ModelName, FamilyName, FamilySpec } from './models/registry.js';
export { describeSchema } from './models/config.js';
export { familySchema, familyNames, pretrainedConfig, pretrainedTags } from './models/registry.js';
export { inputToRgb, renderSlotMaps, hardAssignment, slotPalette } from './analysis/slot_maps.js';
export type { RgbImage, SlotMapPanel } from './analysis/slot_maps.js';
export { Engine } from './tasks/engine.js';
export { OnnxModel } from './tasks/onnx_model.js';
export type { OnnxFileTransform } from './tasks/onnx_model.js';
export type { EngineOptions, CreateModel, CreateModelOptions, FamilyModelOptions, ModelOptions } from './tasks/engine.js';
export type { Fcmae, FcmaeRunOptions } from './tasks/fcmae.js';
export { createTransform } from './tasks/transform.js';
export type { ImageTransform, EvalTransformConfig } from './tasks/transform.js';
export type { Classification, ClassifyOptions } from './tasks/classify_image.js';
export { crossEntropy } from './train/losses.js';
export { setJpegWasm } from './data/web_image.js';
export type { WebImageSource, WebLoadImageOptions } from './data/web_image.js';
export type { LoadedImage } from './data/decode_image.js';
export { decodeImageBytes } from './data/decode_image.js';
export type { WeightsInput, WebWeightsOptions } from './io/web_weights.js';
export type { WeightsProgress } from './util/weights_options.js';
export { hasWebGpu } from './runtime/web.js';
export type { WebDevice, WebRuntimeOptions, OrtWebModule, CompileEvent } from './runtime/web.js';
export { Module, Parameter } from './nn/module.js';
