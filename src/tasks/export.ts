/**
 * The `visionmix export` job: resolve a model and its weights the way `predict` does (a training
 * run folder, or a registry model / weight tag with a weights file, the hub weights, or none), then
 * write it with `exportOnnx` together with what a consumer needs: the eval transform (the run's, or
 * the weights' pretrained config), the class labels and the sha256 of the weights file — or, with
 * format 'transformers', as the folder transformers.js loads (`exportTransformers`).
 */
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_SIZE, FASHION_MNIST_STD } from '../data/fashion_mnist.js';
import { ConfigError, DataError } from '../errors.js';
import { exportOnnx, type ExportOnnxOptions, type ExportResult, type ExportTransform } from '../io/onnx_export.js';
import { hubFile, parseHubRef } from '../io/hub.js';
import { exportTransformers, type ExportTransformersResult } from '../io/transformers_export.js';
import { readBundledImageNetClasses } from '../io/package_root.js';
import type { VisionModel, WeightsProgress } from '../models/base.js';
import type { ModelSpec } from '../models/registry.js';
import type { Engine } from './engine.js';
import { folderEvalTransform } from './folder_data.js';
import { hubWeightsOf, runClassifier } from './classify.js';
import { isFolder, sha256File } from '../io/files.js';
import { listImageFiles } from '../io/image_files.js';
import type { CalibrationOptions } from '../io/static_int8.js';
import { makeBatch } from '../data/transforms.js';
import { Tensor } from '../tensor.js';
import { isFashionMnistSpec, loadDataSpec } from './run_data.js';
import { openImageFolder } from './image_folder.js';
import { loadPretrainedInput } from './classify.js';
import { transformConfigFromPretrained } from './transform.js';

/** Static int8 calibration as the command line gives it: images from a data set or a folder. */
export interface CalibrationSource extends Omit<CalibrationOptions, 'images'> {
  /** `fashion-mnist[:PATH|:bundled]` (its train split), or a folder of images (or of class sub-folders). */
  data: string;
  /** How many images (default 32), spread evenly over the set. */
  count?: number;
}

export interface ExportJobOptions extends Omit<ExportOnnxOptions, 'transform' | 'labels' | 'weightsSha256' | 'weightsFile' | 'calibration'> {
  /**
   * 'onnx' (default): `path` is the .onnx file; 'transformers': `path` is the folder transformers.js
   * loads (io/transformers_export.ts).
   */
  format?: 'onnx' | 'transformers';
  /** Static int8: where the calibration images come from. */
  calibrationSource?: CalibrationSource;
  /** A finished training run folder (model, weights, classes and transform from it). */
  run?: string;
  /** A registry name, weight tag or `{ family, …config }` (with `weights`, `pretrained` or neither: random weights). */
  model?: ModelSpec;
  /** Config overrides of a registry model. */
  overrides?: Record<string, unknown>;
  /** A weights file or hf:org/repo. */
  weights?: string;
  /** The weight tag's hub weights. */
  pretrained?: boolean;
  onProgress?: (e: WeightsProgress) => void;
}

export interface ExportJobResult extends ExportResult {
  model: string;
  /** Where the weights came from ('random' when none were given). */
  weights: string;
  /** format 'transformers': the folder, its files and the names written. */
  transformers?: Pick<ExportTransformersResult, 'dir' | 'files' | 'architecture' | 'modelType' | 'imageProcessor'>;
}

/** The preparation of a Fashion-MNIST run's input: 28×28 grayscale, zero-padded (centred) to the size, normalised. */
function fashionMnistTransform(size: number): ExportTransform {
  return {
    inputSize: [1, size, size],
    mean: [FASHION_MNIST_MEAN],
    std: [FASHION_MNIST_STD],
    description: `${FASHION_MNIST_SIZE}x${FASHION_MNIST_SIZE} grayscale, centred and zero-padded to ${size}x${size}, /255, then (x - mean) / std`,
  };
}

/**
 * sha256 of the weights file: a local file, or a hub file's cached copy (loading the weights put it
 * there). https:// sources are not hashed (undefined).
 */
async function weightsHash(weights: string): Promise<string | undefined> {
  if (weights === 'random' || /^https?:/.test(weights)) return undefined;
  const hub = parseHubRef(weights);
  return sha256File(hub ? await hubFile(hub, { offline: true }) : weights);
}

export async function exportJob(engine: Engine, o: ExportJobOptions): Promise<ExportJobResult> {
  if (o.format !== undefined && o.format !== 'onnx' && o.format !== 'transformers') throw new ConfigError(`format must be 'onnx' or 'transformers', got '${String(o.format)}'`);
  if (o.run && (o.model !== undefined || o.weights || o.pretrained)) throw new ConfigError('give --run DIR alone: the model and its weights come from the run');
  if (o.weights && o.pretrained) throw new ConfigError('give --weights or --pretrained, not both');
  let model: VisionModel;
  let weights: string;
  let transform: ExportTransform | undefined;
  let labels: readonly string[] | undefined;
  let size = o.size;
  let runLoad: ((path: string) => Promise<Float32Array>) | undefined;
  if (o.run) {
    const clf = await runClassifier(engine, o.run);
    runLoad = clf.load;
    model = clf.model;
    weights = clf.weights;
    labels = clf.classes ?? undefined;
    size ??= clf.run!.train.inputSize;
    transform = clf.run!.folder ? folderEvalTransform(clf.run!.folder, size) : fashionMnistTransform(size);
    if (clf.run!.folder === undefined && labels === undefined) labels = FASHION_MNIST_CLASSES;
  } else {
    if (o.model === undefined) throw new ConfigError('give --run DIR, or --model NAME (with --weights FILE|hf:REPO, --pretrained, or neither for random weights)');
    if (o.pretrained && typeof o.model !== 'string') throw new ConfigError('--pretrained needs a registry model or weight tag, not a custom config');
    model = engine.createModel(o.model, o.overrides);
    weights = o.weights ?? (o.pretrained ? hubWeightsOf(o.model as string) : 'random');
    if (weights !== 'random') await model.loadWeights(weights, { onProgress: o.onProgress });
    // ImageNet-1k heads have the standard class order; other heads' names are not known here.
    if (model.numClasses === 1000 && weights !== 'random') labels = readBundledImageNetClasses().map((c) => c.label);
  }
  const weightsSha256 = await weightsHash(weights);
  const cal = o.calibrationSource;
  let calibration: CalibrationOptions | undefined;
  if (cal) {
    size ??= (model.pretrainedConfig?.inputSize ?? model.defaultInputSize)[1];
    const shape: [number, number, number] = [model.defaultInputSize[0], size, size];
    // Folder images go through the model's eval transform: the run's, or the weights' pretrained one.
    const load = runLoad ?? pretrainedLoad(model, size, cal.data);
    calibration = { ...cal, images: await calibrationImages(cal.data, cal.count ?? 32, shape, load) };
  }
  const name = model.name || model.family;
  if (o.format === 'transformers') {
    const { dir, files, architecture, modelType, imageProcessor, ...r } = await exportTransformers(model, { ...o, dir: o.path, size, transform, labels, weightsSha256, calibration });
    return { ...r, model: name, weights, transformers: { dir, files, architecture, modelType, imageProcessor } };
  }
  const r = await exportOnnx(model, { ...o, size, transform, labels, weightsSha256, calibration });
  return { ...r, model: name, weights };
}

/** A folder image as a model's pretrained weights expect it, at `size`. */
function pretrainedLoad(model: VisionModel, size: number, data: string): (path: string) => Promise<Float32Array> {
  const pc = model.pretrainedConfig;
  if (!pc) return () => Promise.reject(new ConfigError(`--calibration ${data}: ${model.name || model.family} has no eval transform (no pretrained config) to prepare images with; export a --run or a weight tag, or calibrate on fashion-mnist`));
  const tf = { ...transformConfigFromPretrained(pc), inputSize: [pc.inputSize[0], size, size] as const };
  return (path) => loadPretrainedInput(path, tf);
}

/** `count` indices spread evenly over `n` (all of them when count ≥ n). */
function spread(n: number, count: number): number[] {
  const k = Math.min(n, count);
  return Array.from({ length: k }, (_, i) => Math.floor((i * n) / k));
}

/**
 * `count` calibration images [N, C, H, W]: Fashion-MNIST's train split prepared as evaluation
 * prepares it (centre-padded, normalised), or image files of a folder (flat, or class sub-folders)
 * through `load` (the model's eval transform).
 */
export async function calibrationImages(data: string, count: number, shape: readonly [number, number, number], load: (path: string) => Promise<Float32Array>): Promise<Tensor> {
  if (!(Number.isInteger(count) && count >= 1)) throw new ConfigError(`--calibration-images must be a positive integer, got ${count}`);
  const [c, h] = shape;
  if (isFashionMnistSpec(data)) {
    const { train } = await loadDataSpec(data);
    return makeBatch(train, spread(train.count, count), { size: h, train: false, channels: c }).x;
  }
  if (!isFolder(data)) throw new DataError(`--calibration ${data} is neither fashion-mnist[:PATH|:bundled] nor a folder of images`);
  let paths: string[];
  try {
    paths = listImageFiles([data]);
  } catch {
    // No images at the top: class sub-folders (an ImageFolder), every image of every split.
    const d = openImageFolder(data, { split: 'none' });
    paths = [...d.train.samples, ...(d.val?.samples ?? [])].map((x) => x.path);
  }
  const per = shape.reduce((a, b) => a * b, 1);
  const chosen = spread(paths.length, count).map((i) => paths[i]!);
  const out = new Float32Array(chosen.length * per);
  for (const [i, path] of chosen.entries()) {
    const x = await load(path);
    if (x.length !== per) throw new ConfigError(`--calibration: ${path} was prepared as ${x.length} values, not [${shape.join(', ')}] (give --size the run's input size)`);
    out.set(x, i * per);
  }
  return new Tensor(out, [chosen.length, ...shape], 'float32');
}
