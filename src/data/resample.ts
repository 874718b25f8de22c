/**
 * PIL's resize of 8-bit images (Pillow's libImaging/Resample.c), reproduced in TypeScript so that
 * Node and the browser give the same pixels as torchvision/timm eval transforms (which call
 * `PIL.Image.resize`). Written here rather than taken from an image library because exactness
 * demands PIL's own arithmetic, which no library reproduces (sharp/libvips, canvas and the
 * browsers all resample differently):
 *   - separable filtering, horizontal pass first (only over the rows the vertical pass reads), its
 *     result rounded back to uint8, then the vertical pass;
 *   - antialiasing: when shrinking, the filter's support is stretched by the scale factor;
 *   - per output pixel, weights from the filter evaluated at (x + xmin − center + 0.5) / filterscale,
 *     normalised to sum 1 in double precision, then converted to 22-bit fixed point (rounded half
 *     away from zero), accumulated in integers from a rounding bias of 1 << 21, shifted and clipped.
 * Pixels are planar (CHW) uint8, as `loadImage` returns them.
 */
export type ResampleFilter = 'bilinear' | 'bicubic';

/** Fixed-point precision of PIL's 8-bit path: 32 − 8 − 2 bits. */
const PRECISION_BITS = 22;

interface Filter {
  support: number;
  weight(x: number): number;
}

const FILTERS: Record<ResampleFilter, Filter> = {
  bilinear: {
    support: 1,
    weight(x) {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    // Keys' cubic convolution with a = −0.5 (PIL's choice; ORT's Resize uses −0.75).
    support: 2,
    weight(x) {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

/** Per output pixel: first input index, tap count, and the fixed-point weights (ksize per pixel). */
interface Coefficients {
  ksize: number;
  bounds: Int32Array;
  weights: Int32Array;
}

/** PIL's precompute_coeffs + normalize_coeffs_8bpc for resizing `inSize` → `outSize` (whole image). */
function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    // C's (int) cast truncates toward zero; center ± support + 0.5 is ≥ 0.5 − support here.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      // (int)(±0.5 + w · 2^22): round half away from zero.
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

/** (ss >> 22) clipped to [0, 255], as PIL's clip8. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

export interface PlanarImage {
  /** Planar CHW uint8. */
  data: Uint8Array;
  channels: number;
  height: number;
  width: number;
}

/** A rectangle of a resized image: its top-left output pixel and its size. */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The coefficients of outputs [from, from + count) only (each output's own, so the pixels are the same). */
function sliceCoefficients(k: Coefficients, from: number, count: number): Coefficients {
  return { ksize: k.ksize, bounds: k.bounds.subarray(2 * from, 2 * (from + count)), weights: k.weights.subarray(k.ksize * from, k.ksize * (from + count)) };
}

/**
 * Resize a planar uint8 image to `width`×`height` exactly as PIL's `Image.resize(…, resample)`.
 * With `region`, only that part of the resized image is computed and returned (a centre crop after
 * the resize costs only its own pixels): each pixel is the one the whole resize gives.
 */
export function resizeImage(img: PlanarImage, width: number, height: number, filterName: ResampleFilter, region?: Region): PlanarImage {
  const { channels: c, height: h, width: w } = img;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0))
    throw new RangeError(`resize: target size must be positive integers, got ${width}×${height}`);
  const r = region ?? { left: 0, top: 0, width, height };
  if (!(r.left >= 0 && r.top >= 0 && r.width > 0 && r.height > 0 && r.left + r.width <= width && r.top + r.height <= height && [r.left, r.top, r.width, r.height].every(Number.isInteger)))
    throw new RangeError(`resize: region ${r.width}×${r.height} at (${r.left}, ${r.top}) is not inside the ${width}×${height} output`);
  const filter = FILTERS[filterName];
  const needH = width !== w;
  const needV = height !== h;
  if (!needH && !needV) return cropPlanes(img, r);
  // PIL skips a pass whose size does not change; the region then crops that axis directly.
  if (!needH && (r.left > 0 || r.width < w)) img = cropPlanes(img, { left: r.left, top: 0, width: r.width, height: h });
  if (!needV && (r.top > 0 || r.height < h)) img = cropPlanes(img, { left: 0, top: r.top, width: img.width, height: r.height });
  return resample(img, needH ? sliceCoefficients(coefficients(w, width, filter), r.left, r.width) : null, needV ? sliceCoefficients(coefficients(h, height, filter), r.top, r.height) : null);
}

/** A rectangle of a planar image, copied. */
function cropPlanes(img: PlanarImage, r: Region): PlanarImage {
  const { channels: c, height: h, width: w } = img;
  if (r.left === 0 && r.top === 0 && r.width === w && r.height === h) return { data: img.data.slice(), channels: c, height: h, width: w };
  const out = new Uint8Array(c * r.width * r.height);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < r.height; y++) {
      const from = (ch * h + r.top + y) * w + r.left;
      out.set(img.data.subarray(from, from + r.width), (ch * r.height + y) * r.width);
    }
  return { data: out, channels: c, height: r.height, width: r.width };
}

/** PIL's two passes with the given per-output coefficients (null: that pass is skipped). */
function resample(img: PlanarImage, horiz: Coefficients | null, vert: Coefficients | null): PlanarImage {
  const { channels: c, height: h, width: w } = img;
  const needH = horiz !== null;
  const needV = vert !== null;
  const width = needH ? horiz.bounds.length / 2 : w;
  const height = needV ? vert.bounds.length / 2 : h;

  // Horizontal pass over the rows the vertical pass will read (all of them when it is skipped).
  let src = img.data;
  let rows = h;
  let rowOffset = 0;
  let curW = w;
  if (needH) {
    // (The vertical pass's windows start in increasing order: the first and the last bound the rows.)
    const first = needV ? vert.bounds[0]! : 0;
    const last = needV ? vert.bounds[(height - 1) * 2]! + vert.bounds[(height - 1) * 2 + 1]! : h;
    rows = last - first;
    rowOffset = first;
    const out = new Uint8Array(c * rows * width);
    const { ksize, bounds, weights } = horiz;
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < rows; y++) {
        const inRow = (ch * h + y + first) * w;
        const outRow = (ch * rows + y) * width;
        for (let xx = 0; xx < width; xx++) {
          const xmin = bounds[xx * 2]!;
          const xmax = bounds[xx * 2 + 1]!;
          const kOff = xx * ksize;
          const base = inRow + xmin;
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) ss += src[base + x]! * weights[kOff + x]!;
          out[outRow + xx] = clip8(ss);
        }
      }
    }
    src = out;
    curW = width;
  }
  if (!needV) return { data: src, channels: c, height: rows, width: curW };

  const out = new Uint8Array(c * height * curW);
  const { ksize, bounds, weights } = vert!;
  // Row by row into an accumulator row, so that the input is read sequentially. The sums fit int32
  // as in PIL's C (|Σ w·v| ≤ 255 · Σ|w| < 2^31 for these filters), hence Int32Array and Math.imul.
  const acc = new Int32Array(curW);
  for (let ch = 0; ch < c; ch++) {
    const plane = ch * rows * curW;
    for (let yy = 0; yy < height; yy++) {
      const ymin = bounds[yy * 2]! - rowOffset;
      const ymax = bounds[yy * 2 + 1]!;
      const kOff = yy * ksize;
      acc.fill(1 << (PRECISION_BITS - 1));
      for (let y = 0; y < ymax; y++) {
        const weight = weights[kOff + y]!;
        const inRow = plane + (ymin + y) * curW;
        for (let x = 0; x < curW; x++) acc[x] = (acc[x]! + Math.imul(src[inRow + x]!, weight)) | 0;
      }
      const outRow = (ch * height + yy) * curW;
      for (let x = 0; x < curW; x++) out[outRow + x] = clip8(acc[x]!);
    }
  }
  return { data: out, channels: c, height, width: curW };
}
