/**
 * Image transforms for building training batches from 8-bit images (Fashion-MNIST, later CIFAR),
 * producing Float32 NCHW batches. Pure: no Node imports, so the same code runs in browsers.
 *
 * Images are planar (CHW): channel c of an h×w image occupies [c·h·w, (c+1)·h·w). The geometric
 * transforms work on uint8 *or* float32 images and always allocate exactly one output array.
 * `makeBatch` fuses everything (pad, crop, flip, channel replication, scaling, normalisation) into a
 * single pass per output plane that writes straight into the batch tensor: no per-image temporaries.
 *
 * Every geometric transform is a *window*: an outH×outW rectangle placed at (top, left) in source
 * coordinates, possibly overhanging the image. Pixels outside the image are zero (of the raw image,
 * as torchvision pads PIL images before ToTensor/Normalize), so padding, cropping and random crops
 * with padding are all the same loop with different offsets.
 */
import { ConfigError, DataError } from '../errors.js';
import { resizeImage } from './resample.js';
import { Tensor } from '../tensor.js';
import type { Rng } from '../util/rng.js';

/** Pixel storage accepted by the geometric transforms. */
export type Pixels = Uint8Array | Float32Array;

/**
 * An in-memory data set of 8-bit images, all of the same size, stored back to back (N×C×H×W)
 * with one label per image. `mean`/`std` (per channel, on the [0, 1] scale) are the data set's
 * normalisation constants, used by `makeBatch` unless the caller passes others.
 */
export interface ImageDataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classes: readonly string[];
  mean?: readonly number[];
  std?: readonly number[];
}

// ---------------------------------------------------------------------------------------------
// The one inner loop

/**
 * Copy one plane: out[y][x] = src[top + y][left + x] (mirrored: src[top + y][left + outW-1-x]),
 * reading outside the h×w source as pixel value 0. With a `lut`, the (uint8) source values are
 * mapped through it — that is how scaling and normalisation are fused in — and the fill is lut[0].
 * Each row is split into [fill | copy | fill] ranges once, so the copy loop has no bounds tests.
 */
function copyWindow(
  src: Pixels,
  srcOffset: number,
  h: number,
  w: number,
  top: number,
  left: number,
  flip: boolean,
  out: Pixels,
  outOffset: number,
  outH: number,
  outW: number,
  lut: Float32Array | null,
): void {
  const fill = lut ? lut[0]! : 0;
  // Columns x whose source column lies inside [0, w).
  let x0: number;
  let x1: number;
  if (flip) {
    x0 = Math.max(0, left + outW - w);
    x1 = Math.min(outW, left + outW);
  } else {
    x0 = Math.max(0, -left);
    x1 = Math.min(outW, w - left);
  }
  if (x1 < x0) x1 = x0;

  for (let y = 0; y < outH; y++) {
    const o = outOffset + y * outW;
    const sy = top + y;
    if (sy < 0 || sy >= h) {
      out.fill(fill, o, o + outW);
      continue;
    }
    const row = srcOffset + sy * w;
    out.fill(fill, o, o + x0);
    out.fill(fill, o + x1, o + outW);
    if (flip) {
      // source column of output x is left + outW-1-x; walk it downwards.
      const base = row + left + outW - 1;
      if (lut) for (let x = x0; x < x1; x++) out[o + x] = lut[src[base - x]!]!;
      else for (let x = x0; x < x1; x++) out[o + x] = src[base - x]!;
    } else {
      const base = row + left;
      if (lut) for (let x = x0; x < x1; x++) out[o + x] = lut[src[base + x]!]!;
      else for (let x = x0; x < x1; x++) out[o + x] = src[base + x]!;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Checks and small helpers

function checkDims(fn: string, names: string, ...values: number[]): void {
  if (!values.every((v) => Number.isInteger(v) && v > 0))
    throw new ConfigError(`${fn}: ${names} must be positive integers, got ${values.join(', ')}`);
}

function checkImage(fn: string, src: Pixels, h: number, w: number, channels: number): void {
  checkDims(fn, 'h, w, channels', h, w, channels);
  if (src.length !== channels * h * w)
    throw new ConfigError(
      `${fn}: image has ${src.length} values but channels×h×w = ${channels}×${h}×${w} = ${channels * h * w}`,
    );
}

/** A new zeroed array of the same kind as `like`. */
function alloc<T extends Pixels>(like: T, n: number): T {
  return (like instanceof Float32Array ? new Float32Array(n) : new Uint8Array(n)) as T;
}

/** Apply a window (same offsets for every channel) to a whole CHW image. */
function windowImage<T extends Pixels>(
  src: T,
  h: number,
  w: number,
  channels: number,
  top: number,
  left: number,
  flip: boolean,
  outH: number,
  outW: number,
): T {
  const out = alloc(src, channels * outH * outW);
  for (let c = 0; c < channels; c++) copyWindow(src, c * h * w, h, w, top, left, flip, out, c * outH * outW, outH, outW, null);
  return out;
}

/**
 * Offset of a centred window: for padding, the extra row/column goes to the bottom/right
 * (as torchvision's CenterCrop pads: left = (outW - w) // 2).
 */
function centreOffset(size: number, outSize: number): number {
  return -Math.floor((outSize - size) / 2);
}

/** Broadcast a scalar or per-channel list to `channels` values, naming `option` on a mismatch. */
function perChannel(fn: string, option: string, v: number | readonly number[], channels: number): number[] {
  const list = typeof v === 'number' ? [v] : [...v];
  if (list.length === 1) return new Array<number>(channels).fill(list[0]!);
  if (list.length !== channels)
    throw new ConfigError(`${fn}: option \`${option}\` has ${list.length} values, expected 1 or ${channels} (one per channel)`);
  return list;
}

/** The 256 normalised values (v/255 - mean) / std, so converting a pixel is one table load. */
function normaliseLut(fn: string, mean: number, std: number): Float32Array {
  if (!Number.isFinite(mean)) throw new ConfigError(`${fn}: option \`mean\` must be finite, got ${mean}`);
  if (!(std > 0 && Number.isFinite(std))) throw new ConfigError(`${fn}: option \`std\` must be positive, got ${std}`);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = (v / 255 - mean) / std;
  return lut;
}

// ---------------------------------------------------------------------------------------------
// Individual transforms

/**
 * uint8 → float32: scale to [0, 1], then (x - mean) / std. `mean`/`std` are scalars or per-channel
 * lists (then `src` is CHW with that many channels). Writes into `out` at `outOffset` if given.
 * The defaults (0, 1) only scale.
 */
export function toFloat(
  src: Uint8Array,
  mean: number | readonly number[] = 0,
  std: number | readonly number[] = 1,
  out?: Float32Array,
  outOffset = 0,
): Float32Array {
  const channels = Math.max(typeof mean === 'number' ? 1 : mean.length, typeof std === 'number' ? 1 : std.length);
  if (src.length % channels !== 0)
    throw new ConfigError(`toFloat: ${src.length} values do not split into ${channels} channels (from mean/std)`);
  const means = perChannel('toFloat', 'mean', mean, channels);
  const stds = perChannel('toFloat', 'std', std, channels);
  const dst = out ?? new Float32Array(src.length);
  if (outOffset < 0 || outOffset + src.length > dst.length)
    throw new ConfigError(`toFloat: ${src.length} values do not fit in \`out\` (${dst.length}) at offset ${outOffset}`);
  const plane = src.length / channels;
  for (let c = 0; c < channels; c++) {
    const lut = normaliseLut('toFloat', means[c]!, stds[c]!);
    const s = c * plane;
    const o = outOffset + c * plane;
    for (let i = 0; i < plane; i++) dst[o + i] = lut[src[s + i]!]!;
  }
  return dst;
}

/** Centre zero-padding of an h×w image to outH×outW (e.g. 28 → 32: two rows/columns each side). */
export function padTo<T extends Pixels>(src: T, h: number, w: number, outH: number, outW: number, channels = 1): T {
  checkImage('padTo', src, h, w, channels);
  checkDims('padTo', 'outH, outW', outH, outW);
  if (outH < h || outW < w)
    throw new ConfigError(`padTo: output ${outH}×${outW} is smaller than the image ${h}×${w}; padding cannot shrink`);
  return windowImage(src, h, w, channels, centreOffset(h, outH), centreOffset(w, outW), false, outH, outW);
}

/**
 * Draw the offset of a random crop with padding: (top, left) of the outH×outW crop inside the image
 * padded by `pad` on every side, each uniform in [0, h + 2·pad - outH] (torchvision's
 * RandomCrop(size, padding) draws them the same way). Consumes exactly two `rng.int` calls.
 */
export function randomCropOffset(
  h: number,
  w: number,
  outH: number,
  outW: number,
  pad: number,
  rng: Rng,
): { top: number; left: number } {
  checkCrop('randomCropOffset', h, w, outH, outW, pad);
  return { top: rng.int(h + 2 * pad - outH + 1), left: rng.int(w + 2 * pad - outW + 1) };
}

function checkCrop(fn: string, h: number, w: number, outH: number, outW: number, pad: number): void {
  checkDims(fn, 'h, w, outH, outW', h, w, outH, outW);
  if (!Number.isInteger(pad) || pad < 0) throw new ConfigError(`${fn}: \`pad\` must be a non-negative integer, got ${pad}`);
  if (outH > h + 2 * pad || outW > w + 2 * pad)
    throw new ConfigError(`${fn}: crop ${outH}×${outW} is larger than the padded image ${h + 2 * pad}×${w + 2 * pad} (${h}×${w}, pad ${pad})`);
}

/**
 * The outH×outW crop at (top, left) of the image zero-padded by `pad` on every side — the
 * deterministic half of `randomCropWithPadding`.
 */
export function cropWithPadding<T extends Pixels>(
  src: T,
  h: number,
  w: number,
  outH: number,
  outW: number,
  pad: number,
  top: number,
  left: number,
  channels = 1,
): T {
  checkImage('cropWithPadding', src, h, w, channels);
  checkCrop('cropWithPadding', h, w, outH, outW, pad);
  if (!Number.isInteger(top) || !Number.isInteger(left) || top < 0 || left < 0 || top > h + 2 * pad - outH || left > w + 2 * pad - outW)
    throw new ConfigError(
      `cropWithPadding: offset (${top}, ${left}) is outside [0, ${h + 2 * pad - outH}]×[0, ${w + 2 * pad - outW}]`,
    );
  // In source coordinates the padded image starts at (-pad, -pad).
  return windowImage(src, h, w, channels, top - pad, left - pad, false, outH, outW);
}

/**
 * torchvision RandomCrop(size=(outH, outW), padding=pad): zero-pad by `pad` on every side, then
 * crop at a uniformly random offset (drawn with `randomCropOffset`).
 */
export function randomCropWithPadding<T extends Pixels>(
  src: T,
  h: number,
  w: number,
  outH: number,
  outW: number,
  pad: number,
  rng: Rng,
  channels = 1,
): T {
  checkImage('randomCropWithPadding', src, h, w, channels);
  const { top, left } = randomCropOffset(h, w, outH, outW, pad, rng);
  return windowImage(src, h, w, channels, top - pad, left - pad, false, outH, outW);
}

/** Mirror left ↔ right. */
export function horizontalFlip<T extends Pixels>(src: T, h: number, w: number, channels = 1): T {
  checkImage('horizontalFlip', src, h, w, channels);
  return windowImage(src, h, w, channels, 0, 0, true, h, w);
}

/** A one-channel image repeated into `channels` planes (grayscale → RGB for stems that take 3). */
export function replicateChannels<T extends Pixels>(src: T, h: number, w: number, channels = 3): T {
  checkImage('replicateChannels', src, h, w, 1);
  checkDims('replicateChannels', 'channels', channels);
  const out = alloc(src, channels * h * w);
  for (let c = 0; c < channels; c++) out.set(src, c * h * w);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Batches

export interface BatchOptions {
  /** Output height and width (one number: square). Must be at least the image size: eval only pads. */
  size: number | readonly [number, number];
  /** Train: random crop with padding + horizontal flip. Eval: deterministic centre padding. */
  train: boolean;
  /** Required when `train`; eval draws nothing. */
  rng?: Rng;
  /** Output channels; default the data set's. A one-channel data set may be replicated to any count. */
  channels?: number;
  /** Normalisation on the [0, 1] scale, scalar or per output channel; default the data set's. */
  mean?: number | readonly number[];
  std?: number | readonly number[];
  /** Padding of the random crop in train mode (default 4). */
  pad?: number;
  /**
   * Resize every image to imageSize×imageSize first (PIL bilinear, antialiased: data/resample.ts),
   * then place it as usual — multi-scale training scales the images with the canvas.
   */
  imageSize?: number;
  /** Probability of a horizontal flip in train mode (default 0.5). */
  flipProb?: number;
}

export interface Batch {
  /** [B, C, H, W] float32, normalised. */
  x: Tensor<'float32'>;
  /** [B] class indices. */
  labels: Int32Array;
  /** Where each image came from and where it landed (in-memory data sets): for per-pixel or per-token targets. */
  placement?: Placement;
}

/**
 * The geometry of a batch made by `makeBatch`: output pixel (y, x) of image b shows image pixel
 * (tops[b] + y, flips[b] ? lefts[b] + W−1−x : lefts[b] + x) of data-set image indices[b], whose size
 * is imageHeight × imageWidth (outside it: padding).
 */
export interface Placement {
  indices: Int32Array;
  tops: Int32Array;
  lefts: Int32Array;
  flips: Uint8Array;
  imageHeight: number;
  imageWidth: number;
}

/**
 * Build a batch from the images at `indices`.
 *
 * Eval: every image is centre zero-padded to `size` (e.g. Fashion-MNIST 28 → 32).
 * Train: the same centred placement, then RandomCrop(size, padding=pad) and a horizontal flip with
 * probability `flipProb` — i.e. padTo → randomCropWithPadding → horizontalFlip, so the image is
 * shifted by up to ±pad pixels around its eval position whatever the output size. Per image, in
 * batch order, the rng gives top, left (`randomCropOffset`) and then one `random()` for the flip,
 * so a batch depends only on the rng state and the indices.
 */
export function makeBatch(dataset: ImageDataset, indices: ArrayLike<number>, options: BatchOptions): Batch {
  if (options.imageSize !== undefined && (options.imageSize !== dataset.height || options.imageSize !== dataset.width)) {
    const s = options.imageSize;
    checkDims('makeBatch', 'option `imageSize`', s, s);
    const b = makeBatch(resizedSubset(dataset, indices, s), Array.from(indices, (_, i) => i), { ...options, imageSize: undefined });
    // The placement names the data set's images (at the resized size it gives).
    return { ...b, placement: { ...b.placement!, indices: Int32Array.from(indices) } };
  }
  const fn = 'makeBatch';
  const { height: h, width: w, channels: cIn } = dataset;
  const [outH, outW] = typeof options.size === 'number' ? [options.size, options.size] : options.size;
  checkDims(fn, 'option `size`', outH, outW);
  if (outH < h || outW < w)
    throw new ConfigError(`${fn}: option \`size\` ${outH}×${outW} is smaller than the images (${h}×${w}); only padding is supported`);

  if (dataset.images.length !== dataset.count * cIn * h * w || dataset.labels.length < dataset.count)
    throw new DataError(
      `${fn}: data set is inconsistent: ${dataset.images.length} image bytes and ${dataset.labels.length} labels ` +
        `for count×C×H×W = ${dataset.count}×${cIn}×${h}×${w}`,
    );

  const cOut = options.channels ?? cIn;
  if (!Number.isInteger(cOut) || cOut < 1 || (cOut !== cIn && cIn !== 1))
    throw new ConfigError(`${fn}: option \`channels\` is ${cOut} but the images have ${cIn} (only 1 channel can be replicated)`);

  const mean = options.mean ?? dataset.mean;
  const std = options.std ?? dataset.std;
  if (mean === undefined || std === undefined)
    throw new ConfigError(`${fn}: options \`mean\` and \`std\` are required: the data set does not define them`);
  const means = perChannel(fn, 'mean', mean, cOut);
  const stds = perChannel(fn, 'std', std, cOut);
  const luts = means.map((m, c) => normaliseLut(fn, m, stds[c]!));

  const pad = options.pad ?? 4;
  const flipProb = options.flipProb ?? 0.5;
  const rng = options.rng;
  if (options.train) {
    if (!rng) throw new ConfigError(`${fn}: option \`rng\` is required in train mode`);
    if (!Number.isInteger(pad) || pad < 0) throw new ConfigError(`${fn}: option \`pad\` must be a non-negative integer, got ${pad}`);
    if (!(flipProb >= 0 && flipProb <= 1)) throw new ConfigError(`${fn}: option \`flipProb\` must be in [0, 1], got ${flipProb}`);
  }

  const B = indices.length;
  const inPlane = h * w;
  const outPlane = outH * outW;
  const x = new Float32Array(B * cOut * outPlane);
  const labels = new Int32Array(B);
  const centreTop = centreOffset(h, outH);
  const centreLeft = centreOffset(w, outW);
  const placement: Placement = { indices: Int32Array.from(indices), tops: new Int32Array(B), lefts: new Int32Array(B), flips: new Uint8Array(B), imageHeight: h, imageWidth: w };

  for (let b = 0; b < B; b++) {
    const idx = indices[b]!;
    if (!Number.isInteger(idx) || idx < 0 || idx >= dataset.count)
      throw new ConfigError(`${fn}: \`indices\`[${b}] = ${idx} is outside the data set (0..${dataset.count - 1})`);
    labels[b] = dataset.labels[idx]!;

    let top = centreTop;
    let left = centreLeft;
    let flip = false;
    if (options.train) {
      // Random crop of the centred outH×outW image padded by `pad`; offsets are in padded coordinates.
      const off = randomCropOffset(outH, outW, outH, outW, pad, rng!);
      top += off.top - pad;
      left += off.left - pad;
      flip = rng!.random() < flipProb;
    }
    [placement.tops[b], placement.lefts[b], placement.flips[b]] = [top, left, flip ? 1 : 0];

    const dst = b * cOut * outPlane;
    for (let c = 0; c < cOut; c++) {
      const o = dst + c * outPlane;
      // Replicated grayscale with the same normalisation: copy the plane already computed.
      if (cIn === 1 && c > 0 && means[c] === means[0] && stds[c] === stds[0]) {
        x.copyWithin(o, dst, dst + outPlane);
        continue;
      }
      const srcOffset = (idx * cIn + (cIn === 1 ? 0 : c)) * inPlane;
      copyWindow(dataset.images, srcOffset, h, w, top, left, flip, x, o, outH, outW, luts[c]!);
    }
  }
  return { x: new Tensor(x, [B, cOut, outH, outW], 'float32'), labels, placement };
}

/** The images at `indices`, resized to s×s (PIL bilinear), as a data set of their own (labels kept). */
function resizedSubset(dataset: ImageDataset, indices: ArrayLike<number>, s: number): ImageDataset {
  const { height: h, width: w, channels: c } = dataset;
  const images = new Uint8Array(indices.length * c * s * s);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const idx = indices[i]!;
    if (!Number.isInteger(idx) || idx < 0 || idx >= dataset.count)
      throw new ConfigError(`makeBatch: \`indices\`[${i}] = ${idx} is outside the data set (0..${dataset.count - 1})`);
    const img = { data: dataset.images.subarray(idx * c * h * w, (idx + 1) * c * h * w), channels: c, height: h, width: w };
    images.set(resizeImage(img, s, s, 'bilinear').data, i * c * s * s);
    labels[i] = dataset.labels[idx]!;
  }
  return { ...dataset, images, labels, count: indices.length, height: s, width: s };
}
