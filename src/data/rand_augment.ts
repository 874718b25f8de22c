/**
 * RandAugment as timm implements it (timm/data/auto_augment.py, `rand_augment_transform`), on planar
 * uint8 RGB images with the PIL-exact ops of pil_ops.ts, every random draw from a seeded `Rng`.
 *
 * Config string (timm's syntax): `rand` then dash-separated sections `<key><value>`:
 *   m<int>    magnitude, 0..mmax (default 10)         n<int>     ops per image (default 2)
 *   mstd<f>   std of the Gaussian magnitude noise (> 100: uniform in [0, m]; default 0)
 *   mmax<int> upper clip of the noisy magnitude (default 10)
 *   inc<0|1>  the "increasing" op set, whose severity grows with the magnitude
 *   p<f>      probability of applying each chosen op (default 0.5)
 * e.g. `rand-m9-mstd0.5-inc1` (ConvNeXt, DeiT, CMT, GLNet) or `rand-n2-m9`.
 * Departures from timm, all on inputs timm would silently misread: an unknown, repeated or
 * malformed section is a ConfigError (timm skips sections without a digit and asserts on unknown
 * keys); `m` above `mmax` is a ConfigError (timm clips it to mmax); `inc0` means off (timm's
 * `bool('0')` is true). The weighted op choice (`w`) is not supported.
 *
 * Per image: `n` ops drawn uniformly with replacement (numpy's choice); each applies with
 * probability p (`random() > p` skips it), its magnitude gets the noise and is clipped to
 * [0, mmax], then timm's level→argument mapping (for Rotate, Shear, Translate and the increasing
 * enhancements a random sign) and, for the geometric ops, the resampling filter (a random choice
 * between bilinear and bicubic when the interpolation is 'random'). The draws happen in this order,
 * as in timm, so a fixed seed gives a fixed op sequence.
 */
import { ConfigError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { roundHalfEven } from './image_transform.js';
import * as P from './pil_ops.js';
import type { PlanarImage } from './resample.js';

/** timm's _RAND_TRANSFORMS. */
export const RAND_TRANSFORMS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'Posterize',
  'Solarize',
  'SolarizeAdd',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
] as const;

/** timm's _RAND_INCREASING_TRANSFORMS (`inc1`). */
export const RAND_INCREASING_TRANSFORMS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'PosterizeIncreasing',
  'SolarizeIncreasing',
  'SolarizeAdd',
  'ColorIncreasing',
  'ContrastIncreasing',
  'BrightnessIncreasing',
  'SharpnessIncreasing',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
] as const;

export type RandAugmentOp = (typeof RAND_TRANSFORMS)[number] | (typeof RAND_INCREASING_TRANSFORMS)[number];

/** timm's _LEVEL_DENOM: magnitudes are on a 0..10 scale. */
const LEVEL_DENOM = 10;

export interface RandAugmentConfig {
  magnitude: number;
  numOps: number;
  /** 0: fixed magnitude; Infinity: uniform in [0, magnitude]. */
  magnitudeStd: number;
  magnitudeMax: number;
  increasing: boolean;
  /** Probability of applying each chosen op. */
  prob: number;
}

/** Parse a timm RandAugment string (`rand-m9-mstd0.5-inc1`); ConfigError naming the bad section. */
export function parseRandAugment(spec: string): RandAugmentConfig {
  const fail = (why: string) => new ConfigError(`augmentation '${spec}': ${why}`);
  if (typeof spec !== 'string') throw new ConfigError(`augmentation must be a string such as 'rand-m9-mstd0.5-inc1', got ${typeof spec}`);
  const [head, ...sections] = spec.split('-');
  if (head !== 'rand') throw fail(`only RandAugment strings are supported: they start with 'rand' (e.g. 'rand-m9-mstd0.5-inc1')`);
  const c: RandAugmentConfig = { magnitude: 10, numOps: 2, magnitudeStd: 0, magnitudeMax: LEVEL_DENOM, increasing: false, prob: 0.5 };
  const seen = new Set<string>();
  for (const s of sections) {
    const m = /^([a-z]+)(\d.*)$/.exec(s);
    if (!m) throw fail(`section '${s}' is not <key><number> (keys: m, n, mstd, mmax, inc, p)`);
    const [, key, val] = m as unknown as [string, string, string];
    if (seen.has(key)) throw fail(`section '${key}' is given twice`);
    seen.add(key);
    const num = Number(val);
    const int = () => {
      if (!/^\d+$/.test(val)) throw fail(`'${key}' takes an integer, got '${val}'`);
      return num;
    };
    const float = () => {
      if (!/^\d+(\.\d*)?(e[+-]?\d+)?$/i.test(val) || !Number.isFinite(num)) throw fail(`'${key}' takes a number, got '${val}'`);
      return num;
    };
    switch (key) {
      case 'm':
        c.magnitude = int();
        break;
      case 'n':
        c.numOps = int();
        if (c.numOps < 1) throw fail(`'n' (ops per image) must be at least 1, got ${c.numOps}`);
        break;
      case 'mstd': {
        const v = float();
        c.magnitudeStd = v > 100 ? Infinity : v;
        break;
      }
      case 'mmax':
        c.magnitudeMax = int();
        if (c.magnitudeMax < 1) throw fail(`'mmax' must be at least 1, got ${c.magnitudeMax}`);
        break;
      case 'inc': {
        const v = int();
        if (v > 1) throw fail(`'inc' is 0 or 1, got ${v}`);
        c.increasing = v === 1;
        break;
      }
      case 'p':
        c.prob = float();
        if (c.prob > 1) throw fail(`'p' is a probability in [0, 1], got ${c.prob}`);
        break;
      case 'w':
        throw fail(`weighted op choice ('w') is not supported`);
      default:
        throw fail(`unknown section '${key}' (keys: m, n, mstd, mmax, inc, p)`);
    }
  }
  if (c.magnitude > c.magnitudeMax)
    throw fail(`magnitude m${c.magnitude} is out of range 0..${c.magnitudeMax} (raise the limit with 'mmax' to allow it)`);
  return c;
}

/** timm's `hparams` of the ops, as `create_transform` fills them. */
export interface RandAugmentHparams {
  /** Fill colour of the geometric ops: timm uses round(255 · mean) of the normalisation. */
  fill: readonly [number, number, number];
  /** Resampling of the geometric ops: the train interpolation, or 'random' (bilinear or bicubic per op). */
  interpolation: P.Resample | 'random';
  /** Range of the relative translations (timm default 0.45). */
  translatePct?: number;
}

/** The fill colour timm derives from a normalisation mean: min(255, round(255 · m)), Python rounding. */
export function fillFromMean(mean: readonly number[]): [number, number, number] {
  const r = (m: number) => Math.min(255, roundHalfEven(255 * m));
  return [r(mean[0]!), r(mean[1]!), r(mean[2]!)];
}

/** One op as applied (for tests and logs): its name, magnitude after noise, and the argument it got. */
export interface AppliedOp {
  op: RandAugmentOp;
  magnitude: number;
  /** The level argument (degrees, factor, bits, threshold, shear, translate fraction); null for argument-free ops. */
  arg: number | null;
  resample?: P.Resample;
}

/** timm's _randomly_negate: `-v if random() > 0.5 else v`. */
const randomlyNegate = (v: number, rng: Rng) => (rng.random() > 0.5 ? -v : v);

/** timm's level→argument functions, by op. */
function levelToArg(op: RandAugmentOp, level: number, rng: Rng, translatePct: number): number | null {
  const frac = level / LEVEL_DENOM;
  switch (op) {
    case 'AutoContrast':
    case 'Equalize':
    case 'Invert':
      return null;
    case 'Rotate':
      return randomlyNegate(frac * 30, rng);
    case 'Posterize':
      return Math.trunc(frac * 4);
    case 'PosterizeIncreasing':
      return 4 - Math.trunc(frac * 4);
    // timm caps these (reachable with mmax > 10): the threshold at 256, so SolarizeIncreasing's stays ≥ 0,
    // and SolarizeAdd's amount at 128.
    case 'Solarize':
      return Math.min(256, Math.trunc(frac * 256));
    case 'SolarizeIncreasing':
      return 256 - Math.min(256, Math.trunc(frac * 256));
    case 'SolarizeAdd':
      return Math.min(128, Math.trunc(frac * 110));
    case 'Color':
    case 'Contrast':
    case 'Brightness':
    case 'Sharpness':
      return frac * 1.8 + 0.1;
    case 'ColorIncreasing':
    case 'ContrastIncreasing':
    case 'BrightnessIncreasing':
    case 'SharpnessIncreasing':
      return Math.max(0.1, 1.0 + randomlyNegate(frac * 0.9, rng));
    case 'ShearX':
    case 'ShearY':
      return randomlyNegate(frac * 0.3, rng);
    case 'TranslateXRel':
    case 'TranslateYRel':
      return randomlyNegate(frac * translatePct, rng);
  }
}

const GEOMETRIC = new Set<RandAugmentOp>(['Rotate', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel']);

function applyOp(img: PlanarImage, op: RandAugmentOp, arg: number | null, resample: P.Resample, fill: readonly number[]): PlanarImage {
  const a = arg ?? 0;
  switch (op) {
    case 'AutoContrast':
      return P.autoContrast(img);
    case 'Equalize':
      return P.equalize(img);
    case 'Invert':
      return P.invert(img);
    case 'Rotate':
      return P.rotate(img, a, resample, fill);
    case 'Posterize':
    case 'PosterizeIncreasing':
      return P.posterize(img, a);
    case 'Solarize':
    case 'SolarizeIncreasing':
      return P.solarize(img, a);
    case 'SolarizeAdd':
      return P.solarizeAdd(img, a);
    case 'Color':
    case 'ColorIncreasing':
      return P.enhanceColor(img, a);
    case 'Contrast':
    case 'ContrastIncreasing':
      return P.enhanceContrast(img, a);
    case 'Brightness':
    case 'BrightnessIncreasing':
      return P.enhanceBrightness(img, a);
    case 'Sharpness':
    case 'SharpnessIncreasing':
      return P.enhanceSharpness(img, a);
    // timm's shear_x/y and translate_x/y_rel: PIL affine data (output → input).
    case 'ShearX':
      return P.affine(img, [1, a, 0, 0, 1, 0], resample, fill);
    case 'ShearY':
      return P.affine(img, [1, 0, 0, a, 1, 0], resample, fill);
    case 'TranslateXRel':
      return P.affine(img, [1, 0, a * img.width, 0, 1, 0], resample, fill);
    case 'TranslateYRel':
      return P.affine(img, [1, 0, 0, 0, 1, a * img.height], resample, fill);
  }
}

export class RandAugment {
  readonly config: RandAugmentConfig;
  readonly ops: readonly RandAugmentOp[];
  private readonly fill: readonly [number, number, number];
  private readonly interpolation: P.Resample | 'random';
  private readonly translatePct: number;

  constructor(config: RandAugmentConfig | string, hparams: RandAugmentHparams) {
    this.config = typeof config === 'string' ? parseRandAugment(config) : config;
    this.ops = this.config.increasing ? RAND_INCREASING_TRANSFORMS : RAND_TRANSFORMS;
    const { fill, interpolation } = hparams;
    if (!Array.isArray(fill) || fill.length !== 3 || fill.some((v) => !Number.isInteger(v) || v < 0 || v > 255))
      throw new ConfigError(`RandAugment: fill must be three integers in [0, 255], got ${JSON.stringify(fill)}`);
    if (!['nearest', 'bilinear', 'bicubic', 'random'].includes(interpolation))
      throw new ConfigError(`RandAugment: interpolation must be nearest, bilinear, bicubic or random, got ${JSON.stringify(interpolation)}`);
    this.fill = fill;
    this.interpolation = interpolation;
    this.translatePct = hparams.translatePct ?? 0.45;
  }

  /** Augment one RGB image. `applied`, when given, receives the ops that ran, in order. */
  apply(img: PlanarImage, rng: Rng, applied?: AppliedOp[]): PlanarImage {
    if (img.channels !== 3) throw new ConfigError(`RandAugment: needs RGB images (3 channels), got ${img.channels}`);
    const { magnitude, magnitudeStd, magnitudeMax, prob, numOps } = this.config;
    // numpy's choice with replacement: the n ops are drawn before any is applied.
    const chosen = Array.from({ length: numOps }, () => this.ops[rng.int(this.ops.length)]!);
    let out = img;
    for (const op of chosen) {
      if (prob < 1 && rng.random() > prob) continue;
      let m = magnitude;
      if (magnitudeStd === Infinity) m = rng.uniform(0, m);
      else if (magnitudeStd > 0) m = rng.normal(m, magnitudeStd);
      m = Math.max(0, Math.min(m, magnitudeMax));
      const arg = levelToArg(op, m, rng, this.translatePct);
      let resample: P.Resample | undefined;
      if (GEOMETRIC.has(op)) resample = this.interpolation === 'random' ? (rng.int(2) === 0 ? 'bilinear' : 'bicubic') : this.interpolation;
      out = applyOp(out, op, arg, resample ?? 'nearest', this.fill);
      applied?.push(resample ? { op, magnitude: m, arg, resample } : { op, magnitude: m, arg });
    }
    return out === img ? { ...img, data: img.data.slice() } : out;
  }
}
