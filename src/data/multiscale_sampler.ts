/**
 * MobileViT's multi-scale sampler (ml-cvnets' "variable batch sampler", spec §5.1): every batch
 * draws a square resolution from a fixed set, with a batch size that keeps the pixels per batch about
 * constant, b(r) = ⌊base_batch · base_res² / r²⌋ (ml-cvnets: int(round(·, 2)), at least 1). Each epoch
 * visits a fresh permutation of the data in order; it ends when the indices run out, so the number of
 * batches per epoch varies. The last batch is topped up from the start of the epoch's permutation (as
 * ml-cvnets does), so every batch of a resolution has the same size: one compiled train step per resolution.
 *
 * Pure and resumable: an epoch's permutation and its resolution draws depend only on (seed, epoch),
 * so `state()` is three integers and `restore()` continues exactly.
 */
import { ConfigError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { EpochSampler, epochSeed } from './sampler.js';

/** ml-cvnets' ImageNet resolution set: linspace(160, 320, 5) and 256, rounded to multiples of 32. */
export const DEFAULT_RESOLUTIONS: readonly number[] = [160, 192, 256, 288, 320];

export interface MultiScaleSamplerOptions {
  /** Batch size at `baseResolution`. */
  baseBatch: number;
  /** Run seed: with the epoch, it fixes every permutation and resolution draw. */
  seed: number;
  /** Square input sides to draw from (default DEFAULT_RESOLUTIONS). */
  resolutions?: readonly number[];
  /** The side `baseBatch` is meant for (default 256, required when `resolutions` are given). */
  baseResolution?: number;
  /** Smallest batch (default 1; ml-cvnets' paper-era code used max(128, b)). */
  minBatch?: number;
  /** Top the epoch's last batch up from the start of its permutation (default true). */
  padLast?: boolean;
}

export interface ScaledBatch {
  /** Square input side of this batch. */
  resolution: number;
  /** Sample indices: `batchSize(resolution)` of them (the last batch of an epoch fewer when !padLast). */
  indices: Int32Array;
}

export interface MultiScaleState {
  /** Epoch of the next batch (0-based). */
  epoch: number;
  /** Index into that epoch's permutation of its next sample. */
  position: number;
  /** Batches already drawn in that epoch (how far its resolution draws have gone). */
  batch: number;
}

/** b(r) = max(minBatch, int(round(baseBatch · baseRes² / r², 2))) (spec §5.1). */
export function scaledBatchSize(resolution: number, baseResolution: number, baseBatch: number, minBatch = 1): number {
  const exact = (baseBatch * baseResolution * baseResolution) / (resolution * resolution);
  return Math.max(minBatch, Math.trunc(Math.round(exact * 100) / 100));
}

const positiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;

export class MultiScaleSampler {
  readonly resolutions: readonly number[];
  readonly baseResolution: number;
  readonly baseBatch: number;
  readonly padLast: boolean;
  private readonly sizes: Map<number, number>;
  /** Only its pure `permutation(epoch)` is used: the same shuffles as the fixed-batch sampler. */
  private readonly order: EpochSampler;
  private epochNo = 0;
  private pos = 0;
  private drawn = 0;
  /** The current epoch's permutation and resolution generator. */
  private perm: Int32Array;
  private draws: Rng;

  constructor(
    readonly n: number,
    readonly seed: number,
    o: Omit<MultiScaleSamplerOptions, 'seed'>,
  ) {
    const fail = (key: string, why: string): never => {
      throw new ConfigError(`MultiScaleSampler: \`${key}\` ${why}`);
    };
    if (!positiveInt(n)) fail('n', `(data set size) must be a positive integer, got ${n}`);
    if (!Number.isSafeInteger(seed)) fail('seed', `must be an integer, got ${seed}`);
    if (!positiveInt(o.baseBatch)) fail('baseBatch', `must be a positive integer, got ${o.baseBatch}`);
    const res = o.resolutions ?? DEFAULT_RESOLUTIONS;
    if (!Array.isArray(res) || res.length === 0 || !res.every(positiveInt)) fail('resolutions', `must be a non-empty list of positive integers, got ${JSON.stringify(res)}`);
    if (new Set(res).size !== res.length) fail('resolutions', `lists a resolution twice: ${res.join(', ')}`);
    if (o.resolutions && o.baseResolution === undefined) fail('baseResolution', 'is required with `resolutions` (the side `baseBatch` is meant for)');
    const base = o.baseResolution ?? 256;
    if (!positiveInt(base)) fail('baseResolution', `must be a positive integer, got ${base}`);
    const minBatch = o.minBatch ?? 1;
    if (!positiveInt(minBatch)) fail('minBatch', `must be a positive integer, got ${minBatch}`);
    this.resolutions = [...res];
    this.baseResolution = base;
    this.baseBatch = o.baseBatch;
    this.padLast = o.padLast ?? true;
    this.sizes = new Map(res.map((r) => [r, scaledBatchSize(r, base, o.baseBatch, minBatch)]));
    this.order = new EpochSampler(n, 1, seed);
    this.perm = this.order.permutation(0);
    this.draws = this.drawsOf(0);
  }

  /** Batch size at a resolution of the set. */
  batchSize(resolution: number): number {
    const b = this.sizes.get(resolution);
    if (b === undefined) throw new ConfigError(`MultiScaleSampler: ${resolution} is not one of the resolutions ${this.resolutions.join(', ')}`);
    return b;
  }

  /** Every (resolution, batch size) the sampler can hand out: what a trainer compiles a step for. */
  scales(): { resolution: number; batchSize: number }[] {
    return this.resolutions.map((resolution) => ({ resolution, batchSize: this.sizes.get(resolution)! }));
  }

  get epoch(): number {
    return this.epochNo;
  }

  /** The next batch; after the last one of an epoch the sampler is at the start of the next (endless stream). */
  next(): ScaledBatch {
    const resolution = this.resolutions[this.draws.int(this.resolutions.length)]!;
    const size = this.sizes.get(resolution)!;
    const end = Math.min(this.pos + size, this.n);
    let indices = this.perm.slice(this.pos, end);
    if (this.padLast && indices.length < size) {
      const full = new Int32Array(size);
      full.set(indices);
      for (let i = indices.length; i < size; i++) full[i] = this.perm[(i - indices.length) % this.n]!;
      indices = full;
    }
    this.pos = end;
    this.drawn++;
    if (this.pos === this.n) this.startEpoch(this.epochNo + 1);
    return { resolution, indices };
  }

  /** The remaining batches of the current epoch; afterwards the sampler is at the next epoch. */
  *batches(): Generator<ScaledBatch, void, undefined> {
    const epoch = this.epochNo;
    while (this.epochNo === epoch) yield this.next();
  }

  /** Where the sampler stands (advanced as each batch is handed out). */
  state(): MultiScaleState {
    return { epoch: this.epochNo, position: this.pos, batch: this.drawn };
  }

  /** Continue from a saved `state()`: the same batches, resolutions included, as without the interruption. */
  restore(state: MultiScaleState): void {
    const { epoch, position, batch } = state;
    const bad = (key: string, want: string, got: unknown): never => {
      throw new ConfigError(`MultiScaleSampler.restore: \`${key}\` must be ${want}, got ${got}`);
    };
    if (!Number.isInteger(epoch) || epoch < 0) bad('epoch', 'a non-negative integer', epoch);
    if (!Number.isInteger(position) || position < 0 || position > this.n) bad('position', `an integer in [0, ${this.n}]`, position);
    if (!Number.isInteger(batch) || batch < 0 || batch > position) bad('batch', `an integer in [0, position = ${position}]`, batch);
    if ((position === 0) !== (batch === 0)) bad('batch', '0 exactly when position is 0', batch);
    if (position === this.n) {
      this.startEpoch(epoch + 1);
      return;
    }
    this.startEpoch(epoch);
    for (let i = 0; i < batch; i++) this.draws.int(this.resolutions.length);
    this.pos = position;
    this.drawn = batch;
  }

  private startEpoch(epoch: number): void {
    this.epochNo = epoch;
    this.pos = 0;
    this.drawn = 0;
    this.perm = this.order.permutation(epoch);
    this.draws = this.drawsOf(epoch);
  }

  /** The resolution draws of an epoch: a generator of their own, independent of the shuffle's. */
  private drawsOf(epoch: number): Rng {
    return new Rng(epochSeed(this.seed, epoch) ^ 0x2545f491);
  }
}
