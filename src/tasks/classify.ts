/**
 * Classify image files: with a visionmix training run (its model, weights, classes and input
 * transform) or with a registry model + weights (its pretrained config: resize, centre crop,
 * ImageNet normalisation).
 */
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_SIZE, FASHION_MNIST_STD } from '../data/fashion_mnist.js';
import { makeBatch } from '../data/transforms.js';
import { ConfigError } from '../errors.js';
import { pathExists, readJsonFile } from '../io/files.js';
import { decodeImage } from '../io/image.js';
import { runFolderFiles } from '../io/run_folder.js';
import type { VisionModel } from '../models/base.js';
import type { PretrainedConfig } from '../models/pretrained.js';
import { Tensor } from '../tensor.js';
import type { Engine } from './engine.js';
import { runModelOverrides, type RunConfig } from './train.js';

export interface Classifier {
  model: VisionModel;
  classes: readonly string[] | null;
  /** Image file → [C, H, W] float32 as the model expects. */
  load(path: string): Promise<Float32Array>;
  inputShape: [number, number, number];
  /** The training run's configuration, for classifiers made from a run folder. */
  run?: RunConfig;
}

export interface Prediction {
  path: string;
  top: { index: number; label: string; prob: number }[];
}

/** A classifier from a training run folder (run.json + model.safetensors). */
export async function runClassifier(engine: Engine, dir: string): Promise<Classifier> {
  const { config: runFile, weights } = runFolderFiles(dir);
  if (!pathExists(runFile) || !pathExists(weights))
    throw new ConfigError(`--run ${dir} is not a finished training run (needs run.json and model.safetensors)`);
  const rc = readJsonFile<RunConfig>(runFile);
  const classes = FASHION_MNIST_CLASSES;
  const model = engine.createModel(rc.model, runModelOverrides(rc, classes.length, 1));
  await model.loadWeights(weights);
  model.eval();
  const size = rc.train.inputSize;
  const ds = { height: FASHION_MNIST_SIZE, width: FASHION_MNIST_SIZE, channels: 1, classes, mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] };
  return {
    model,
    classes,
    inputShape: [1, size, size],
    run: rc,
    async load(path) {
      // Same transform as evaluation: 28×28 grayscale, centre-padded to the input size.
      const img = await decodeImage(path, 1, { resizeTo: FASHION_MNIST_SIZE });
      const b = makeBatch({ ...ds, images: img.data, labels: new Uint8Array(1), count: 1 }, [0], { size, train: false });
      return b.x.data as Float32Array;
    },
  };
}

/** A classifier from a registry model name and a weights source. */
export async function modelClassifier(engine: Engine, name: string, weights: string): Promise<Classifier> {
  const model = engine.createModel(name);
  await model.loadWeights(weights);
  model.eval();
  const pc = model.pretrainedConfig;
  if (!pc) throw new ConfigError(`model ${name} has no pretrained config (input size, normalisation)`);
  return { model, classes: null, inputShape: [...pc.inputSize], load: (path) => loadPretrainedInput(path, pc) };
}

/**
 * An RGB image file as a pretrained config prepares it: resize the shorter side to size / cropPct,
 * centre-crop size×size, normalise with its mean and std → [3, size, size].
 */
export async function loadPretrainedInput(path: string, pc: Pick<PretrainedConfig, 'inputSize' | 'cropPct' | 'interpolation' | 'mean' | 'std'>): Promise<Float32Array> {
  const [, size] = pc.inputSize;
  const img = await decodeImage(path, 3, { resizeShorter: Math.floor(size / pc.cropPct), centerCrop: size, interpolation: pc.interpolation });
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < size * size; i++) out[c * size * size + i] = (img.data[c * size * size + i]! / 255 - pc.mean[c]!) / pc.std[c]!;
  return out;
}

export async function classify(clf: Classifier, paths: readonly string[], topk = 3): Promise<Prediction[]> {
  const [c, h, w] = clf.inputShape;
  const x = new Float32Array(paths.length * c * h * w);
  for (const [i, p] of paths.entries()) x.set(await clf.load(p), i * c * h * w);
  const { logits } = await clf.model.run(new Tensor(x, [paths.length, c, h, w], 'float32'));
  const k = logits.shape[1]!;
  const z = logits.data as Float32Array;
  return paths.map((path, i) => {
    const row = Array.from(z.subarray(i * k, (i + 1) * k));
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    const top = e
      .map((v, index) => ({ index, label: clf.classes?.[index] ?? `class ${index}`, prob: v / sum }))
      .sort((a, b) => b.prob - a.prob)
      .slice(0, topk);
    return { path, top };
  });
}
