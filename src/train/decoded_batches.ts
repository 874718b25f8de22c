/**
 * Training batches from decoded images held in memory — a browser's picked files — with the image
 * folder loader's recipe (tasks/image_loader.ts): the epoch sampler's order, each sample augmented
 * by the timm train transform (RandomResizedCrop, flip, RandAugment, colour jitter, random erasing)
 * seeded from (seed, epoch, sample), and Mixup/CutMix seeded from (seed, epoch, batch). The loader
 * runs that in worker threads from files; this runs it in the caller's thread from pixels. On the
 * same pixels both give the same batches (test/train/decoded_batches.test.ts).
 */
import type { PlanarImage } from '../data/resample.js';
import { BATCH_STREAM, EpochSampler, SAMPLE_STREAM, streamSeed, type SamplerState } from '../data/sampler.js';
import { createTrainTransform, type TrainTransform, type TrainTransformConfig } from '../data/train_transform.js';
import { ConfigError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { Rng } from '../util/rng.js';
import type { TrainBatch, TrainBatches } from './batches.js';
import type { Mixup } from './mixup.js';

export interface DecodedBatchesOptions {
  batchSize: number;
  /** Run seed: order, augmentation and Mixup draws all derive from it. */
  seed: number;
  /** The train transform (its inputSize is the batches' size). */
  transform: TrainTransformConfig;
  mixup?: Mixup;
}

export class DecodedImageBatches implements TrainBatches {
  readonly multiScale = false;
  private readonly sampler: EpochSampler;
  private readonly tf: TrainTransform;

  constructor(
    private readonly images: readonly PlanarImage[],
    private readonly labels: ArrayLike<number>,
    private readonly o: DecodedBatchesOptions,
  ) {
    if (images.length !== labels.length) throw new ConfigError(`decoded batches: ${images.length} images but ${labels.length} labels`);
    if (o.mixup && o.batchSize % 2 !== 0) throw new ConfigError(`decoded batches: Mixup/CutMix needs an even batch size (got ${o.batchSize})`);
    this.tf = createTrainTransform(o.transform);
    this.sampler = new EpochSampler(images.length, o.batchSize, o.seed, { dropLast: true, shuffle: true });
  }

  get count(): number {
    return this.images.length;
  }

  get epoch(): number {
    return this.sampler.state().epoch;
  }

  get stepsPerEpoch(): number {
    return this.sampler.batchesPerEpoch;
  }

  imagesSeen(): number {
    const s = this.sampler.state();
    return s.epoch * this.count + s.position;
  }

  async next(): Promise<TrainBatch> {
    const { epoch, position } = this.sampler.state();
    const indices = this.sampler.next();
    const [, h, w] = this.o.transform.inputSize;
    const per = 3 * h * w;
    const x = new Float32Array(indices.length * per);
    indices.forEach((i, k) => this.tf.apply(this.images[i]!, new Rng(streamSeed(this.o.seed, epoch, i, SAMPLE_STREAM)), x, k * per));
    const labels = Int32Array.from(indices, (i) => this.labels[i]!);
    const batch: TrainBatch = { x: new Tensor(x, [indices.length, 3, h, w], 'float32'), labels, side: h };
    if (this.o.mixup) {
      const rng = new Rng(streamSeed(this.o.seed, epoch, Math.floor(position / this.o.batchSize), BATCH_STREAM));
      batch.soft = this.o.mixup.apply(batch.x, labels, rng).targets;
    }
    return batch;
  }

  state(): SamplerState {
    return this.sampler.state();
  }

  restore(s: SamplerState): void {
    this.sampler.restore(s);
  }

  async close(): Promise<void> {}
}
