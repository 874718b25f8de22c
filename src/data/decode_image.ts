/**
 * Image bytes → planar (CHW) uint8 RGB as PIL's `Image.open(b).convert('RGB')`, without native code
 * and without Node: what the browser entry decodes with, and the shared rules of Node's decoders
 * (io/load_image.ts): PIL's 16-bit reductions, the pixel limit, the JPEG frame size read before
 * anything is allocated.
 *
 * PNG is decoded here (the platform's `DecompressionStream` inflates; the filters, bit depths, palettes
 * and Adam7 interlacing are unpacked below): PNG is lossless, so a correct decoder gives the pixels
 * pngjs and PIL give. JPEG goes through a decoder passed in — libjpeg-turbo compiled to WebAssembly
 * (data/jpeg_wasm.ts, the same .wasm as Node's JS path), whose ISLOW IDCT and fancy upsampling are
 * PIL's, so the pixels are PIL's exactly.
 */
import { DataError } from '../errors.js';
import { crc32 } from '../util/bytes.js';
import type { PlanarImage } from './resample.js';

/** A decoded image: planar CHW uint8 RGB. */
export interface LoadedImage extends PlanarImage {
  channels: 3;
}

/** PIL raises DecompressionBombError above twice Image.MAX_IMAGE_PIXELS. */
export const MAX_IMAGE_PIXELS = 2 * 89_478_485;

/** A JPEG decoder: bytes → interleaved RGBA. */
export type JpegDecoder = (bytes: Uint8Array) => { width: number; height: number; data: Uint8Array | Uint8ClampedArray };

export interface DecodeBytesOptions {
  /** The image's name in error messages. */
  name?: string;
  /** Refuse images with more pixels (default: PIL's decompression-bomb limit). */
  maxPixels?: number;
  /** The JPEG decoder, asked for when a JPEG comes (without one, a JPEG is a DataError saying so). */
  jpeg?: () => JpegDecoder | Promise<JpegDecoder>;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];
export const startsWith = (b: Uint8Array, magic: readonly number[]) => magic.every((v, i) => b[i] === v);
export const isPng = (b: Uint8Array) => startsWith(b, PNG_MAGIC.slice(0, 4));
export const isJpeg = (b: Uint8Array) => startsWith(b, JPEG_MAGIC);

export function checkSize(w: number, h: number, name: string, maxPixels: number): void {
  if (!(w > 0 && h > 0)) throw new DataError(`cannot decode image ${name}: it has no pixels (${w}×${h})`);
  if (w * h > maxPixels)
    throw new DataError(`image ${name} is ${w}×${h} = ${w * h} pixels, more than the limit of ${maxPixels} (a decompression bomb?); pass maxPixels to allow it`);
}

/** Interleaved samples (8- or 16-bit) → planar RGB uint8, with PIL's reductions. */
export function toPlanarRgb(src: ArrayLike<number>, w: number, h: number, channels: number, sixteenBit: boolean): LoadedImage {
  const n = w * h;
  const out = new Uint8Array(3 * n);
  const gray = channels <= 2;
  // 16-bit: colour keeps the high byte (PIL unpacks RGB;16B that way); grayscale is PIL mode I,
  // whose conversion to RGB clips at 255.
  if (!sixteenBit && channels >= 3 && (src instanceof Uint8Array || src instanceof Uint8ClampedArray)) {
    // The common case (8-bit RGB or RGBA) without the general loop's per-sample closure: that loop
    // took about a third of the time of decoding a JPEG.
    for (let i = 0, j = 0; i < n; i++, j += channels) {
      out[i] = src[j]!;
      out[n + i] = src[j + 1]!;
      out[2 * n + i] = src[j + 2]!;
    }
    return { data: out, channels: 3, height: h, width: w };
  }
  const reduce = !sixteenBit ? (v: number) => v : gray ? (v: number) => (v > 255 ? 255 : v) : (v: number) => v >> 8;
  for (let i = 0; i < n; i++) {
    if (gray) {
      const v = reduce(src[i * channels]!);
      out[i] = v;
      out[n + i] = v;
      out[2 * n + i] = v;
    } else {
      out[i] = reduce(src[i * channels]!);
      out[n + i] = reduce(src[i * channels + 1]!);
      out[2 * n + i] = reduce(src[i * channels + 2]!);
    }
  }
  return { data: out, channels: 3, height: h, width: w };
}

/**
 * CMYK images are refused on every decode path (sharp, the WebAssembly JPEG decoder, the browser):
 * PIL's naive CMYK→RGB is not reproduced, and libvips' ICC conversion gives other pixels, so a CMYK
 * file would otherwise be classified on one path and refused on another.
 */
export function cmykError(name: string): DataError {
  return new DataError(`image ${name} is CMYK: convert it to RGB first (PIL's naive CMYK→RGB is not reproduced)`);
}

/** Width and height from a JPEG's start-of-frame marker (checked before allocating the pixels); a CMYK (4-component) JPEG is refused. */
export function jpegSize(b: Uint8Array, name: string): [number, number] {
  const [w, h, components] = jpegFrame(b, name);
  if (components === 4) throw cmykError(name);
  return [w, h];
}

/** Width, height and component count from a JPEG's start-of-frame marker. */
function jpegFrame(b: Uint8Array, name: string): [number, number, number] {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) break;
    const marker = b[i + 1]!;
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return [(b[i + 7]! << 8) | b[i + 8]!, (b[i + 5]! << 8) | b[i + 6]!, b[i + 9]!];
    if (marker === 0xda) break;
    i += 2 + len;
  }
  throw new DataError(`cannot decode image ${name}: no JPEG frame header found (truncated or corrupt file)`);
}

/** Width and height from a PNG's IHDR chunk (8-byte signature, then length, "IHDR", width, height), read before any pixel is. */
export function pngSize(b: Uint8Array, name: string): [number, number] {
  const ihdr = [0x49, 0x48, 0x44, 0x52];
  if (b.length < 24 || !ihdr.every((v, i) => b[12 + i] === v)) throw new DataError(`cannot decode image ${name}: no PNG header chunk (IHDR) found (truncated or corrupt file)`);
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  return [view.getUint32(16), view.getUint32(20)];
}

/** Decode PNG or JPEG bytes. Corrupt, unsupported or oversized images are DataErrors naming the image. */
export async function decodeImageBytes(bytes: Uint8Array, o: DecodeBytesOptions = {}): Promise<LoadedImage> {
  const name = o.name ?? `<${bytes.length} bytes>`;
  const maxPixels = o.maxPixels ?? MAX_IMAGE_PIXELS;
  if (bytes.length === 0) throw new DataError(`cannot decode image ${name}: the file is empty`);
  try {
    if (isPng(bytes)) return await decodePng(bytes, name, maxPixels);
    if (isJpeg(bytes)) {
      const [w, h] = jpegSize(bytes, name);
      checkSize(w, h, name, maxPixels);
      if (!o.jpeg) throw new DataError(`cannot decode image ${name}: no JPEG decoder was given`);
      const img = (await o.jpeg())(bytes);
      return toPlanarRgb(img.data, img.width, img.height, 4, false);
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`cannot decode image ${name}: ${(err as Error).message}`);
  }
  throw new DataError(`cannot decode image ${name}: only PNG and JPEG are decoded here`);
}

// ---- PNG ----------------------------------------------------------------------------------------

/** Samples per pixel of each PNG colour type (palette images have one index per pixel). */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/** The zlib stream split over a PNG's IDAT chunks, inflated (the Blob joins the chunks: no copy of our own). */
async function inflate(chunks: readonly Uint8Array[]): Promise<Uint8Array> {
  const stream = new Blob(chunks as Uint8Array<ArrayBuffer>[]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function decodePng(b: Uint8Array, name: string, maxPixels: number): Promise<LoadedImage> {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (!startsWith(b, PNG_MAGIC)) throw new DataError(`cannot decode image ${name}: not a PNG signature`);
  let pos = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colorType = -1;
  let interlace = 0;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (pos + 12 <= b.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(b[pos + 4]!, b[pos + 5]!, b[pos + 6]!, b[pos + 7]!);
    const start = pos + 8;
    const end = start + len;
    if (end + 4 > b.length) throw new DataError(`cannot decode image ${name}: PNG chunk ${type} is truncated`);
    if (crc32([b.subarray(pos + 4, end)]) !== view.getUint32(end)) throw new DataError(`cannot decode image ${name}: PNG chunk ${type} fails its CRC check (corrupt file)`);
    if (type === 'IHDR') {
      width = view.getUint32(start);
      height = view.getUint32(start + 4);
      depth = b[start + 8]!;
      colorType = b[start + 9]!;
      interlace = b[start + 12]!;
      if (!PNG_DEPTHS[colorType]?.includes(depth)) throw new DataError(`cannot decode image ${name}: PNG colour type ${colorType} with bit depth ${depth} is not valid`);
      if (interlace > 1) throw new DataError(`cannot decode image ${name}: unknown PNG interlace method ${interlace}`);
      checkSize(width, height, name, maxPixels);
    } else if (type === 'PLTE') palette = b.subarray(start, end);
    else if (type === 'IDAT') idat.push(b.subarray(start, end));
    else if (type === 'IEND') {
      ended = true;
      break;
    }
    pos = end + 4;
  }
  if (colorType < 0) throw new DataError(`cannot decode image ${name}: PNG without an IHDR chunk`);
  if (!ended && idat.length === 0) throw new DataError(`cannot decode image ${name}: PNG without image data (truncated?)`);
  if (colorType === 3 && !palette) throw new DataError(`cannot decode image ${name}: palette PNG without a PLTE chunk`);
  const raw = await inflate(idat);

  const spp = PNG_CHANNELS[colorType]!;
  const sixteen = depth === 16;
  // Output: palette expanded to RGB, everything else with its own samples (alpha dropped later).
  const outChannels = colorType === 3 ? 3 : spp;
  const out = new (sixteen ? Uint16Array : Uint8Array)(width * height * outChannels);
  const bpp = Math.max(1, (spp * depth) >> 3);
  // Low bit-depth gray is scaled to 8 bits as PIL's L;1 / L;2 / L;4 unpackers do.
  const grayScale = colorType === 0 && depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  let offset = 0;
  const passes = interlace ? ADAM7 : ([[0, 0, 1, 1]] as const);
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const stride = Math.ceil((pw * spp * depth) / 8);
    let prev: Uint8Array = new Uint8Array(stride);
    for (let y = 0; y < ph; y++) {
      if (offset + 1 + stride > raw.length) throw new DataError(`cannot decode image ${name}: PNG image data is truncated`);
      const filter = raw[offset]!;
      const line = raw.subarray(offset + 1, offset + 1 + stride);
      offset += 1 + stride;
      unfilter(filter, line, prev, bpp, name);
      const row = (y0 + y * dy) * width;
      for (let x = 0; x < pw; x++) {
        const px = (row + x0 + x * dx) * outChannels;
        if (colorType === 3) {
          const idx = sample(line, x, depth);
          if (3 * idx + 2 >= palette!.length) throw new DataError(`cannot decode image ${name}: palette index ${idx} beyond the PLTE chunk`);
          out[px] = palette![3 * idx]!;
          out[px + 1] = palette![3 * idx + 1]!;
          out[px + 2] = palette![3 * idx + 2]!;
        } else if (depth < 8) out[px] = Math.round(sample(line, x, depth) * grayScale);
        else if (sixteen) for (let c = 0; c < spp; c++) out[px + c] = (line[2 * (x * spp + c)]! << 8) | line[2 * (x * spp + c) + 1]!;
        else for (let c = 0; c < spp; c++) out[px + c] = line[x * spp + c]!;
      }
      prev = line;
    }
  }
  return toPlanarRgb(out, width, height, outChannels, sixteen);
}

/** The `x`-th sample of a packed row of `depth`-bit samples (1, 2, 4 or 8 bits). */
function sample(line: Uint8Array, x: number, depth: number): number {
  if (depth === 8) return line[x]!;
  const perByte = 8 / depth;
  const byte = line[Math.floor(x / perByte)]!;
  const shift = 8 - depth * ((x % perByte) + 1);
  return (byte >> shift) & ((1 << depth) - 1);
}

/** Undo a PNG row filter in place (None, Sub, Up, Average, Paeth). */
function unfilter(filter: number, line: Uint8Array, prev: Uint8Array, bpp: number, name: string): void {
  const n = line.length;
  switch (filter) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < n; i++) line[i] = (line[i]! + line[i - bpp]!) & 0xff;
      return;
    case 2:
      for (let i = 0; i < n; i++) line[i] = (line[i]! + prev[i]!) & 0xff;
      return;
    case 3:
      for (let i = 0; i < n; i++) line[i] = (line[i]! + (((i >= bpp ? line[i - bpp]! : 0) + prev[i]!) >> 1)) & 0xff;
      return;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? line[i - bpp]! : 0;
        const up = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        const p = a + up - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - up);
        const pc = Math.abs(p - c);
        line[i] = (line[i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? up : c)) & 0xff;
      }
      return;
    default:
      throw new DataError(`cannot decode image ${name}: unknown PNG filter type ${filter}`);
  }
}
