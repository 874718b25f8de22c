/**
 * Where a run's batches come from. The trainer asks a `TrainBatches` for the next training batch and
 * iterates an `EvalData` after each epoch; both are resumable (their state goes into checkpoints).
 *
 * - `ArrayBatches`: an in-memory data set (Fashion-MNIST), batches built in this thread by `makeBatch`
 *   (pad, random crop, flip) — one input size, or one drawn per batch (multi-scale, MobileViT).
 * - An image folder's loader (tasks/folder_data.ts): decode and augment in worker threads, Mixup/CutMix.
 */
import { MultiScaleSampler, type MultiScaleState } from '../data/multiscale_sampler.js';
import { EpochSampler, type SamplerState } from '../data/sampler.js';
import { makeBatch, type Batch, type ImageDataset } from '../data/transforms.js';
import type { Tensor } from '../tensor.js';
import type { Rng } from '../util/rng.js';

/** A training batch: images, labels, and soft targets when Mixup/CutMix mixed it. */
export interface TrainBatch extends Batch {
  /** Square input side of this batch (multi-scale: drawn per batch). */
  side: number;
  /** Mixed soft targets [B, K] (Mixup/CutMix); the labels are then the unmixed ones. */
  soft?: Tensor<'float32'>;
}

export interface TrainBatches {
  /** Images per epoch. */
  readonly count: number;
  /** Epoch of the next batch (0-based). */
  readonly epoch: number;
  /** Steps per epoch (multi-scale: the expected number; the batch size varies). */
  readonly stepsPerEpoch: number;
  /** The batch size varies (multi-scale): the learning rate then follows images seen, not steps. */
  readonly multiScale: boolean;
  /** Images handed out before the next batch, over all epochs. */
  imagesSeen(): number;
  next(rng: Rng): Promise<TrainBatch>;
  state(): SamplerState | MultiScaleState;
  restore(s: SamplerState | MultiScaleState): void;
  close(): Promise<void>;
}

/** Test data in batches (an image folder's eval loader); an in-memory data set is the other kind of `EvalData`. */
export interface EvalBatches {
  readonly count: number;
  /** The normalisation the batches carry (to show images in their own colours). */
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  /** Every test image once, in order, `batchSize` at a time. */
  batches(batchSize: number): AsyncIterable<Batch>;
}

export type EvalData = ImageDataset | EvalBatches;

export function isImageDataset(d: EvalData): d is ImageDataset {
  return (d as ImageDataset).images instanceof Uint8Array;
}

/** The test batches of `data` at `inputSize` (in-memory data: centre-padded, as makeBatch's eval mode). */
export async function* evalBatches(data: EvalData, inputSize: number, batchSize: number, channels: number): AsyncGenerator<Batch> {
  if (!isImageDataset(data)) {
    yield* data.batches(batchSize);
    return;
  }
  for (let start = 0; start < data.count; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, data.count - start) }, (_, i) => start + i);
    yield makeBatch(data, idx, { size: inputSize, train: false, channels });
  }
}

export interface ArrayBatchOptions {
  batchSize: number;
  seed: number;
  /** Square input side. */
  inputSize: number;
  /** Random-crop padding. */
  cropPad: number;
  channels: number;
  /** Multi-scale sides (see TrainConfig.multiScale). */
  multiScale?: number[];
}

/** Batches of an in-memory data set: one input size (EpochSampler) or one drawn per batch (MultiScaleSampler). */
export class ArrayBatches implements TrainBatches {
  private readonly fixed: EpochSampler | null;
  private readonly multi: MultiScaleSampler | null;

  constructor(
    private readonly data: ImageDataset,
    private readonly o: ArrayBatchOptions,
  ) {
    this.fixed = o.multiScale ? null : new EpochSampler(data.count, o.batchSize, o.seed, { dropLast: true });
    this.multi = o.multiScale
      ? new MultiScaleSampler(data.count, o.seed, { baseBatch: o.batchSize, resolutions: o.multiScale, baseResolution: o.inputSize })
      : null;
  }

  get count(): number {
    return this.data.count;
  }

  get epoch(): number {
    return (this.fixed ?? this.multi)!.epoch;
  }

  get stepsPerEpoch(): number {
    if (this.fixed) return this.fixed.batchesPerEpoch;
    const scales = this.multi!.scales();
    const meanBatch = scales.reduce((a, s) => a + s.batchSize, 0) / scales.length;
    return Math.ceil(this.multi!.n / meanBatch);
  }

  get multiScale(): boolean {
    return this.multi !== null;
  }

  imagesSeen(): number {
    const s = this.state();
    return s.epoch * this.data.count + s.position;
  }

  async next(rng: Rng): Promise<TrainBatch> {
    const { indices, side } = this.fixed
      ? { indices: this.fixed.next(), side: this.o.inputSize }
      : (({ indices, resolution }) => ({ indices, side: resolution }))(this.multi!.next());
    // Multi-scale: the image is scaled with the canvas (28 on 32 → 21 on 24), keeping the margin.
    const imageSide = Math.max(this.data.height, this.data.width);
    const imageSize = side === this.o.inputSize ? undefined : Math.max(1, Math.round((imageSide * side) / this.o.inputSize));
    const b = makeBatch(this.data, indices, { size: side, imageSize, train: true, rng, channels: this.o.channels, pad: this.o.cropPad });
    return { ...b, side };
  }

  state(): SamplerState | MultiScaleState {
    return (this.fixed ?? this.multi)!.state();
  }

  restore(s: SamplerState | MultiScaleState): void {
    if (this.fixed) this.fixed.restore(s as SamplerState);
    else this.multi!.restore(s as MultiScaleState);
  }

  async close(): Promise<void> {}
}
