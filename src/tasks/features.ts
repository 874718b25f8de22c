/**
 * `visionmix features`: embeddings of a set of images — the pooled features the classifier reads
 * (timm's pre-logits: for ConvNeXt the pooled, LayerNorm'ed vector) or chosen stage maps — with the
 * weights' own preprocessing, in batches, with progress and separate decode / transform / model times.
 *
 * Images are decoded and transformed by the worker-thread loader (tasks/image_loader.ts, eval
 * transform, input order, unreadable images skipped and reported) while the model runs on ONNX
 * Runtime's threads: on the JS thread alone, preparing images took about twice as long as the model
 * (ConvNeXt-atto, batch 32). The loader works in chunks smaller than the model's batch, so the first
 * batch is ready after a fraction of a batch's preparation and the workers keep a batch ahead.
 */
import { ConfigError } from '../errors.js';
import type { VisionModel } from '../models/base.js';
import { Tensor } from '../tensor.js';
import type { Engine } from './engine.js';
import { ImageLoader } from './image_loader.js';
import type { EvalTransformConfig } from '../data/image_transform.js';
import { transformConfigOf } from './transform.js';
import { familyNames, type RawConfig } from '../models/registry.js';
import { runClassifier, type Classifier } from './classify.js';
import { folderEvalTransform, IMAGENET_MEAN, IMAGENET_STD } from './folder_data.js';

export interface FeaturesOptions {
  /**
   * A registry name or weight tag (its pretrained config sets the preprocessing), or a family name
   * (`convnextv2`) with `config`: then ImageNet's normalisation, a 0.875 centre crop and `size`.
   */
  model?: string;
  /** With a family: its config keys; with a registry name: overrides. */
  config?: RawConfig;
  /** Input side for a family's custom config (default: the model's default input size). */
  size?: number;
  /** A finished training run folder: its network, weights, channels and eval transform (instead of `model`). */
  run?: string;
  /** Weights: a file or hf:org/repo; or `pretrained: true` for the tag's hub weights. */
  weights?: string;
  /** Load only the backbone of `weights` (a run folder's weights: its classifier is for its own classes). */
  backboneOnly?: boolean;
  pretrained?: boolean;
  images: readonly string[];
  /** Stage maps to keep (indices), or undefined for the pooled embedding. */
  stages?: readonly number[];
  batch?: number;
  /** Decode + transform worker threads (default 2). */
  workers?: number;
  decoder?: 'sharp' | 'js';
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface FeaturesResult {
  files: string[];
  /** 'pooled' [N, C] or 'stage.i' [N, C, H, W]. */
  tensors: Map<string, Tensor>;
  failed: { path: string; error: string }[];
  /**
   * decodeMs / transformMs: worker time (summed over workers); modelMs: the model's runs; waitMs: time
   * the model spent waiting for images (the first batch's preparation included); wallMs: the whole job.
   */
  timing: { decodeMs: number; transformMs: number; modelMs: number; waitMs: number; wallMs: number };
}

/**
 * The loader `extractFeatures` reads images with: the eval transform of `config`, input order, one
 * pass, unreadable images skipped, in chunks (images per worker task) small enough that the workers
 * share a model batch and the first one comes soon, two model batches in flight.
 */
export function featuresLoader(images: readonly string[], config: EvalTransformConfig, o: { batch: number; workers: number; decoder?: 'sharp' | 'js' }): ImageLoader {
  const chunk = Math.min(Math.max(1, Math.min(8, Math.ceil(o.batch / (2 * o.workers)))), images.length);
  return new ImageLoader({
    samples: images.map((path) => ({ path, label: 0 })),
    batchSize: chunk,
    seed: 0,
    transform: { kind: 'eval', config },
    workers: o.workers,
    prefetch: Math.max(2, Math.ceil((2 * o.batch) / chunk)),
    onError: 'skip',
    decoder: o.decoder,
    epochs: 1,
  });
}

/** Prepared images for the model, a chunk at a time, with what preparing them cost. */
interface Chunk {
  /** [n, C, H, W] float32, n = paths.length. */
  x: Float32Array;
  paths: string[];
  skipped: { path: string; error: string }[];
  decodeMs: number;
  transformMs: number;
  waitMs: number;
}

/** The model, its input shape and where its images come from. */
interface FeatureSource {
  model: VisionModel;
  inputShape: readonly [number, number, number];
  chunks(): AsyncIterable<Chunk>;
  close(): Promise<void>;
}

/** Images through the worker-thread loader with an RGB eval transform. */
function loaderSource(model: VisionModel, images: readonly string[], config: EvalTransformConfig, loader: ImageLoader): FeatureSource {
  return {
    model,
    inputShape: config.inputSize,
    async *chunks() {
      for await (const c of loader.epochBatches())
        yield { x: c.x.data as Float32Array, paths: [...c.indices].map((i) => images[i]!), skipped: c.skipped, decodeMs: c.decodeMs, transformMs: c.transformMs, waitMs: c.waitMs };
    },
    close: () => loader.close(),
  };
}

/** A training run's model with its own input preparation (Fashion-MNIST runs: grayscale, padded), one image at a time. */
function runSource(clf: Classifier, images: readonly string[]): FeatureSource {
  return {
    model: clf.model,
    inputShape: clf.inputShape,
    async *chunks() {
      for (const path of images) {
        const t0 = performance.now();
        try {
          const x = await clf.load(path);
          yield { x, paths: [path], skipped: [], decodeMs: performance.now() - t0, transformMs: 0, waitMs: 0 };
        } catch (err) {
          yield { x: new Float32Array(0), paths: [], skipped: [{ path, error: (err as Error).message }], decodeMs: 0, transformMs: 0, waitMs: 0 };
        }
      }
    },
    close: async () => {},
  };
}

/** ImageNet eval preprocessing for a custom config (no pretrained config to take it from). */
function customTransform(model: VisionModel, size: number | undefined): EvalTransformConfig {
  const [c, h] = model.defaultInputSize;
  if (c !== 3) throw new ConfigError(`features: a custom config with in_chans ${c} has no image preprocessing; train it and use --run DIR`);
  const side = size ?? h;
  return { inputSize: [3, side, side], cropPct: 0.875, interpolation: 'bicubic', mean: IMAGENET_MEAN, std: IMAGENET_STD };
}

async function openSource(engine: Engine, o: FeaturesOptions, batch: number, workers: number): Promise<FeatureSource> {
  if (o.run) {
    if (o.model || o.weights || o.pretrained || o.config) throw new ConfigError('--run takes the model and weights from the run folder: give --run DIR alone, or --model with --weights');
    const clf = await runClassifier(engine, o.run);
    // An image-folder run reads RGB files with its eval transform: the worker loader can do that.
    if (clf.run?.folder) {
      const config = folderEvalTransform(clf.run.folder, clf.run.train.inputSize);
      const loader = featuresLoader(o.images, config, { batch, workers, decoder: o.decoder });
      loader.start();
      return loaderSource(clf.model, o.images, config, loader);
    }
    return runSource(clf, o.images);
  }
  if (!o.model) throw new ConfigError('give --model NAME (with --weights or --pretrained), or --run DIR');
  const family = familyNames().includes(o.model);
  if (family && !o.weights) throw new ConfigError(`--model ${o.model} is a family: a custom config needs its weights (--weights FILE), or use --run DIR`);
  if (family && o.pretrained) throw new ConfigError(`--pretrained needs a registry name or weight tag, not the family ${o.model}`);
  const spec = family ? { ...(o.config ?? {}), family: o.model } : o.model;
  let model: VisionModel | undefined;
  let config: EvalTransformConfig;
  if (family) {
    model = engine.createModel(spec);
    config = customTransform(model, o.size);
  } else config = transformConfigOf(o.model);
  const loader = featuresLoader(o.images, config, { batch, workers, decoder: o.decoder });
  // The workers start up and prepare the first batches while the model loads and compiles.
  loader.start();
  try {
    model ??= engine.createModel(spec, { ...(o.config ?? {}), ...(o.pretrained ? { pretrained: true } : {}) });
    if (o.weights) await model.loadWeights(o.weights, o.backboneOnly ? { backboneOnly: true } : {});
    await model.ready();
  } catch (err) {
    await loader.close();
    throw err;
  }
  return loaderSource(model, o.images, config, loader);
}

export async function extractFeatures(engine: Engine, o: FeaturesOptions): Promise<FeaturesResult> {
  const batch = o.batch ?? 32;
  const workers = o.workers ?? 2;
  if (!(Number.isInteger(batch) && batch >= 1)) throw new ConfigError(`--batch must be an integer ≥ 1, got ${batch}`);
  if (!(Number.isInteger(workers) && workers >= 1)) throw new ConfigError(`--workers must be an integer ≥ 1, got ${workers}`);
  const files: string[] = [];
  const failed: FeaturesResult['failed'] = [];
  const parts = new Map<string, Float32Array[]>();
  const shapes = new Map<string, number[]>();
  const timing = { decodeMs: 0, transformMs: 0, modelMs: 0, waitMs: 0, wallMs: 0 };
  if (o.images.length === 0) return { files, tensors: new Map(), failed, timing };
  const source = await openSource(engine, o, batch, workers);
  const model = source.model;

  const runModel = async (x: Tensor, paths: string[]) => {
    const t1 = performance.now();
    const outs: [string, Tensor][] = o.stages
      ? (await model.run(x, { features: o.stages, logits: false, threads: o.threads })).features.map((f, i) => [`stage.${o.stages![i]}`, f])
      : [['pooled', (await model.run(x, { threads: o.threads })).logits]];
    timing.modelMs += performance.now() - t1;
    for (const [name, t] of outs) {
      if (!parts.has(name)) parts.set(name, []);
      parts.get(name)!.push(t.data as Float32Array);
      shapes.set(name, t.shape.slice(1));
    }
    files.push(...paths);
  };

  model.eval();
  // The classifier removed: the model's output is then what the classifier would read.
  if (!o.stages) model.resetClassifier(0);
  const t0 = performance.now();
  const [c, h, w] = source.inputShape;
  const per = c * h * w;
  // Chunks are gathered into model batches of exactly `batch` images (the last one aside), so that
  // skipped images do not make the model compile for other batch sizes.
  let pending: { x: Float32Array; paths: string[] } = { x: new Float32Array(batch * per), paths: [] };
  let done = 0;
  try {
    for await (const chunk of source.chunks()) {
      timing.decodeMs += chunk.decodeMs;
      timing.transformMs += chunk.transformMs;
      timing.waitMs += chunk.waitMs;
      failed.push(...chunk.skipped);
      done += chunk.paths.length + chunk.skipped.length;
      for (let i = 0; i < chunk.paths.length; i++) {
        pending.x.set(chunk.x.subarray(i * per, (i + 1) * per), pending.paths.length * per);
        pending.paths.push(chunk.paths[i]!);
        if (pending.paths.length === batch) {
          await runModel(new Tensor(pending.x, [batch, c, h, w], 'float32'), pending.paths);
          pending = { x: new Float32Array(batch * per), paths: [] };
        }
      }
      o.onProgress?.(done, o.images.length);
    }
  } finally {
    await source.close();
  }
  const rest = pending.paths.length;
  if (rest) await runModel(new Tensor(pending.x.subarray(0, rest * per), [rest, c, h, w], 'float32'), pending.paths);
  timing.wallMs = performance.now() - t0;
  const tensors = new Map<string, Tensor>();
  for (const [name, list] of parts) {
    const data = new Float32Array(list.reduce((a, d) => a + d.length, 0));
    let off = 0;
    for (const d of list) {
      data.set(d, off);
      off += d.length;
    }
    tensors.set(name, new Tensor(data, [files.length, ...shapes.get(name)!], 'float32'));
  }
  return { files, tensors, failed, timing };
}
