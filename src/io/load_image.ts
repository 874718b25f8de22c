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
import { fileURLToPath } from 'node:url';
import { FetchError } from '../errors.js';
import { concatBytes } from '../util/bytes.js';

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
  /** An http(s) URL: refuse a body larger than this (default 64 MiB), before reading it all. */
  maxBytes?: number;
  /** An http(s) URL: give up after this long (default 30 s). */
  timeoutMs?: number;
  /** An http(s) URL: the fetch to use (default: the global `fetch`). */
  fetch?: typeof fetch;
}

/** The default limit on an image downloaded from a URL. */
export const MAX_IMAGE_BYTES = 64 * 1024 * 1024;

/** Where an image comes from: a path, an http(s) or file URL (string or URL), or the file's bytes (Buffer, Uint8Array, ArrayBuffer). */
export type ImageSource = string | URL | Uint8Array | ArrayBuffer;

const isHttpUrl = (s: string) => /^https?:\/\//i.test(s);

/**
 * Decode an image: a path, an http(s) URL (fetched, at most `maxBytes`), a `file:` URL, or the file's
 * bytes. Corrupt, unsupported or oversized images are DataErrors naming the source; a URL that
 * cannot be fetched is a FetchError (a DataError) with the HTTP status.
 */
export async function loadImage(source: ImageSource, o: LoadImageOptions = {}): Promise<LoadedImage> {
  let bytes: Uint8Array;
  let name: string;
  const url = source instanceof URL ? source.href : typeof source === 'string' && (isHttpUrl(source) || source.startsWith('file:')) ? source : undefined;
  if (url !== undefined && url.startsWith('file:')) return loadImage(fileURLToPath(url), o);
  if (url !== undefined) {
    if (!isHttpUrl(url)) throw new DataError(`loadImage: only http:, https: and file: URLs are read, got ${url}`);
    bytes = await fetchBytes(url, o);
    name = url;
  } else if (typeof source === 'string') {
    if (!existsSync(source)) throw new DataError(`image not found: ${source}${replacementCharHint(source)}`);
    if (statSync(source).isDirectory()) throw new DataError(`${source} is a folder, not an image`);
    bytes = readFileSync(source);
    name = source;
  } else if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
    name = `<${bytes.length} bytes>`;
  } else
    throw new DataError(
      `loadImage: expected a file path, an http(s) URL or the image's bytes (Buffer, Uint8Array, ArrayBuffer), got ${source === null ? 'null' : typeof source}`,
    );
  if (bytes.length === 0) throw new DataError(`cannot decode image ${name}: the file is empty`);
  const maxPixels = o.maxPixels ?? MAX_IMAGE_PIXELS;
  const img = o.decoder === 'js' ? await decodeJs(bytes, name, maxPixels) : await decodeSharp(bytes, name, maxPixels);
  return img;
}

/** An image's bytes from an http(s) URL: the status checked, the size limited while reading (a missing or false Content-Length cannot get past it). */
async function fetchBytes(url: string, o: LoadImageOptions): Promise<Uint8Array> {
  const maxBytes = o.maxBytes ?? MAX_IMAGE_BYTES;
  const timeoutMs = o.timeoutMs ?? 30_000;
  if (!(Number.isInteger(maxBytes) && maxBytes > 0)) throw new DataError(`loadImage: maxBytes must be a positive integer, got ${maxBytes}`);
  const tooBig = (n: string) =>
    new FetchError(`image ${url} is ${n} bytes, more than the limit of ${maxBytes}; pass maxBytes to allow it`, url);
  let resp: Response;
  try {
    resp = await (o.fetch ?? fetch)(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new FetchError(`cannot fetch image ${url}: ${why}`, url);
  }
  if (!resp.ok) throw new FetchError(`cannot fetch image ${url}: HTTP ${resp.status}${resp.statusText ? ` ${resp.statusText}` : ''}`, url, resp.status);
  const declared = Number(resp.headers.get('content-length'));
  if (declared > maxBytes) {
    await resp.body?.cancel();
    throw tooBig(String(declared));
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of resp.body ?? []) {
      total += chunk.length;
      if (total > maxBytes) throw tooBig(`over ${maxBytes}`);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof FetchError) throw err;
    throw new FetchError(`cannot fetch image ${url}: the download broke off (${(err as Error).message})`, url);
  }
  return concatBytes(chunks);
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
