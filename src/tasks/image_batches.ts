/**
 * Batches of model inputs from image files: decode (io/load_image.ts) + the weights' eval transform,
 * one batch ahead of the caller, so that preparing the next batch overlaps the model's run on this
 * one (ONNX Runtime computes on its own threads while the JS thread decodes). Unreadable images are
 * reported and skipped, not fatal; decode and transform times are kept apart for benchmarks.
 */
import { loadImage, type LoadImageOptions } from '../io/load_image.js';
import { Tensor } from '../tensor.js';
import type { ImageTransform } from './transform.js';

export interface ImageBatch {
  /** The images in this batch, in input order (failed ones left out). */
  paths: string[];
  /** [paths.length, 3, H, W]. */
  x: Tensor;
  /** Images of this batch that could not be read, with the reason. */
  failed: { path: string; error: string }[];
  decodeMs: number;
  transformMs: number;
}

async function prepare(paths: readonly string[], tf: ImageTransform, o: LoadImageOptions): Promise<ImageBatch> {
  const [, h, w] = tf.config.inputSize;
  const ok: string[] = [];
  const failed: ImageBatch['failed'] = [];
  const parts: Float32Array[] = [];
  let decodeMs = 0;
  let transformMs = 0;
  for (const p of paths) {
    const t0 = performance.now();
    let img;
    try {
      img = await loadImage(p, o);
    } catch (err) {
      failed.push({ path: p, error: (err as Error).message });
      continue;
    } finally {
      decodeMs += performance.now() - t0;
    }
    const t1 = performance.now();
    parts.push((await tf(img)).data as Float32Array);
    transformMs += performance.now() - t1;
    ok.push(p);
  }
  const data = new Float32Array(ok.length * 3 * h * w);
  parts.forEach((d, i) => data.set(d, i * d.length));
  return { paths: ok, x: new Tensor(data, [ok.length, 3, h, w], 'float32'), failed, decodeMs, transformMs };
}

/** Yield batches of up to `batchSize` images, preparing the next one while the caller works on this one. */
export async function* imageBatches(paths: readonly string[], tf: ImageTransform, batchSize: number, o: LoadImageOptions = {}): AsyncGenerator<ImageBatch> {
  const starts = Array.from({ length: Math.ceil(paths.length / batchSize) }, (_, i) => i * batchSize);
  let next = starts.length ? prepare(paths.slice(0, batchSize), tf, o) : null;
  for (let i = 0; i < starts.length; i++) {
    const current = await next!;
    next = i + 1 < starts.length ? prepare(paths.slice(starts[i + 1]!, starts[i + 1]! + batchSize), tf, o) : null;
    yield current;
  }
}
