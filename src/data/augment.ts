/**
 * The training augmentations of timm's `transforms_imagenet_train` other than RandAugment, each a
 * function of an image and a seeded `Rng` (so a sample's augmentation is reproducible and needs no
 * state besides the seed):
 *  - RandomResizedCrop (timm's RandomResizedCropAndInterpolation.get_params: 10 tries of a
 *    uniform area fraction and log-uniform aspect ratio, Python's round for the sides, then the
 *    centre-crop fallback) followed by PIL's resize of the crop (resample.ts, exact);
 *  - horizontal flip (PIL's FLIP_LEFT_RIGHT, with probability p);
 *  - colour jitter (torchvision's ColorJitter on PIL images: brightness, contrast and saturation
 *    factors uniform in [max(0, 1 − v), 1 + v], applied in a random order, with PIL's ImageEnhance);
 *  - random erasing (timm's RandomErasing on the normalised float tensor: probability, area and
 *    log-uniform aspect ranges, 10 tries per box, per-pixel / per-channel normal or zero fill,
 *    1..max boxes, each box's area range divided by the box count).
 * Python's `random.uniform(a, b)` is `a + (b − a)·random()`, `random.randint(a, b)` includes b.
 */
import { ConfigError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { roundHalfEven } from './image_transform.js';
import { enhanceBrightness, enhanceColor, enhanceContrast } from './pil_ops.js';
import { resizeImage, type PlanarImage, type ResampleFilter } from './resample.js';
import { horizontalFlip } from './transforms.js';

const checkProbability = (fn: string, name: string, p: number) => {
  if (!(typeof p === 'number' && p >= 0 && p <= 1)) throw new ConfigError(`${fn}: \`${name}\` is a probability in [0, 1], got ${p}`);
};

function checkRange(fn: string, name: string, r: readonly [number, number], lowest: number): void {
  if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => typeof v === 'number' && Number.isFinite(v)) || r[0] < lowest || r[0] > r[1])
    throw new ConfigError(`${fn}: \`${name}\` must be [min, max] with ${lowest} ≤ min ≤ max, got ${JSON.stringify(r)}`);
}

// ---------------------------------------------------------------------------------------------
// RandomResizedCrop

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image (timm default [0.08, 1]). */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio w/h, sampled log-uniformly (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
  /** PIL filter of the resize; 'random' picks bilinear or bicubic per image, as timm (default bicubic). */
  interpolation?: ResampleFilter | 'random';
}

export const DEFAULT_SCALE: readonly [number, number] = [0.08, 1];
export const DEFAULT_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/** ConfigError unless scale and ratio are [min, max] ranges (scale ≥ 0, ratio > 0). */
export function checkCropRanges(scale: readonly [number, number], ratio: readonly [number, number]): void {
  checkRange('randomResizedCrop', 'scale', scale, 0);
  checkRange('randomResizedCrop', 'ratio', ratio, Number.MIN_VALUE);
}

/**
 * The crop box of timm's RandomResizedCropAndInterpolation.get_params for a width×height image.
 * Draws per try: area fraction, log-aspect, and (on success) top then left.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Rng,
  scale: readonly [number, number] = DEFAULT_SCALE,
  ratio: readonly [number, number] = DEFAULT_RATIO,
): CropBox {
  checkCropRanges(scale, ratio);
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = rng.uniform(scale[0], scale[1]) * area;
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w <= width && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  // Fallback: the largest centred crop whose aspect ratio lies in the range.
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** The pixels of `box` (inside the image), as PIL's `img.crop`. */
export function crop(img: PlanarImage, box: CropBox): PlanarImage {
  const { top, left, height, width } = box;
  if (top < 0 || left < 0 || top + height > img.height || left + width > img.width || height < 1 || width < 1)
    throw new ConfigError(`crop: box ${width}×${height} at (${left}, ${top}) is not inside the ${img.width}×${img.height} image`);
  const out = new Uint8Array(img.channels * height * width);
  for (let c = 0; c < img.channels; c++)
    for (let y = 0; y < height; y++) {
      const src = (c * img.height + top + y) * img.width + left;
      out.set(img.data.subarray(src, src + width), (c * height + y) * width);
    }
  return { data: out, channels: img.channels, height, width };
}

/** RandomResizedCrop to `size` (height, width): the box, a random filter if asked, then PIL's resize. */
export function randomResizedCrop(img: PlanarImage, size: readonly [number, number], rng: Rng, o: RandomResizedCropOptions = {}): PlanarImage {
  const box = randomResizedCropBox(img.width, img.height, rng, o.scale, o.ratio);
  const interpolation = o.interpolation ?? 'bicubic';
  const filter: ResampleFilter = interpolation === 'random' ? (rng.int(2) === 0 ? 'bilinear' : 'bicubic') : interpolation;
  return resizeImage(crop(img, box), size[1], size[0], filter);
}

/** RandomHorizontalFlip(p): `random() < p` mirrors the image; otherwise it is returned as is. */
export function randomHorizontalFlip(img: PlanarImage, p: number, rng: Rng): PlanarImage {
  checkProbability('randomHorizontalFlip', 'p', p);
  if (!(rng.random() < p)) return img;
  return { ...img, data: horizontalFlip(img.data, img.height, img.width, img.channels) };
}

// ---------------------------------------------------------------------------------------------
// Colour jitter

export interface ColorJitterOptions {
  brightness?: number;
  contrast?: number;
  saturation?: number;
}

/**
 * torchvision's ColorJitter(brightness, contrast, saturation) on an RGB image: the order of the
 * three adjustments is a random permutation (of four slots: hue is the fourth and is not
 * supported), then each factor is uniform in [max(0, 1 − v), 1 + v] (drawn in the order
 * brightness, contrast, saturation); a strength of 0 leaves that adjustment out.
 */
export function colorJitter(img: PlanarImage, o: ColorJitterOptions, rng: Rng): PlanarImage {
  const strengths = [o.brightness ?? 0, o.contrast ?? 0, o.saturation ?? 0];
  strengths.forEach((v, i) => {
    if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v)))
      throw new ConfigError(`colorJitter: \`${['brightness', 'contrast', 'saturation'][i]}\` must be a non-negative number, got ${v}`);
  });
  const order = rng.permutation(4);
  const factors = strengths.map((v) => (v > 0 ? rng.uniform(Math.max(0, 1 - v), 1 + v) : null));
  const adjust = [enhanceBrightness, enhanceContrast, enhanceColor];
  let out = img;
  for (const k of order) {
    const f = factors[k];
    if (k < 3 && f !== null && f !== undefined) out = adjust[k]!(out, f);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Random erasing

export interface RandomErasingOptions {
  /** Probability of erasing anything in an image (timm's re_prob). */
  probability: number;
  /** Range of the erased area as a fraction of the image (default [0.02, 1/3]). */
  area?: readonly [number, number];
  /** Range of the boxes' aspect ratio h/w, sampled log-uniformly (default [0.3, 1/0.3]). */
  aspect?: readonly [number, number];
  /** 'pixel': per-pixel N(0, 1) (default); 'rand': one N(0, 1) per channel; 'const': zeros. */
  mode?: 'pixel' | 'rand' | 'const';
  /** Number of boxes: minCount..maxCount, uniform (default 1..minCount). */
  minCount?: number;
  maxCount?: number;
}

export type ErasedBox = CropBox;

/** Check the options once (also done by `randomErasing`); returns them with the defaults filled in. */
export function erasingOptions(o: RandomErasingOptions): Required<RandomErasingOptions> {
  const fn = 'randomErasing';
  checkProbability(fn, 'probability', o.probability);
  const area = o.area ?? [0.02, 1 / 3];
  checkRange(fn, 'area', area, 0);
  if (area[1] > 1) throw new ConfigError(`${fn}: \`area\` fractions must be at most 1, got ${JSON.stringify(area)}`);
  const aspect = o.aspect ?? [0.3, 1 / 0.3];
  checkRange(fn, 'aspect', aspect, Number.MIN_VALUE);
  const mode = o.mode ?? 'pixel';
  if (!['pixel', 'rand', 'const'].includes(mode)) throw new ConfigError(`${fn}: \`mode\` must be pixel, rand or const, got ${JSON.stringify(mode)}`);
  const minCount = o.minCount ?? 1;
  const maxCount = o.maxCount ?? minCount;
  if (!Number.isInteger(minCount) || minCount < 1 || !Number.isInteger(maxCount) || maxCount < minCount)
    throw new ConfigError(`${fn}: counts must be integers with 1 ≤ minCount ≤ maxCount, got ${minCount}..${maxCount}`);
  return { probability: o.probability, area, aspect, mode, minCount, maxCount };
}

/**
 * timm's RandomErasing on one normalised CHW float32 image, in place. Returns the erased boxes.
 * Draws: `random() > probability` skips the image; the box count (only when min ≠ max); per box up
 * to 10 tries of (area fraction, log-aspect), Python-rounded sides that must be strictly smaller
 * than the image, then top, left and the fill values (channel-major, row-major).
 */
export function randomErasing(x: Float32Array, channels: number, height: number, width: number, options: RandomErasingOptions, rng: Rng): ErasedBox[] {
  const o = erasingOptions(options);
  if (x.length !== channels * height * width)
    throw new ConfigError(`randomErasing: ${x.length} values for a ${channels}×${height}×${width} image`);
  if (rng.random() > o.probability) return [];
  const area = height * width;
  const count = o.minCount === o.maxCount ? o.minCount : o.minCount + rng.int(o.maxCount - o.minCount + 1);
  const logAspect = [Math.log(o.aspect[0]), Math.log(o.aspect[1])] as const;
  const boxes: ErasedBox[] = [];
  for (let k = 0; k < count; k++) {
    for (let attempt = 0; attempt < 10; attempt++) {
      const targetArea = (rng.uniform(o.area[0], o.area[1]) * area) / count;
      const aspect = Math.exp(rng.uniform(logAspect[0], logAspect[1]));
      const h = roundHalfEven(Math.sqrt(targetArea * aspect));
      const w = roundHalfEven(Math.sqrt(targetArea / aspect));
      if (w < width && h < height) {
        const top = rng.int(height - h + 1);
        const left = rng.int(width - w + 1);
        const perChannel = o.mode === 'rand' ? Array.from({ length: channels }, () => Math.fround(rng.normal())) : null;
        for (let c = 0; c < channels; c++)
          for (let y = top; y < top + h; y++) {
            const row = (c * height + y) * width;
            for (let xx = left; xx < left + w; xx++)
              x[row + xx] = o.mode === 'pixel' ? rng.normal() : o.mode === 'rand' ? perChannel![c]! : 0;
          }
        boxes.push({ top, left, height: h, width: w });
        break;
      }
    }
  }
  return boxes;
}
