/**
 * timm's training transform (`transforms_imagenet_train`) on a decoded uint8 RGB image:
 *   RandomResizedCrop(size, scale, ratio, interpolation) → RandomHorizontalFlip(hflip)
 *   → RandAugment(autoAugment) — or, without it, ColorJitter(colorJitter) (timm turns colour
 *     jitter off when RandAugment is on)
 *   → ToTensor + Normalize(mean, std) → RandomErasing(reProb, reMode, 1..reCount boxes).
 * RandAugment's fill colour is round(255 · mean) and its resampling the train interpolation, as
 * timm's create_transform sets them. Every random draw comes from the `Rng` passed in; the loader
 * seeds one per sample from (run seed, epoch, sample index) (`streamSeed`), so a sample's pixels do
 * not depend on which worker computes them nor on anything that ran before.
 * Pure: no Node imports (runs in workers and browsers).
 */
import { ConfigError, DataError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import {
  colorJitter,
  DEFAULT_RATIO,
  DEFAULT_SCALE,
  erasingOptions,
  randomErasing,
  randomHorizontalFlip,
  randomResizedCrop,
  checkCropRanges,
  type ColorJitterOptions,
  type RandomErasingOptions,
} from './augment.js';
import { normalizeInto } from './image_transform.js';
import { fillFromMean, RandAugment, type AppliedOp } from './rand_augment.js';
import type { PlanarImage, ResampleFilter } from './resample.js';

export interface TrainTransformConfig {
  /** [3, H, W] of the model input. */
  inputSize: readonly [number, number, number];
  /** RandomResizedCrop area range (default [0.08, 1]). */
  scale?: readonly [number, number];
  /** RandomResizedCrop aspect range (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
  /** Resampling of the crop and of RandAugment's geometric ops (default bicubic). */
  interpolation?: ResampleFilter | 'random';
  /** Horizontal flip probability (default 0.5). */
  hflip?: number;
  /** timm RandAugment string (`rand-m9-mstd0.5-inc1`); null/undefined: none. */
  autoAugment?: string | null;
  /** Colour jitter strength (brightness = contrast = saturation) or [b, c, s]; used only without autoAugment. */
  colorJitter?: number | readonly [number, number, number] | null;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** Random-erasing probability (default 0: off). */
  reProb?: number;
  reMode?: RandomErasingOptions['mode'];
  /** Maximum number of erased boxes (timm's re_count; default 1). */
  reCount?: number;
  channelOrder?: 'RGB' | 'BGR';
}

/** What one sample went through (tests, debugging). */
export interface TrainTransformTrace {
  ops: AppliedOp[];
  flipped: boolean;
  erased: { top: number; left: number; height: number; width: number }[];
}

export interface TrainTransform {
  readonly config: TrainTransformConfig;
  /**
   * Augment one image into `out` at `offset` (float32 [3, H, W], normalised); allocates when `out`
   * is omitted. Returns the written array.
   */
  apply(img: PlanarImage, rng: Rng, out?: Float32Array, offset?: number, trace?: TrainTransformTrace): Float32Array;
}

export function createTrainTransform(config: TrainTransformConfig): TrainTransform {
  const fn = 'train transform';
  const [ch, h, w] = config.inputSize ?? [];
  if (ch !== 3 || !(Number.isInteger(h) && h! > 0 && Number.isInteger(w) && w! > 0))
    throw new ConfigError(`${fn}: inputSize must be [3, H, W] with positive integers, got ${JSON.stringify(config.inputSize)}`);
  for (const [name, v] of [['mean', config.mean], ['std', config.std]] as const)
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x)))
      throw new ConfigError(`${fn}: ${name} must be three numbers, got ${JSON.stringify(v)}`);
  if (config.std.some((s) => s <= 0)) throw new ConfigError(`${fn}: std must be > 0, got [${config.std}]`);
  const interpolation = config.interpolation ?? 'bicubic';
  if (!['bilinear', 'bicubic', 'random'].includes(interpolation))
    throw new ConfigError(`${fn}: interpolation must be bilinear, bicubic or random, got ${JSON.stringify(interpolation)}`);
  const hflip = config.hflip ?? 0.5;
  if (!(hflip >= 0 && hflip <= 1)) throw new ConfigError(`${fn}: hflip is a probability in [0, 1], got ${hflip}`);
  const scale = config.scale ?? DEFAULT_SCALE;
  const ratio = config.ratio ?? DEFAULT_RATIO;
  checkCropRanges(scale, ratio);

  const randAugment = config.autoAugment
    ? new RandAugment(config.autoAugment, { fill: fillFromMean(config.mean), interpolation })
    : null;
  let jitter: ColorJitterOptions | null = null;
  if (!randAugment && config.colorJitter !== undefined && config.colorJitter !== null) {
    const [b, c, s] = typeof config.colorJitter === 'number' ? [config.colorJitter, config.colorJitter, config.colorJitter] : config.colorJitter;
    jitter = { brightness: b, contrast: c, saturation: s };
  }
  const reProb = config.reProb ?? 0;
  if (!(reProb >= 0 && reProb <= 1)) throw new ConfigError(`${fn}: reProb is a probability in [0, 1], got ${reProb}`);
  const erasing: RandomErasingOptions | null =
    reProb > 0 ? erasingOptions({ probability: reProb, mode: config.reMode ?? 'pixel', minCount: 1, maxCount: config.reCount ?? 1 }) : null;
  const channelOrder = config.channelOrder ?? 'RGB';

  return {
    config,
    apply(img, rng, out, offset = 0, trace) {
      if (!img || !(img.data instanceof Uint8Array) || img.channels !== 3 || img.data.length !== 3 * img.height * img.width)
        throw new DataError(`${fn}: expected an RGB image as loadImage returns it ({ data: Uint8Array CHW, channels: 3, height, width })`);
      const dst = out ?? new Float32Array(3 * h! * w!);
      if (offset < 0 || offset + 3 * h! * w! > dst.length) throw new ConfigError(`${fn}: the image does not fit in \`out\` at offset ${offset}`);
      let x = randomResizedCrop(img, [h!, w!], rng, { scale, ratio, interpolation });
      const flipped = randomHorizontalFlip(x, hflip, rng);
      if (trace) trace.flipped = flipped !== x;
      x = flipped;
      if (randAugment) x = randAugment.apply(x, rng, trace?.ops);
      else if (jitter) x = colorJitter(x, jitter, rng);
      normalizeInto(x, config.mean, config.std, dst, offset, channelOrder);
      if (erasing) {
        const view = dst.subarray(offset, offset + 3 * h! * w!);
        const boxes = randomErasing(view, 3, h!, w!, erasing, rng);
        if (trace) trace.erased = boxes;
      }
      return dst;
    },
  };
}
