/**
 * The `visionmix export` job: resolve a model and its weights the way `predict` does (a training
 * run folder, or a registry model / weight tag with a weights file, the hub weights, or none), then
 * write it with `exportOnnx` together with what a consumer needs: the eval transform (the run's, or
 * the weights' pretrained config), the class labels and the sha256 of the weights file — or, with
 * format 'transformers', as the folder transformers.js loads (`exportTransformers`).
 */
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_SIZE, FASHION_MNIST_STD } from '../data/fashion_mnist.js';
import { ConfigError } from '../errors.js';
import { exportOnnx, type ExportOnnxOptions, type ExportResult, type ExportTransform } from '../io/onnx_export.js';
import { hubFile, parseHubRef } from '../io/hub.js';
import { exportTransformers, type ExportTransformersResult } from '../io/transformers_export.js';
import { readBundledImageNetClasses } from '../io/package_root.js';
import type { VisionModel, WeightsProgress } from '../models/base.js';
import type { ModelSpec } from '../models/registry.js';
import type { Engine } from './engine.js';
import { folderEvalTransform } from './folder_data.js';
import { hubWeightsOf, runClassifier } from './classify.js';
import { sha256File } from '../io/files.js';

export interface ExportJobOptions extends Omit<ExportOnnxOptions, 'transform' | 'labels' | 'weightsSha256' | 'weightsFile'> {
  /**
   * 'onnx' (default): `path` is the .onnx file; 'transformers': `path` is the folder transformers.js
   * loads (io/transformers_export.ts).
   */
  format?: 'onnx' | 'transformers';
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
  if (o.run) {
    const clf = await runClassifier(engine, o.run);
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
  const name = model.name || model.family;
  if (o.format === 'transformers') {
    const { dir, files, architecture, modelType, imageProcessor, ...r } = await exportTransformers(model, { ...o, dir: o.path, size, transform, labels, weightsSha256 });
    return { ...r, model: name, weights, transformers: { dir, files, architecture, modelType, imageProcessor } };
  }
  const r = await exportOnnx(model, { ...o, size, transform, labels, weightsSha256 });
  return { ...r, model: name, weights };
}
