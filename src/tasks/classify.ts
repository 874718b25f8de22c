/**
 * Classify image files: with a visionmix training run (its model, weights, classes and input
 * transform) or with a registry model + weights (its pretrained config: resize, centre crop,
 * ImageNet normalisation).
 */
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_SIZE, FASHION_MNIST_STD } from '../data/fashion_mnist.js';
import { makeBatch } from '../data/transforms.js';
import { ConfigError, DataError, NumericalError } from '../errors.js';
import { pathExists } from '../io/files.js';
import { decodeImage } from '../io/image.js';
import { loadImage } from '../io/load_image.js';
import { readBundledImageNetClasses } from '../io/package_root.js';
import { runFolderFiles } from '../io/run_folder.js';
import type { CheckpointInfo, VisionModel, WeightsProgress } from '../models/base.js';
import { pretrainedWeights } from '../models/pretrained.js';
import { getModelEntry, pretrainedConfig } from '../models/registry.js';
import { Tensor } from '../tensor.js';
import { topK } from './classify_image.js';
import type { Engine } from './engine.js';
import { createTransform, transformConfigFromPretrained, type EvalTransformConfig } from './transform.js';
import { folderEvalTransform } from './folder_data.js';
import { readRunFolderConfig, runModelOverrides, runTask, type RunConfig } from './train.js';

export interface Classifier {
  model: VisionModel;
  classes: readonly string[] | null;
  /** Image file → [C, H, W] float32 as the model expects. */
  load(path: string): Promise<Float32Array>;
  inputShape: [number, number, number];
  /** The training run's configuration, for classifiers made from a run folder. */
  run?: RunConfig;
  /** Where the weights came from (named when the model's outputs are not finite). */
  weights: string;
}

export interface Prediction {
  path: string;
  top: { index: number; label: string; prob: number }[];
}

/** An image that could not be classified (unreadable, not an image); the others still are. */
export interface PredictionFailure {
  path: string;
  error: string;
}

/** A classifier from a training run folder (run.json + model.safetensors). */
export async function runClassifier(engine: Engine, dir: string): Promise<Classifier> {
  const { weights } = runFolderFiles(dir);
  // A corrupt or empty run.json is a DataError naming it (readRunFolderConfig), not a SyntaxError.
  const rc = pathExists(weights) ? readRunFolderConfig(dir) : null;
  if (rc === null) throw new ConfigError(`--run ${dir} is not a finished training run (needs run.json and model.safetensors)`);
  if (runTask(rc) === 'fcmae')
    throw new ConfigError(`--run ${dir} is an FCMAE pretraining run, not a classifier: fine-tune its encoder (${dir}/encoder.safetensors) first`);
  const size = rc.train.inputSize;
  if (rc.folder) {
    // An image-folder run: its classes, RGB input, and the eval transform its val split used.
    const folder = rc.folder;
    const model = engine.createModel(rc.model, runModelOverrides(rc, folder.classes.length, 3));
    await model.loadWeights(weights);
    model.eval();
    const tf = folderEvalTransform(folder, size);
    return { model, classes: folder.classes, inputShape: [3, size, size], run: rc, weights, load: (path) => loadPretrainedInput(path, tf) };
  }
  const classes = FASHION_MNIST_CLASSES;
  const model = engine.createModel(rc.model, runModelOverrides(rc, classes.length, 1));
  await model.loadWeights(weights);
  model.eval();
  const ds = { height: FASHION_MNIST_SIZE, width: FASHION_MNIST_SIZE, channels: 1, classes, mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] };
  return {
    model,
    classes,
    inputShape: [1, size, size],
    run: rc,
    weights,
    async load(path) {
      // Same transform as evaluation: 28×28 grayscale, centre-padded to the input size.
      const img = await decodeImage(path, 1, { resizeTo: FASHION_MNIST_SIZE });
      const b = makeBatch({ ...ds, images: img.data, labels: new Uint8Array(1), count: 1 }, [0], { size, train: false });
      return b.x.data as Float32Array;
    },
  };
}

/** Where a model name's default weights or a weight tag's are published (`--pretrained`): the hub or the authors' release URL. */
export function hubWeightsOf(model: string): string {
  // A tag's config, or an architecture's default tag's (the registry resolves both).
  const tag = pretrainedConfig(model);
  if (!tag) getModelEntry(model); // an unknown name gets the registry's 'unknown model' error
  const from = pretrainedWeights(tag);
  if (!from) throw new ConfigError(`--pretrained: '${model}' has no published weights; give --weights FILE`);
  return from.source;
}

/** A classifier from a registry model name (or weight tag) and a weights source (file or hf:org/repo). */
export async function modelClassifier(
  engine: Engine,
  name: string,
  weights: string,
  opts: { onProgress?: (e: WeightsProgress) => void; weightsKey?: string; onCheckpoint?: (info: CheckpointInfo) => void } = {},
): Promise<Classifier> {
  const model = engine.createModel(name);
  await model.loadWeights(weights, opts);
  model.eval();
  const pc = model.pretrainedConfig;
  if (!pc) throw new ConfigError(`model ${name} has no pretrained config (input size, crop, interpolation, normalisation)`);
  // ImageNet-1k classifiers print the class names (the standard index order of every such head).
  const classes = model.numClasses === 1000 ? readBundledImageNetClasses().map((c) => c.label) : null;
  const tf = transformConfigFromPretrained(pc);
  return { model, classes, inputShape: [...pc.inputSize], weights, load: (path) => loadPretrainedInput(path, tf) };
}

/**
 * An image file as pretrained weights expect it (timm's eval transform, PIL-exact: resize the shorter
 * side to size / cropPct with the config's interpolation, centre-crop, normalise) → [3, H, W].
 */
export async function loadPretrainedInput(path: string, cfg: EvalTransformConfig): Promise<Float32Array> {
  const tf = createTransform(cfg);
  return (await tf(await loadImage(path))).data as Float32Array;
}

/** Default images per forward pass of `predict`: enough to use the cores, small enough for any machine. */
export const DEFAULT_PREDICT_BATCH = 16;

/**
 * Classify `paths` in batches of `batch` images, yielding each batch's results as soon as it is
 * done, in input order, so memory stays bounded however many images there are. An image that
 * cannot be read yields a PredictionFailure and the others go on. Non-finite model outputs throw a
 * NumericalError naming the weights: they are not a result.
 */
export async function* classifyBatches(
  clf: Classifier,
  paths: readonly string[],
  options: { topk?: number; batch?: number } = {},
): AsyncGenerator<Prediction | PredictionFailure> {
  const topk = options.topk ?? 3;
  const batch = options.batch ?? DEFAULT_PREDICT_BATCH;
  if (!(Number.isInteger(batch) && batch >= 1)) throw new ConfigError(`--batch must be a positive integer (got ${batch})`);
  const [c, h, w] = clf.inputShape;
  const per = c * h * w;
  for (let start = 0; start < paths.length; start += batch) {
    const chunk = paths.slice(start, start + batch);
    const results: (Prediction | PredictionFailure | null)[] = [];
    const loaded: { path: string; slot: number; pixels: Float32Array }[] = [];
    for (const path of chunk) {
      try {
        loaded.push({ path, slot: results.length, pixels: await clf.load(path) });
        results.push(null);
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        results.push({ path, error: err.message });
      }
    }
    if (loaded.length > 0) {
      const x = new Float32Array(loaded.length * per);
      loaded.forEach((l, i) => x.set(l.pixels, i * per));
      const { logits } = await clf.model.run(new Tensor(x, [loaded.length, c, h, w], 'float32'));
      const k = logits.shape[1]!;
      const z = logits.data as Float32Array;
      loaded.forEach((l, i) => {
        const row = Array.from(z.subarray(i * k, (i + 1) * k));
        if (!row.every(Number.isFinite))
          throw new NumericalError(
            `the model produced non-finite outputs for ${l.path}: the weights ${clf.weights} are corrupt or diverged (no prediction is made from them)`,
          );
        // The same softmax and top k as the library's classify().
        const top = topK(row, topk, clf.classes).map(({ index, label, score }) => ({ index, label, prob: score }));
        results[l.slot] = { path: l.path, top };
      });
    }
    for (const r of results) yield r!;
  }
}

/** Classify every image; the first unreadable one throws its DataError. */
export async function classify(clf: Classifier, paths: readonly string[], topk = 3): Promise<Prediction[]> {
  const out: Prediction[] = [];
  for await (const r of classifyBatches(clf, paths, { topk })) {
    if ('error' in r) throw new DataError(r.error);
    out.push(r);
  }
  return out;
}
