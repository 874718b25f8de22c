/**
 * Epoch-based shuffling sampler with exact resume.
 *
 * Each epoch visits every index once, in a permutation derived only from (seed, epoch). Because no
 * RNG state carries over from one epoch to the next, the sampler's whole state is two integers,
 * `{ epoch, position }`: a run restored from them yields exactly the batches an uninterrupted run
 * would have, without replaying earlier epochs.
 */
import { ConfigError } from '../errors.js';
import { Rng } from '../util/rng.js';

export interface SamplerState {
  /** Epoch of the next batch (0-based). */
  epoch: number;
  /** Index into that epoch's permutation of the next sample (batches yielded × batch size). */
  position: number;
}

export interface EpochSamplerOptions {
  /** Drop the last, smaller batch of each epoch (its indices are skipped for that epoch). */
  dropLast?: boolean;
  /** Visit the indices in a fresh permutation each epoch (default); false: in order 0..n−1 (evaluation). */
  shuffle?: boolean;
}

/** murmur3's 32-bit finaliser: a cheap bijective mix, so nearby (seed, epoch) pairs diverge. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed for one epoch's shuffle from the run seed (all 53 bits of it) and the epoch. */
export function epochSeed(seed: number, epoch: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return fmix32(fmix32(fmix32(lo ^ 0x9e3779b9) ^ hi) ^ epoch);
}

/**
 * A 32-bit seed for one random stream of (run seed, epoch, index): each sample's augmentation
 * (stream `SAMPLE_STREAM`, index = the sample's data-set index) and each batch's Mixup/CutMix draws
 * (`BATCH_STREAM`, index = the batch's position in the epoch) get their own generator, so the result
 * depends on nothing else — not on which worker runs it, nor on what ran before a resume.
 */
export function streamSeed(seed: number, epoch: number, index: number, stream: number): number {
  return fmix32(fmix32(epochSeed(seed, epoch) ^ Math.imul(stream, 0x9e3779b9)) ^ (index >>> 0));
}

export const SAMPLE_STREAM = 1;
export const BATCH_STREAM = 2;

export class EpochSampler {
  readonly batchesPerEpoch: number;
  readonly dropLast: boolean;
  readonly shuffle: boolean;
  private epochNo = 0;
  private pos = 0;
  /** The permutation of `cachedEpoch`, kept while iterating it. */
  private cachedEpoch = -1;
  private cachedPerm: Int32Array = new Int32Array(0);

  constructor(
    readonly n: number,
    readonly batchSize: number,
    readonly seed: number,
    options: EpochSamplerOptions = {},
  ) {
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`EpochSampler: data set size \`n\` must be a positive integer, got ${n}`);
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ConfigError(`EpochSampler: \`batch\` size must be a positive integer, got ${batchSize}`);
    if (batchSize > n)
      throw new ConfigError(`EpochSampler: \`batch\` size ${batchSize} is larger than the data set (${n} samples)`);
    if (!Number.isSafeInteger(seed)) throw new ConfigError(`EpochSampler: \`seed\` must be an integer, got ${seed}`);
    this.dropLast = options.dropLast ?? false;
    this.shuffle = options.shuffle ?? true;
    this.batchesPerEpoch = this.dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  }

  /** Samples visited per epoch (fewer than n when dropLast cuts a partial batch). */
  get samplesPerEpoch(): number {
    return this.dropLast ? this.batchesPerEpoch * this.batchSize : this.n;
  }

  get epoch(): number {
    return this.epochNo;
  }

  /** The order of indices in `epoch`: a pure function of (seed, epoch). Returns a fresh copy. */
  permutation(epoch: number): Int32Array {
    return this.permutationOf(epoch).slice();
  }

  private permutationOf(epoch: number): Int32Array {
    if (epoch !== this.cachedEpoch) {
      this.cachedPerm = this.shuffle ? new Rng(epochSeed(this.seed, epoch)).permutation(this.n) : Int32Array.from({ length: this.n }, (_, i) => i);
      this.cachedEpoch = epoch;
    }
    return this.cachedPerm;
  }

  /**
   * The next batch of indices, moving on to the next epoch after the last batch of this one
   * (an endless stream: the caller decides when to stop).
   */
  next(): Int32Array {
    const perm = this.permutationOf(this.epochNo);
    const end = Math.min(this.pos + this.batchSize, this.n);
    const batch = perm.slice(this.pos, end);
    this.pos = end;
    this.normalise();
    return batch;
  }

  /** The remaining batches of the current epoch; afterwards the sampler is at the next epoch. */
  *batches(): Generator<Int32Array, void, undefined> {
    const epoch = this.epochNo;
    while (this.epochNo === epoch) yield this.next();
  }

  /**
   * Where the sampler stands. State is advanced as each batch is handed out, so a checkpoint
   * saved after training on a batch resumes with the batch after it.
   */
  state(): SamplerState {
    return { epoch: this.epochNo, position: this.pos };
  }

  /** Continue from a saved `state()`. */
  restore(state: SamplerState): void {
    const { epoch, position } = state;
    if (!Number.isInteger(epoch) || epoch < 0)
      throw new ConfigError(`EpochSampler.restore: \`epoch\` must be a non-negative integer, got ${epoch}`);
    if (!Number.isInteger(position) || position < 0 || position > this.n)
      throw new ConfigError(`EpochSampler.restore: \`position\` must be an integer in [0, ${this.n}], got ${position}`);
    this.epochNo = epoch;
    this.pos = position;
    this.normalise();
  }

  /**
   * Once no full batch (dropLast) or no sample at all is left, move to the start of the next epoch,
   * so that the state saved at the end of an epoch reads as { epoch: e + 1, position: 0 }.
   */
  private normalise(): void {
    const left = this.n - this.pos;
    if (left === 0 || (this.dropLast && left < this.batchSize)) {
      this.epochNo++;
      this.pos = 0;
    }
  }
}
