/**
 * Image decoding as PIL's `Image.open(p).convert('RGB')`: planar (CHW) uint8 RGB. Grayscale is
 * replicated, palettes expanded, alpha dropped (not composited), 16-bit samples reduced as PIL does
 * (colour: the high byte; grayscale: clipped at 255, PIL's I → RGB conversion), and the EXIF
 * orientation left as stored (PIL does not apply it on open).
 *
 * Two decoders: sharp (libvips; fast, every common format) and one without native code for
 * environments where sharp cannot install: pngjs for PNG and libjpeg-turbo compiled to WebAssembly
 * (@cwasm/jpeg-turbo) for JPEG. Both give PIL's pixels exactly: PIL, libvips and the WebAssembly
 * build all decode JPEG with libjpeg-turbo's default (ISLOW) IDCT and fancy upsampling, whereas
 * pure-JS JPEG decoders (jpeg-js) round differently — up to 4 levels off on a photo.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { DataError } from '../errors.js';
import { checkSize, cmykError, isJpeg, isPng, jpegSize, MAX_IMAGE_PIXELS, pngSize, toPlanarRgb, type LoadedImage } from '../data/decode_image.js';
import { replacementCharHint } from './image_folder_files.js';

export type { LoadedImage };
export { MAX_IMAGE_PIXELS, cmykError };

/**
 * The WebAssembly JPEG decoder, instantiated on first use: instantiating reserves a wasm memory
 * (about 10 GB of address space), so importing the library under a `ulimit -v` — or any use that
 * never decodes a JPEG without sharp — must not pay for it.
 */
let jpegWasm: Promise<typeof import('@cwasm/jpeg-turbo')> | undefined;
function jpegDecoder(): Promise<typeof import('@cwasm/jpeg-turbo')> {
  jpegWasm ??= import('@cwasm/jpeg-turbo');
  return jpegWasm;
}

export interface LoadImageOptions {
  /** 'sharp' (default) or 'js' (no native code: pngjs for PNG, libjpeg-turbo as WebAssembly for JPEG). */
  decoder?: 'sharp' | 'js';
  /** Refuse images with more pixels (PIL's decompression-bomb limit by default: 2 × 89,478,485). */
  maxPixels?: number;
}

/** Decode an image file (path) or its bytes. Corrupt, unsupported or oversized images are DataErrors naming the file. */
export async function loadImage(source: string | Uint8Array, o: LoadImageOptions = {}): Promise<LoadedImage> {
  let bytes: Uint8Array;
  let name: string;
  if (typeof source === 'string') {
    if (!existsSync(source)) throw new DataError(`image not found: ${source}${replacementCharHint(source)}`);
    if (statSync(source).isDirectory()) throw new DataError(`${source} is a folder, not an image`);
    bytes = readFileSync(source);
    name = source;
  } else if (source instanceof Uint8Array) {
    bytes = source;
    name = `<${source.length} bytes>`;
  }
  else throw new DataError(`loadImage: expected a file path or the image's bytes (Uint8Array), got ${source === null ? 'null' : typeof source}`);
  if (bytes.length === 0) throw new DataError(`cannot decode image ${name}: the file is empty`);
  const maxPixels = o.maxPixels ?? MAX_IMAGE_PIXELS;
  const img = o.decoder === 'js' ? await decodeJs(bytes, name, maxPixels) : await decodeSharp(bytes, name, maxPixels);
  return img;
}

async function decodeSharp(bytes: Uint8Array, name: string, maxPixels: number): Promise<LoadedImage> {
  try {
    const img = sharp(bytes, { limitInputPixels: false, failOn: 'error' });
    const meta = await img.metadata();
    checkSize(meta.width ?? 0, meta.height ?? 0, name, maxPixels);
    if (meta.space === 'cmyk') throw cmykError(name);
    const sixteen = meta.depth === 'ushort';
    // Palette images come out expanded; no colour-space conversion (PIL applies no ICC profile).
    // 16-bit samples must be asked for in a 16-bit colour space, or libvips reduces them itself.
    const pipeline = sixteen ? img.toColourspace((meta.channels ?? 3) <= 2 ? 'grey16' : 'rgb16').raw({ depth: 'ushort' }) : img.raw();
    const raw = await pipeline.toBuffer({ resolveWithObject: true });
    const { width, height, channels } = raw.info;
    // Copied into an aligned array: a Buffer from the pool may start at an odd offset.
    const samples = sixteen ? new Uint16Array(Uint8Array.from(raw.data).buffer) : raw.data;
    return toPlanarRgb(samples, width, height, channels, sixteen);
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`cannot decode image ${name}: ${(err as Error).message}`);
  }
}

async function decodeJs(bytes: Uint8Array, name: string, maxPixels: number): Promise<LoadedImage> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  try {
    if (isPng(bytes)) {
      // The size from the IHDR chunk (always first) before pngjs allocates the pixels.
      const [w, h] = pngSize(bytes, name);
      checkSize(w, h, name, maxPixels);
      const png = PNG.sync.read(buf, { skipRescale: true });
      checkSize(png.width, png.height, name, maxPixels);
      // pngjs expands everything (palette, gray, gray+alpha) to 4 samples per pixel; 16-bit samples
      // stay 16-bit with skipRescale. Gray PNGs (colour types 0 and 4) reduce as PIL's mode I.
      const sixteen = png.depth === 16;
      // With skipRescale, pngjs hands 16-bit samples over as a Uint16Array.
      const samples: ArrayLike<number> = png.data;
      const grayType = png.colorType === 0 || png.colorType === 4;
      if (grayType) {
        const one = new (sixteen ? Uint16Array : Uint8Array)(png.width * png.height);
        for (let i = 0; i < one.length; i++) one[i] = samples[i * 4]!;
        return toPlanarRgb(one, png.width, png.height, 1, sixteen);
      }
      return toPlanarRgb(samples, png.width, png.height, 4, sixteen);
    }
    if (isJpeg(bytes)) {
      const [w, h] = jpegSize(bytes, name);
      checkSize(w, h, name, maxPixels);
      const img = (await jpegDecoder()).decode(bytes);
      return toPlanarRgb(img.data, img.width, img.height, 4, false);
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`cannot decode image ${name}: ${(err as Error).message}`);
  }
  throw new DataError(`cannot decode image ${name}: the decoder without native code reads PNG and JPEG only (use the sharp decoder for other formats)`);
}
