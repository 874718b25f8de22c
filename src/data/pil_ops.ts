/**
 * The PIL image operations that timm's training augmentations call (RandAugment's ops, torchvision's
 * ColorJitter on PIL images), reproduced on planar (CHW) uint8 images with PIL's own arithmetic, so
 * that an augmented image has the pixels PIL would give for the same parameters:
 *
 *  - `affine`: `Image.transform(size, AFFINE, matrix, resample, fillcolor=fill)` (Pillow's
 *    libImaging/Geometry.c). Each output pixel (x, y) samples the input at
 *    (a0·(x+½) + a1·(y+½) + a2, a3·(x+½) + a4·(y+½) + a5); a sample point outside [0, w)×[0, h) gives
 *    the fill colour (Image.transform pre-fills the output with `fillcolor`). Bilinear and bicubic
 *    run PIL's generic transform filters in double precision (bicubic with a = −1, edge taps clamped,
 *    rows below the image repeating the previous row's value, as PIL does), truncated to uint8;
 *    nearest runs PIL's special paths: the float "scale" path when the matrix has no shear terms, the
 *    16.16 fixed-point path otherwise.
 *  - `rotate`: `Image.rotate(angle, resample, fillcolor)` — the exact 0/90/180/270° transposes, else
 *    the affine above with PIL's matrix (cos/sin rounded to 15 decimals, about the image centre).
 *  - point operations (`ImageOps.autocontrast/equalize/invert/solarize/posterize`, timm's
 *    `solarize_add`) as per-channel lookup tables built the way ImageOps builds them;
 *  - `ImageEnhance.Color/Contrast/Brightness/Sharpness`: `Image.blend(degenerate, image, factor)` in
 *    float32 (PIL's C `float alpha`), truncated, clipped when extrapolating; the degenerate images are
 *    PIL's: `convert('L')` (ITU-R 601-2 luma in 16-bit fixed point), the rounded mean of the L
 *    histogram, black, and the 3×3 SMOOTH filter (float32 kernel 1/13·[1 1 1; 1 5 1; 1 1 1],
 *    borders copied).
 * Colour operations need 3 channels (RGB); the geometric ones take any channel count.
 * Pure data code: no Node imports.
 */
import { ConfigError } from '../errors.js';
import type { PlanarImage } from './resample.js';

export type Resample = 'nearest' | 'bilinear' | 'bicubic';

/** PIL's affine data (a0, a1, a2, a3, a4, a5): output pixel → input coordinates. */
export type AffineMatrix = readonly [number, number, number, number, number, number];

function blank(img: PlanarImage): PlanarImage {
  return { data: new Uint8Array(img.data.length), channels: img.channels, height: img.height, width: img.width };
}

function copyImage(img: PlanarImage): PlanarImage {
  return { data: img.data.slice(), channels: img.channels, height: img.height, width: img.width };
}

function checkRgb(fn: string, img: PlanarImage): void {
  if (img.channels !== 3) throw new ConfigError(`${fn}: needs an RGB image (3 channels), got ${img.channels}`);
}

/** An image of `img`'s size filled with one value per channel. */
function filled(img: PlanarImage, fill: readonly number[]): PlanarImage {
  const out = blank(img);
  const plane = img.height * img.width;
  if (fill.length !== img.channels) throw new ConfigError(`fill colour has ${fill.length} values for ${img.channels} channels`);
  for (let c = 0; c < img.channels; c++) out.data.fill(fill[c]!, c * plane, (c + 1) * plane);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Geometry

/** PIL's COORD(v): −1 for negative values, else truncation. */
const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v));

/** `Image.transform(img.size, AFFINE, m, resample, fillcolor=fill)`. */
export function affine(img: PlanarImage, m: AffineMatrix, resample: Resample, fill: readonly number[]): PlanarImage {
  const out = filled(img, fill);
  if (resample === 'nearest') {
    if (m[1] === 0 && m[3] === 0) nearestScale(img, m, out);
    else nearestAffine(img, m, out);
  } else {
    genericTransform(img, m, resample === 'bilinear' ? bilinearSample : bicubicSample, out);
  }
  return out;
}

/** Reads channel `c` of `img` at the (already range-checked) point (xin, yin) and writes out[o]. */
type Sampler = (img: PlanarImage, xin: number, yin: number, out: Uint8Array, o: number, plane: number) => void;

/** PIL's ImagingGenericTransform with the affine map: pixels whose sample point lies outside keep the fill. */
function genericTransform(img: PlanarImage, m: AffineMatrix, sample: Sampler, out: PlanarImage): void {
  const { width: w, height: h } = img;
  const plane = w * h;
  const [a0, a1, a2, a3, a4, a5] = m;
  for (let y = 0; y < h; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < w; x++) {
      const xc = x + 0.5;
      const xin = a0 * xc + a1 * yc + a2;
      const yin = a3 * xc + a4 * yc + a5;
      // The filters' own range test, before they shift by −½.
      if (xin < 0 || xin >= w || yin < 0 || yin >= h) continue;
      sample(img, xin, yin, out.data, y * w + x, plane);
    }
  }
}

const clampIndex = (v: number, size: number) => (v < 0 ? 0 : v < size ? v : size - 1);

/** bilinear_filter32RGB: rows y and y+1 (the second only when inside), x taps clamped; result truncated. */
const bilinearSample: Sampler = (img, xin, yin, out, o, plane) => {
  const { width: w, height: h, data } = img;
  const xs = xin - 0.5;
  const ys = yin - 0.5;
  const x = Math.floor(xs);
  const y = Math.floor(ys);
  const dx = xs - x;
  const dy = ys - y;
  const x0 = clampIndex(x, w);
  const x1 = clampIndex(x + 1, w);
  const row0 = clampIndex(y, h) * w;
  const hasRow1 = y + 1 >= 0 && y + 1 < h;
  const row1 = (y + 1) * w;
  for (let c = 0; c < img.channels; c++) {
    const p = c * plane;
    let v1 = data[p + row0 + x0]! + (data[p + row0 + x1]! - data[p + row0 + x0]!) * dx;
    const v2 = hasRow1 ? data[p + row1 + x0]! + (data[p + row1 + x1]! - data[p + row1 + x0]!) * dx : v1;
    v1 = v1 + (v2 - v1) * dy;
    out[c * plane + o] = Math.trunc(v1);
  }
};

/** PIL's BICUBIC macro: the a = −1 cubic through four samples at fraction d (operation order kept). */
function cubic(v1: number, v2: number, v3: number, v4: number, d: number): number {
  const p1 = v2;
  const p2 = -v1 + v3;
  const p3 = 2 * (v1 - v2) + v3 - v4;
  const p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

/**
 * bicubic_filter32RGB: four x taps clamped to the image; the first row clamped, each further row
 * read only when inside the image and otherwise repeating the previous row's value; clipped to
 * [0, 255] and truncated.
 */
const bicubicSample: Sampler = (img, xin, yin, out, o, plane) => {
  const { width: w, height: h, data } = img;
  const xs = xin - 0.5;
  const ys = yin - 0.5;
  const fx = Math.floor(xs);
  const fy = Math.floor(ys);
  const dx = xs - fx;
  const dy = ys - fy;
  const x = fx - 1;
  const y = fy - 1;
  const xa = clampIndex(x, w);
  const xb = clampIndex(x + 1, w);
  const xc = clampIndex(x + 2, w);
  const xd = clampIndex(x + 3, w);
  // Row offsets; −1 marks a row outside the image (its value repeats the previous row's).
  const r0 = clampIndex(y, h) * w;
  const r1 = y + 1 >= 0 && y + 1 < h ? (y + 1) * w : -1;
  const r2 = y + 2 >= 0 && y + 2 < h ? (y + 2) * w : -1;
  const r3 = y + 3 >= 0 && y + 3 < h ? (y + 3) * w : -1;
  for (let c = 0; c < img.channels; c++) {
    const p = c * plane;
    let b = p + r0;
    const v1 = cubic(data[b + xa]!, data[b + xb]!, data[b + xc]!, data[b + xd]!, dx);
    b = p + r1;
    const v2 = r1 < 0 ? v1 : cubic(data[b + xa]!, data[b + xb]!, data[b + xc]!, data[b + xd]!, dx);
    b = p + r2;
    const v3 = r2 < 0 ? v2 : cubic(data[b + xa]!, data[b + xb]!, data[b + xc]!, data[b + xd]!, dx);
    b = p + r3;
    const v4 = r3 < 0 ? v3 : cubic(data[b + xa]!, data[b + xb]!, data[b + xc]!, data[b + xd]!, dx);
    const v = cubic(v1, v2, v3, v4, dy);
    out[c * plane + o] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
};

/** ImagingScaleAffine (nearest, no shear terms): column table from a running double, rows likewise. */
function nearestScale(img: PlanarImage, m: AffineMatrix, out: PlanarImage): void {
  const { width: w, height: h, channels, data } = img;
  const plane = w * h;
  const xintab = new Int32Array(w);
  let xmin = w;
  let xmax = 0;
  let xo = m[2] + m[0] * 0.5;
  for (let x = 0; x < w; x++) {
    const xin = coord(xo);
    if (xin >= 0 && xin < w) {
      xmax = x + 1;
      if (x < xmin) xmin = x;
      xintab[x] = xin;
    }
    xo += m[0];
  }
  let yo = m[5] + m[4] * 0.5;
  for (let y = 0; y < h; y++) {
    const yi = coord(yo);
    if (yi >= 0 && yi < h)
      for (let c = 0; c < channels; c++) {
        const src = c * plane + yi * w;
        const dst = c * plane + y * w;
        for (let x = xmin; x < xmax; x++) out.data[dst + x] = data[src + xintab[x]!]!;
      }
    yo += m[4];
  }
}

/**
 * Nearest with shear/rotation: PIL's 16.16 fixed-point path (taken whenever the corners' input
 * coordinates stay below 32768 in magnitude), else its running-double path.
 */
function nearestAffine(img: PlanarImage, m: AffineMatrix, out: PlanarImage): void {
  const { width: w, height: h, channels, data } = img;
  const plane = w * h;
  const copyPixel = (x: number, y: number, xin: number, yin: number) => {
    for (let c = 0; c < channels; c++) out.data[c * plane + y * w + x] = data[c * plane + yin * w + xin]!;
  };
  const fits = (x: number, y: number) => Math.abs(x * m[0] + y * m[1] + m[2]) < 32768 && Math.abs(x * m[3] + y * m[4] + m[5]) < 32768;
  if (fits(0, 0) && fits(w, h) && fits(0, h) && fits(w, 0)) {
    const fix = (v: number) => Math.floor(v * 65536 + 0.5) | 0;
    const f0 = fix(m[0]);
    const f1 = fix(m[1]);
    const f3 = fix(m[3]);
    const f4 = fix(m[4]);
    let f2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5);
    let f5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5);
    for (let y = 0; y < h; y++) {
      let xx = f2;
      let yy = f5;
      for (let x = 0; x < w; x++) {
        const xin = xx >> 16;
        if (xin >= 0 && xin < w) {
          const yin = yy >> 16;
          if (yin >= 0 && yin < h) copyPixel(x, y, xin, yin);
        }
        xx = (xx + f0) | 0;
        yy = (yy + f3) | 0;
      }
      f2 = (f2 + f1) | 0;
      f5 = (f5 + f4) | 0;
    }
    return;
  }
  let xo = m[2] + m[1] * 0.5 + m[0] * 0.5;
  let yo = m[5] + m[4] * 0.5 + m[3] * 0.5;
  for (let y = 0; y < h; y++) {
    let xx = xo;
    let yy = yo;
    for (let x = 0; x < w; x++) {
      const xin = coord(xx);
      if (xin >= 0 && xin < w) {
        const yin = coord(yy);
        if (yin >= 0 && yin < h) copyPixel(x, y, xin, yin);
      }
      xx += m[0];
      yy += m[3];
    }
    xo += m[1];
    yo += m[4];
  }
}

/** Python's round(x, 15): the double nearest to x rounded to 15 decimals (toFixed rounds the exact value). */
function round15(x: number): number {
  return Number(x.toFixed(15));
}

/** Rotate a square image by a multiple of 90° (counter-clockwise, as PIL's ROTATE_90/180/270). */
function transposeRotate(img: PlanarImage, quarterTurns: 1 | 2 | 3): PlanarImage {
  const { width: w, height: h, channels, data } = img;
  const out = blank(img);
  const plane = w * h;
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = data[c * plane + y * w + x]!;
        // ROTATE_90: in(y, x) → out(w−1−x, y); ROTATE_180: → out(h−1−y, w−1−x); ROTATE_270: → out(x, h−1−y).
        const o = quarterTurns === 1 ? (w - 1 - x) * h + y : quarterTurns === 2 ? (h - 1 - y) * w + (w - 1 - x) : x * h + (h - 1 - y);
        out.data[c * plane + o] = v;
      }
  return out;
}

/** `Image.rotate(angle, resample, fillcolor=fill)` about the centre, same size (counter-clockwise degrees). */
export function rotate(img: PlanarImage, degrees: number, resample: Resample, fill: readonly number[]): PlanarImage {
  // Python's float modulo: the result takes the divisor's sign.
  const angle = ((degrees % 360) + 360) % 360;
  if (angle === 0) return copyImage(img);
  if (angle === 180) return transposeRotate(img, 2);
  if ((angle === 90 || angle === 270) && img.width === img.height) return transposeRotate(img, angle === 90 ? 1 : 3);
  const rad = -(angle * (Math.PI / 180));
  const a = round15(Math.cos(rad));
  const b = round15(Math.sin(rad));
  const d = round15(-Math.sin(rad));
  const e = round15(Math.cos(rad));
  const cx = img.width / 2;
  const cy = img.height / 2;
  const c = a * -cx + b * -cy + 0 + cx;
  const f = d * -cx + e * -cy + 0 + cy;
  return affine(img, [a, b, c, d, e, f], resample, fill);
}

// ---------------------------------------------------------------------------------------------
// Point operations (per-channel lookup tables)

/** `image.point(lut)`: one 256-entry table per channel (or one for all). */
export function applyLut(img: PlanarImage, luts: ArrayLike<number>[]): PlanarImage {
  const out = blank(img);
  const plane = img.height * img.width;
  for (let c = 0; c < img.channels; c++) {
    const lut = luts.length === 1 ? luts[0]! : luts[c]!;
    const s = c * plane;
    for (let i = 0; i < plane; i++) out.data[s + i] = lut[img.data[s + i]!]!;
  }
  return out;
}

/** 256-bin histogram of each channel. */
export function histograms(img: PlanarImage): Int32Array[] {
  const plane = img.height * img.width;
  return Array.from({ length: img.channels }, (_, c) => {
    const h = new Int32Array(256);
    for (let i = c * plane; i < (c + 1) * plane; i++) h[img.data[i]!]!++;
    return h;
  });
}

const identityLut = () => Uint8Array.from({ length: 256 }, (_, i) => i);

/** ImageOps.autocontrast(img) (cutoff 0): each channel stretched so its lowest/highest used levels become 0/255. */
export function autoContrast(img: PlanarImage): PlanarImage {
  const luts = histograms(img).map((h) => {
    let lo = 0;
    while (lo < 255 && h[lo] === 0) lo++;
    let hi = 255;
    while (hi > 0 && h[hi] === 0) hi--;
    if (hi <= lo) return identityLut();
    const scale = 255.0 / (hi - lo);
    const offset = -lo * scale;
    return Uint8Array.from({ length: 256 }, (_, ix) => {
      const v = Math.trunc(ix * scale + offset);
      return v < 0 ? 0 : v > 255 ? 255 : v;
    });
  });
  return applyLut(img, luts);
}

/** ImageOps.equalize(img): per channel, the cumulative histogram (without the last used level) in 255 buckets of `step` pixels. */
export function equalize(img: PlanarImage): PlanarImage {
  const luts = histograms(img).map((h) => {
    const used = Array.from(h).filter((v) => v !== 0);
    if (used.length <= 1) return identityLut();
    const step = Math.floor((used.reduce((a, b) => a + b, 0) - used[used.length - 1]!) / 255);
    if (step === 0) return identityLut();
    const lut = new Uint8Array(256);
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      // n // step can pass 255 for the last levels; PIL's point() stores the table's values as bytes
      // clipped to [0, 255].
      lut[i] = Math.min(255, Math.floor(n / step));
      n += h[i]!;
    }
    return lut;
  });
  return applyLut(img, luts);
}

export function invert(img: PlanarImage): PlanarImage {
  return applyLut(img, [Uint8Array.from({ length: 256 }, (_, i) => 255 - i)]);
}

/** ImageOps.solarize: levels at or above `threshold` are inverted. */
export function solarize(img: PlanarImage, threshold: number): PlanarImage {
  return applyLut(img, [Uint8Array.from({ length: 256 }, (_, i) => (i < threshold ? i : 255 - i))]);
}

/** timm's solarize_add: levels below `threshold` get `add` (capped at 255). */
export function solarizeAdd(img: PlanarImage, add: number, threshold = 128): PlanarImage {
  return applyLut(img, [Uint8Array.from({ length: 256 }, (_, i) => (i < threshold ? Math.min(255, i + add) : i))]);
}

/** ImageOps.posterize: keep the `bits` most significant bits (timm leaves the image alone for bits ≥ 8). */
export function posterize(img: PlanarImage, bits: number): PlanarImage {
  if (bits >= 8) return copyImage(img);
  const mask = ~(2 ** (8 - bits) - 1) & 0xff;
  return applyLut(img, [Uint8Array.from({ length: 256 }, (_, i) => i & mask)]);
}

// ---------------------------------------------------------------------------------------------
// Blends and ImageEnhance

/**
 * `Image.blend(a, b, alpha)`: a + alpha·(b − a) in float32 (PIL's `float alpha`), truncated to a
 * byte; clipped to [0, 255] when alpha lies outside [0, 1] (extrapolation).
 */
export function blend(a: PlanarImage, b: PlanarImage, alpha: number): PlanarImage {
  const al = Math.fround(alpha);
  if (al === 0) return copyImage(a);
  if (al === 1) return copyImage(b);
  const out = blank(b);
  const A = a.data;
  const B = b.data;
  const O = out.data;
  const inside = al >= 0 && al <= 1;
  for (let i = 0; i < O.length; i++) {
    const v = Math.fround(A[i]! + Math.fround(al * (B[i]! - A[i]!)));
    O[i] = inside ? Math.trunc(v) : v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
  return out;
}

/** `convert('L')`: L = (19595·R + 38470·G + 7471·B + 2^15) >> 16, one plane. */
export function luma(img: PlanarImage): Uint8Array {
  checkRgb('luma', img);
  const plane = img.height * img.width;
  const d = img.data;
  const out = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) out[i] = (d[i]! * 19595 + d[plane + i]! * 38470 + d[2 * plane + i]! * 7471 + 0x8000) >> 16;
  return out;
}

/** ImageEnhance.Color: blend with `convert('L').convert('RGB')` (0: grayscale, 1: unchanged). */
export function enhanceColor(img: PlanarImage, factor: number): PlanarImage {
  const l = luma(img);
  const gray = blank(img);
  for (let c = 0; c < 3; c++) gray.data.set(l, c * l.length);
  return blend(gray, img, factor);
}

/** ImageEnhance.Contrast: blend with a flat image at the rounded mean of the L histogram. */
export function enhanceContrast(img: PlanarImage, factor: number): PlanarImage {
  const l = luma(img);
  let sum = 0;
  for (let i = 0; i < l.length; i++) sum += l[i]!;
  const mean = Math.trunc(sum / l.length + 0.5);
  return blend(filled(img, [mean, mean, mean]), img, factor);
}

/** ImageEnhance.Brightness: blend with black. */
export function enhanceBrightness(img: PlanarImage, factor: number): PlanarImage {
  checkRgb('enhanceBrightness', img);
  return blend(blank(img), img, factor);
}

/** ImageEnhance.Sharpness: blend with the SMOOTH-filtered image (0: smoothed, 1: unchanged, 2: sharpened). */
export function enhanceSharpness(img: PlanarImage, factor: number): PlanarImage {
  checkRgb('enhanceSharpness', img);
  return blend(smooth(img), img, factor);
}

/**
 * `img.filter(ImageFilter.SMOOTH)`: PIL's ImagingFilter3x3 in float32 — per pixel 0.5 + the rows
 * below, at and above the pixel (each a three-tap sum), truncated after clamping; the outermost rows
 * and columns are copied unfiltered.
 */
export function smooth(img: PlanarImage): PlanarImage {
  const { width: w, height: h, channels } = img;
  if (w < 3 || h < 3) return copyImage(img);
  const e = Math.fround(1 / 13);
  const m = Math.fround(5 / 13);
  const out = copyImage(img);
  const plane = w * h;
  const f = Math.fround;
  for (let c = 0; c < channels; c++) {
    const d = img.data.subarray(c * plane, (c + 1) * plane);
    const o = out.data.subarray(c * plane, (c + 1) * plane);
    for (let y = 1; y < h - 1; y++) {
      const below = (y + 1) * w;
      const at = y * w;
      const above = (y - 1) * w;
      for (let x = 1; x < w - 1; x++) {
        // Kernel rows 0..2 apply to the rows below, at and above the pixel (the SMOOTH kernel is
        // symmetric; the order matters only for the float32 sums).
        let ss = f(0.5);
        ss = f(ss + f(f(f(d[below + x - 1]! * e) + f(d[below + x]! * e)) + f(d[below + x + 1]! * e)));
        ss = f(ss + f(f(f(d[at + x - 1]! * e) + f(d[at + x]! * m)) + f(d[at + x + 1]! * e)));
        ss = f(ss + f(f(f(d[above + x - 1]! * e) + f(d[above + x]! * e)) + f(d[above + x + 1]! * e)));
        o[at + x] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(ss);
      }
    }
  }
  return out;
}
