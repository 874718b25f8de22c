/**
 * timm's eval transform for pretrained weights, exactly as torchvision runs it on a PIL image:
 * Resize (shorter side to floor(size / crop_pct), the longer to floor(new_short · long / short), PIL
 * resampling with antialias) → CenterCrop(size) (offsets rounded as Python's round: half to even;
 * zero padding when the image is smaller) → ToTensor (/255) → Normalize ((x − mean) / std), all in
 * float32. 'squash' resizes both sides to the crop size. Pure data code over planar uint8 pixels.
 */
import { ConfigError } from '../errors.js';
import { resizeImage, type PlanarImage, type ResampleFilter } from './resample.js';

export interface EvalTransformConfig {
  /** [C, H, W] of the model input (C must be 3: images are RGB). */
  inputSize: readonly [number, number, number];
  /** Resize to size / cropPct before the centre crop (1: no margin). */
  cropPct: number;
  interpolation: ResampleFilter;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** 'center' (default): keep the aspect ratio, then crop; 'squash': resize to the crop size. */
  cropMode?: 'center' | 'squash';
  /** Channel order the model expects (ml-cvnets' MobileViT: BGR). Default RGB. */
  channelOrder?: 'RGB' | 'BGR';
}

/** Python's round(): halves go to the even neighbour (torchvision's crop offsets use it). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function checkTransformConfig(c: EvalTransformConfig): void {
  const [ch, h, w] = c.inputSize;
  if (ch !== 3 || !(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0))
    throw new ConfigError(`transform: inputSize must be [3, H, W] with positive integers, got [${c.inputSize}]`);
  if (!(c.cropPct > 0 && c.cropPct <= 4)) throw new ConfigError(`transform: cropPct must be in (0, 4], got ${c.cropPct}`);
  if (c.interpolation !== 'bicubic' && c.interpolation !== 'bilinear')
    throw new ConfigError(`transform: interpolation must be 'bicubic' or 'bilinear', got ${JSON.stringify(c.interpolation)}`);
  for (const [name, v] of [['mean', c.mean], ['std', c.std]] as const)
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x)))
      throw new ConfigError(`transform: ${name} must be three numbers, got ${JSON.stringify(v)}`);
  if (c.std.some((s) => s <= 0)) throw new ConfigError(`transform: std must be > 0, got [${c.std}]`);
  if (c.cropMode !== undefined && c.cropMode !== 'center' && c.cropMode !== 'squash')
    throw new ConfigError(`transform: cropMode '${c.cropMode}' is not supported (center, squash)`);
}

/** The size [width, height] torchvision's Resize gives `img` before the crop. */
function evalResizeSize(img: PlanarImage, c: EvalTransformConfig): [number, number] {
  const [, h, w] = c.inputSize;
  if (c.cropMode === 'squash') return [w, h];
  // timm: scale_size = floor(size / crop_pct); a square input keeps the aspect ratio (Resize(int)),
  // a non-square one is resized to both sides.
  const sh = Math.floor(h / c.cropPct);
  const sw = Math.floor(w / c.cropPct);
  if (sh !== sw) return [sw, sh];
  const short = Math.min(img.width, img.height);
  const long = Math.max(img.width, img.height);
  const newLong = Math.floor((sh * long) / short);
  return img.width <= img.height ? [sh, newLong] : [newLong, sh];
}

/** Where the centre crop of `inputSize` starts in an image `width`×`height` (negative: zero padding first). */
function cropOffsets(width: number, height: number, c: EvalTransformConfig): { top: number; left: number } {
  const [, h, w] = c.inputSize;
  // torchvision pads a too-small image first (left = (cw − iw) // 2), then crops at round((ih − ch) / 2).
  return {
    top: height >= h ? roundHalfEven((height - h) / 2) : -Math.floor((h - height) / 2),
    left: width >= w ? roundHalfEven((width - w) / 2) : -Math.floor((w - width) / 2),
  };
}

/** The resize before the crop: the size torchvision's Resize computes, resampled as PIL does. */
export function evalResize(img: PlanarImage, c: EvalTransformConfig): PlanarImage {
  const [width, height] = evalResizeSize(img, c);
  return resizeImage(img, width, height, c.interpolation);
}

/**
 * The whole eval transform: float32 planar [3, H, W]. The resize computes only the pixels the crop
 * keeps (the same pixels: about half the work for crop_pct 0.875).
 */
export function evalTransform(img: PlanarImage, c: EvalTransformConfig): Float32Array {
  const [width, height] = evalResizeSize(img, c);
  const [, h, w] = c.inputSize;
  const { top, left } = cropOffsets(width, height, c);
  if (top < 0 || left < 0) return cropNormalize(resizeImage(img, width, height, c.interpolation), c);
  return cropNormalize(resizeImage(img, width, height, c.interpolation, { left, top, width: w, height: h }), c);
}

/**
 * The eval transform's resize and centre crop, before normalisation: uint8 planar [3, H, W] (zero
 * padding where the image is smaller) — the pixels `evalTransform` normalises. For data sets kept as
 * bytes (the browser trainer's images).
 */
export function evalCrop(img: PlanarImage, c: EvalTransformConfig): PlanarImage {
  const [, h, w] = c.inputSize;
  const [width, height] = evalResizeSize(img, c);
  const { top, left } = cropOffsets(width, height, c);
  if (top >= 0 && left >= 0) return resizeImage(img, width, height, c.interpolation, { left, top, width: w, height: h });
  const resized = resizeImage(img, width, height, c.interpolation);
  const out = new Uint8Array(3 * h * w);
  for (let ch = 0; ch < 3; ch++)
    for (let y = 0; y < h; y++) {
      const sy = y + top;
      if (sy < 0 || sy >= height) continue;
      for (let x = 0; x < w; x++) {
        const sx = x + left;
        if (sx >= 0 && sx < width) out[(ch * h + y) * w + x] = resized.data[(ch * height + sy) * width + sx]!;
      }
    }
  return { data: out, channels: 3, height: h, width: w };
}

/** Centre crop (zero padding where the image is smaller), /255, normalise; float32 planar [3, H, W]. */
export function cropNormalize(img: PlanarImage, c: EvalTransformConfig): Float32Array {
  const [, h, w] = c.inputSize;
  const { top, left } = cropOffsets(img.width, img.height, c);
  const out = new Float32Array(3 * h * w);
  const bgr = c.channelOrder === 'BGR';
  for (let ch = 0; ch < 3; ch++) {
    const srcCh = bgr ? 2 - ch : ch;
    const plane = srcCh * img.height * img.width;
    // mean/std are per model-input channel (after any reordering).
    const lut = normalizeLut(c.mean[ch]!, c.std[ch]!);
    for (let y = 0; y < h; y++) {
      const sy = y + top;
      for (let x = 0; x < w; x++) {
        const sx = x + left;
        const v = sy >= 0 && sy < img.height && sx >= 0 && sx < img.width ? img.data[plane + sy * img.width + sx]! : 0;
        out[(ch * h + y) * w + x] = lut[v]!;
      }
    }
  }
  return out;
}

/**
 * What torch's ToTensor + Normalize make of each uint8 level: (v / 255 − mean) / std with every step
 * rounded to float32, as a 256-entry table.
 */
export function normalizeLut(mean: number, std: number): Float32Array {
  const m = Math.fround(mean);
  const s = Math.fround(std);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  return lut;
}

/**
 * A whole RGB image (already at the model's input size) normalised into `out` at `offset`
 * (float32 planar; channels reversed for 'BGR' models).
 */
export function normalizeInto(
  img: PlanarImage,
  mean: readonly number[],
  std: readonly number[],
  out: Float32Array,
  offset = 0,
  channelOrder: 'RGB' | 'BGR' = 'RGB',
): void {
  const plane = img.height * img.width;
  for (let ch = 0; ch < 3; ch++) {
    const lut = normalizeLut(mean[ch]!, std[ch]!);
    const src = (channelOrder === 'BGR' ? 2 - ch : ch) * plane;
    const dst = offset + ch * plane;
    for (let i = 0; i < plane; i++) out[dst + i] = lut[img.data[src + i]!]!;
  }
}
