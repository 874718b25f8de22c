/**
 * `visionmix features`: embeddings of a set of images — the pooled features the classifier reads
 * (timm's pre-logits: for ConvNeXt the pooled, LayerNorm'ed vector) or chosen stage maps — with the
 * weights' own preprocessing, in batches, with progress and separate decode / transform / model times.
 */
import { ConfigError } from '../errors.js';
import type { VisionModel } from '../models/base.js';
import { Tensor } from '../tensor.js';
import type { Engine } from './engine.js';
import { imageBatches } from './image_batches.js';
import { createTransform, transformConfigOf, type ImageTransform } from './transform.js';

export interface FeaturesOptions {
  /** A registry name or weight tag (its pretrained config sets the preprocessing). */
  model: string;
  /** Weights: a file or hf:org/repo; or `pretrained: true` for the tag's hub weights. */
  weights?: string;
  pretrained?: boolean;
  images: readonly string[];
  /** Stage maps to keep (indices), or undefined for the pooled embedding. */
  stages?: readonly number[];
  batch?: number;
  decoder?: 'sharp' | 'js';
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface FeaturesResult {
  files: string[];
  /** 'pooled' [N, C] or 'stage.i' [N, C, H, W]. */
  tensors: Map<string, Tensor>;
  failed: { path: string; error: string }[];
  timing: { decodeMs: number; transformMs: number; modelMs: number; wallMs: number };
}

/** The pooled embedding: the input of the classifier (logits of the model with its classifier removed). */
async function pooled(model: VisionModel, x: Tensor, threads?: number): Promise<Tensor> {
  return (await model.run(x, { threads })).logits;
}

export async function extractFeatures(engine: Engine, o: FeaturesOptions): Promise<FeaturesResult> {
  const batch = o.batch ?? 32;
  if (!(Number.isInteger(batch) && batch >= 1)) throw new ConfigError(`--batch must be an integer ≥ 1, got ${batch}`);
  const model = engine.createModel(o.model, o.pretrained ? { pretrained: true } : {});
  if (o.weights) await model.loadWeights(o.weights);
  await model.ready();
  model.eval();
  // The classifier removed: the model's output is then what the classifier would read.
  if (!o.stages) model.resetClassifier(0);
  const tf: ImageTransform = createTransform(transformConfigOf(o.model));
  const files: string[] = [];
  const failed: FeaturesResult['failed'] = [];
  const parts = new Map<string, Float32Array[]>();
  const shapes = new Map<string, number[]>();
  const timing = { decodeMs: 0, transformMs: 0, modelMs: 0, wallMs: 0 };
  const t0 = performance.now();
  let done = 0;
  for await (const b of imageBatches(o.images, tf, batch, { decoder: o.decoder })) {
    failed.push(...b.failed);
    timing.decodeMs += b.decodeMs;
    timing.transformMs += b.transformMs;
    done += b.paths.length + b.failed.length;
    if (b.paths.length) {
      const t1 = performance.now();
      const outs: [string, Tensor][] = o.stages
        ? (await model.run(b.x, { features: o.stages, logits: false, threads: o.threads })).features.map((f, i) => [`stage.${o.stages![i]}`, f])
        : [['pooled', await pooled(model, b.x, o.threads)]];
      timing.modelMs += performance.now() - t1;
      for (const [name, t] of outs) {
        if (!parts.has(name)) parts.set(name, []);
        parts.get(name)!.push(t.data as Float32Array);
        shapes.set(name, t.shape.slice(1));
      }
      files.push(...b.paths);
    }
    o.onProgress?.(done, o.images.length);
  }
  timing.wallMs = performance.now() - t0;
  const tensors = new Map<string, Tensor>();
  for (const [name, list] of parts) {
    const per = list.reduce((a, d) => a + d.length, 0);
    const data = new Float32Array(per);
    let off = 0;
    for (const d of list) {
      data.set(d, off);
      off += d.length;
    }
    tensors.set(name, new Tensor(data, [files.length, ...shapes.get(name)!], 'float32'));
  }
  return { files, tensors, failed, timing };
}
