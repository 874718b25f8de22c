/**
 * The worker side of the image loader (run in a worker thread by io/worker_pool.ts): decode a batch
 * of image files and transform each — the timm train transform seeded per sample, or the eval
 * transform — straight into one float32 batch buffer, which goes back to the loader moved, not
 * copied. An unreadable image is reported (position, path, reason), never thrown, so that the loader
 * decides between stopping and skipping; anything else that throws fails the task.
 */
import { checkTransformConfig, evalTransform, type EvalTransformConfig } from '../data/image_transform.js';
import { createTrainTransform, type TrainTransform, type TrainTransformConfig } from '../data/train_transform.js';
import { DataError } from '../errors.js';
import { loadImage } from '../io/load_image.js';
import { transferResult } from '../io/worker_pool.js';
import { Rng } from '../util/rng.js';

export type LoaderTransform = { kind: 'train'; config: TrainTransformConfig } | { kind: 'eval'; config: EvalTransformConfig };

export interface LoadBatchTask {
  paths: string[];
  /** Per sample: the seed of its augmentation (train). */
  seeds: number[];
  transform: LoaderTransform;
  decoder?: 'sharp' | 'js';
}

export interface LoadBatchResult {
  /** The images that loaded, back to back ([ok.length, 3, H, W] float32), in task order. */
  x: Float32Array;
  /** Positions (in the task) of the images in `x`. */
  ok: number[];
  failed: { position: number; path: string; error: string }[];
  decodeMs: number;
  transformMs: number;
}

/** Transforms built once per worker, by config. */
const cache = new Map<string, (img: Parameters<TrainTransform['apply']>[0], seed: number, out: Float32Array, offset: number) => void>();

function transformFor(t: LoaderTransform) {
  const key = JSON.stringify(t);
  let f = cache.get(key);
  if (!f) {
    if (t.kind === 'train') {
      const tf = createTrainTransform(t.config);
      f = (img, seed, out, offset) => void tf.apply(img, new Rng(seed), out, offset);
    } else {
      const config = t.config;
      checkTransformConfig(config);
      f = (img, _seed, out, offset) => out.set(evalTransform(img, config), offset);
    }
    cache.set(key, f);
  }
  return f;
}

export default async function loadBatch(task: LoadBatchTask): Promise<LoadBatchResult> {
  const [, h, w] = task.transform.config.inputSize;
  const per = 3 * h * w;
  const apply = transformFor(task.transform);
  const x = new Float32Array(task.paths.length * per);
  const ok: number[] = [];
  const failed: LoadBatchResult['failed'] = [];
  let decodeMs = 0;
  let transformMs = 0;
  for (let i = 0; i < task.paths.length; i++) {
    const path = task.paths[i]!;
    const t0 = performance.now();
    let img;
    try {
      img = await loadImage(path, { decoder: task.decoder });
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      failed.push({ position: i, path, error: err.message });
      continue;
    } finally {
      decodeMs += performance.now() - t0;
    }
    const t1 = performance.now();
    apply(img, task.seeds[i] ?? 0, x, ok.length * per);
    transformMs += performance.now() - t1;
    ok.push(i);
  }
  return transferResult({ x, ok, failed, decodeMs, transformMs }, [x.buffer]);
}
