/**
 * A data loader that keeps up with the train step: image files → decode + augment in worker threads
 * (io/worker_pool.ts, piscina) → float32 NCHW batches, optionally Mixup/CutMix'd, handed out in a
 * fixed order while the next `prefetch` batches are being prepared.
 *
 * Reproducible and resumable by construction:
 *  - the order of samples is the `EpochSampler`'s, a function of (seed, epoch) only;
 *  - each sample's augmentation is seeded from (seed, epoch, sample index) (`streamSeed`), so its
 *    pixels do not depend on which worker computes it or when;
 *  - each batch's Mixup/CutMix draws are seeded from (seed, epoch, batch index);
 * so the loader's whole state is the sampler position of the next batch to hand out
 * (`state()` / `restore()`), and a run restored from it sees the same batches as one that never stopped.
 *
 * Each batch is one worker task: the worker writes every image of the batch into one buffer and moves
 * it back (no copy); the batch tensor is a view of that buffer.
 * Failures: an unreadable image stops the loader with a DataError naming the file (default), or with
 * `onError: 'skip'` is left out of its batch (the batch gets smaller) and counted; a worker that throws
 * or dies fails `next()` with a DataError naming the batch, and the pool carries on with a new worker.
 */
import { SAMPLE_STREAM, BATCH_STREAM, EpochSampler, streamSeed, type SamplerState } from '../data/sampler.js';
import type { ImageSample } from '../data/image_folder.js';
import { ConfigError, DataError } from '../errors.js';
import { WorkerPool } from '../io/worker_pool.js';
import { Tensor } from '../tensor.js';
import type { Mixup } from '../train/mixup.js';
import { Rng } from '../util/rng.js';
import type { LoadBatchResult, LoadBatchTask, LoaderTransform } from './loader_worker.js';

export type { LoaderTransform };

export interface ImageLoaderOptions {
  samples: readonly ImageSample[];
  batchSize: number;
  /** Run seed: order, augmentation and Mixup draws all derive from it. */
  seed: number;
  /** The timm train transform (augmentation) or the eval transform. */
  transform: LoaderTransform;
  /** Shuffle each epoch (default: true for 'train', false for 'eval'). */
  shuffle?: boolean;
  /** Drop each epoch's last partial batch (default: true for 'train', false for 'eval'). */
  dropLast?: boolean;
  /** Worker threads (default 2). */
  workers?: number;
  /** Batches prepared ahead of the consumer (default 2 × workers). */
  prefetch?: number;
  /** An unreadable image: 'stop' (default, DataError naming it) or 'skip' (left out and counted). */
  onError?: 'stop' | 'skip';
  /** Mixup/CutMix applied to each batch (train only; needs even batches, so dropLast). */
  mixup?: Mixup;
  decoder?: 'sharp' | 'js';
  /** Epochs to load (default: endless). The workers prepare nothing past them; `next()` after the last fails. */
  epochs?: number;
}

export interface LoaderBatch {
  /** [B, 3, H, W] float32, normalised (and mixed, with Mixup). */
  x: Tensor<'float32'>;
  labels: Int32Array;
  /** Soft targets [B, K] when Mixup is on. */
  targets?: Tensor<'float32'>;
  /** Data-set indices of the samples in `x`. */
  indices: Int32Array;
  epoch: number;
  /** Position of the batch in its epoch (0-based). */
  batch: number;
  /** Images of this batch that could not be read (onError 'skip'). */
  skipped: { path: string; error: string }[];
  /** How long `next()` waited for this batch (the consumer's stall). */
  waitMs: number;
  /** Worker time spent decoding / transforming this batch. */
  decodeMs: number;
  transformMs: number;
}

interface Pending {
  epoch: number;
  batch: number;
  indices: Int32Array;
  /** Sampler state once this batch is handed out. */
  after: SamplerState;
  result: Promise<{ ok: true; value: LoadBatchResult } | { ok: false; error: Error }>;
}

export class ImageLoader {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  readonly prefetch: number;
  private readonly sampler: EpochSampler;
  private readonly pool: WorkerPool;
  private readonly queue: Pending[] = [];
  private current: SamplerState;
  private closed = false;
  /** Images skipped so far (onError 'skip'). */
  skippedCount = 0;

  constructor(private readonly o: ImageLoaderOptions) {
    const fn = 'image loader';
    if (!Array.isArray(o.samples) || o.samples.length === 0) throw new ConfigError(`${fn}: no samples to load`);
    const train = o.transform?.kind === 'train';
    if (!train && o.transform?.kind !== 'eval') throw new ConfigError(`${fn}: transform must be { kind: 'train' | 'eval', config }`);
    const onError = o.onError ?? 'stop';
    if (onError !== 'stop' && onError !== 'skip') throw new ConfigError(`${fn}: option \`onError\` must be 'stop' or 'skip', got ${JSON.stringify(onError)}`);
    if (o.mixup && !train) throw new ConfigError(`${fn}: Mixup/CutMix is for training batches (transform kind 'train')`);
    const maxLabel = o.samples.reduce((m, s) => Math.max(m, s.label), 0);
    if (o.mixup && maxLabel >= o.mixup.numClasses)
      throw new ConfigError(`${fn}: Mixup has ${o.mixup.numClasses} classes but the samples have labels up to ${maxLabel}`);
    const dropLast = o.dropLast ?? train;
    if (o.mixup && (o.batchSize % 2 !== 0 || !dropLast))
      throw new ConfigError(`${fn}: Mixup/CutMix needs even batches: an even \`batchSize\` (got ${o.batchSize}) and dropLast`);
    this.sampler = new EpochSampler(o.samples.length, o.batchSize, o.seed, { dropLast, shuffle: o.shuffle ?? train });
    this.batchSize = o.batchSize;
    this.batchesPerEpoch = this.sampler.batchesPerEpoch;
    const workers = o.workers ?? 2;
    this.prefetch = o.prefetch ?? 2 * workers;
    if (!Number.isInteger(this.prefetch) || this.prefetch < 1) throw new ConfigError(`${fn}: option \`prefetch\` must be a positive integer, got ${this.prefetch}`);
    if (o.epochs !== undefined && !(Number.isInteger(o.epochs) && o.epochs >= 1)) throw new ConfigError(`${fn}: option \`epochs\` must be a positive integer, got ${o.epochs}`);
    this.pool = new WorkerPool(new URL('./loader_worker.js', import.meta.url), { threads: workers, label: fn });
    this.current = this.sampler.state();
  }

  /** Position of the next batch `next()` returns: save it with a checkpoint. */
  state(): SamplerState {
    return { ...this.current };
  }

  /** Continue from a saved `state()` (batches prepared ahead are dropped). */
  restore(state: SamplerState): void {
    this.sampler.restore(state);
    this.current = this.sampler.state();
    this.queue.length = 0; // results still on their way are ignored
  }

  get epoch(): number {
    return this.current.epoch;
  }

  /** Begin preparing the first batches now (the first `next()` does otherwise), e.g. while a model compiles. */
  start(): void {
    if (this.closed) throw new ConfigError('image loader: start() after close()');
    this.fill();
  }

  /** The next batch (an endless stream over epochs). */
  async next(): Promise<LoaderBatch> {
    if (this.closed) throw new ConfigError('image loader: next() after close()');
    this.fill();
    const head = this.queue.shift();
    if (!head) throw new ConfigError(`image loader: next() after the last of its ${this.o.epochs} epoch(s)`);
    this.fill();
    const t0 = performance.now();
    const r = await head.result;
    const waitMs = performance.now() - t0;
    this.current = head.after;
    if (!r.ok) throw r.error;
    return this.assemble(head, r.value, waitMs);
  }

  /** The remaining batches of the current epoch. */
  async *epochBatches(): AsyncGenerator<LoaderBatch> {
    const epoch = this.current.epoch;
    while (this.current.epoch === epoch) yield await this.next();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    await this.pool.close();
  }

  /** Keep `prefetch` batches in flight. */
  private fill(): void {
    while (this.queue.length < this.prefetch) {
      const { epoch, position } = this.sampler.state();
      if (this.o.epochs !== undefined && epoch >= this.o.epochs) return;
      const indices = this.sampler.next();
      const batch = Math.floor(position / this.batchSize);
      const task: LoadBatchTask = {
        paths: Array.from(indices, (i) => this.o.samples[i]!.path),
        seeds: Array.from(indices, (i) => streamSeed(this.o.seed, epoch, i, SAMPLE_STREAM)),
        transform: this.o.transform,
        decoder: this.o.decoder,
      };
      const result = this.pool.run<LoadBatchResult>(task, `${this.o.transform.kind === 'eval' ? 'evaluation' : `epoch ${epoch + 1}`} batch ${batch + 1} (${task.paths[0]} …)`).then(
        (value) => ({ ok: true as const, value }),
        (error: Error) => ({ ok: false as const, error }),
      );
      this.queue.push({ epoch, batch, indices, after: this.sampler.state(), result });
    }
  }

  private assemble(p: Pending, r: LoadBatchResult, waitMs: number): LoaderBatch {
    // Counted from 1, as the progress lines and metrics.jsonl count epochs; an eval loader's own
    // epoch means nothing to the user.
    const where = this.o.transform.kind === 'eval' ? `evaluation batch ${p.batch + 1}` : `epoch ${p.epoch + 1} batch ${p.batch + 1}`;
    if (r.failed.length && (this.o.onError ?? 'stop') === 'stop') {
      const f = r.failed[0]!;
      throw new DataError(
        `${f.error} (image ${f.path}, ${where}${r.failed.length > 1 ? `, and ${r.failed.length - 1} more in this batch` : ''}); ` +
          "to leave unreadable images out, pass --on-bad-image skip (library: onError 'skip')",
      );
    }
    this.skippedCount += r.failed.length;
    const [, h, w] = this.o.transform.config.inputSize;
    const n = r.ok.length;
    // An evaluation pass reports a batch of nothing but unreadable images and goes on; a training
    // batch of none cannot be stepped on.
    if (n === 0 && this.o.transform.kind === 'train') throw new DataError(`image loader: no image of ${where} could be read (first: ${r.failed[0]?.path}: ${r.failed[0]?.error})`);
    const indices = Int32Array.from(r.ok, (pos) => p.indices[pos]!);
    const labels = Int32Array.from(indices, (i) => this.o.samples[i]!.label);
    // A view of the moved buffer: the images that loaded are at its front.
    const x = new Tensor(new Float32Array(r.x.buffer, r.x.byteOffset, n * 3 * h * w), [n, 3, h, w], 'float32');
    const batch: LoaderBatch = {
      x,
      labels,
      indices,
      epoch: p.epoch,
      batch: p.batch,
      skipped: r.failed.map(({ path, error }) => ({ path, error })),
      waitMs,
      decodeMs: r.decodeMs,
      transformMs: r.transformMs,
    };
    if (this.o.mixup) {
      if (n % 2 !== 0) throw new DataError(`image loader: ${where} has an odd number of readable images (${n}); Mixup needs pairs`);
      const rng = new Rng(streamSeed(this.o.seed, p.epoch, p.batch, BATCH_STREAM));
      batch.targets = this.o.mixup.apply(x, labels, rng).targets;
    }
    return batch;
  }
}

export interface LoaderThroughput {
  images: number;
  batches: number;
  seconds: number;
  imagesPerSecond: number;
  /** Share of the wall time the consumer spent waiting for batches. */
  waitFraction: number;
  /** Worker milliseconds per image: decoding and transforming. */
  decodeMsPerImage: number;
  transformMsPerImage: number;
}

/**
 * Time `batches` batches of a loader, each handed to `consume` (e.g. a train step) before the next is
 * asked for: throughput, and the fraction of the time the consumer waited on data. The first batch
 * (worker start-up) is taken before the clock starts.
 */
export async function measureLoader(loader: ImageLoader, batches: number, consume: (b: LoaderBatch) => Promise<void> = async () => {}): Promise<LoaderThroughput> {
  if (!Number.isInteger(batches) || batches < 1) throw new ConfigError(`measureLoader: batches must be a positive integer, got ${batches}`);
  await consume(await loader.next());
  let images = 0;
  let wait = 0;
  let decode = 0;
  let transform = 0;
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) {
    const b = await loader.next();
    images += b.x.shape[0]!;
    wait += b.waitMs;
    decode += b.decodeMs;
    transform += b.transformMs;
    await consume(b);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    images,
    batches,
    seconds,
    imagesPerSecond: images / seconds,
    waitFraction: wait / 1000 / seconds,
    decodeMsPerImage: decode / images,
    transformMsPerImage: transform / images,
  };
}
