/**
 * `loadImage` in the browser: planar (CHW) uint8 RGB, as Node's `loadImage` gives it.
 *
 * - Encoded bytes (a URL fetched, a Blob/File, an ArrayBuffer or Uint8Array) are decoded by the same
 *   code as everywhere (data/decode_image.ts: PNG here, JPEG by libjpeg-turbo as WebAssembly), so a
 *   photo gives PIL's pixels bit for bit, whatever the browser's own decoder would do. Other formats
 *   (WebP, GIF, AVIF, …) fall back to the browser's decoder (`createImageBitmap`).
 * - Elements and frames (HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, ImageBitmap,
 *   VideoFrame, HTMLVideoElement) are read back through a canvas (`getImageData`), their bitmap made
 *   with `colorSpaceConversion: 'none'` and `premultiplyAlpha: 'none'`. The difference from decoding
 *   the bytes: the browser decoded them (its JPEG decoder may round differently from libjpeg-turbo's
 *   ISLOW IDCT by a level or two, and an `<img>` may already have had its ICC profile applied before
 *   we see it), and a 2D canvas stores premultiplied alpha, so the colour of a semi-transparent pixel
 *   can come back rounded. Opaque PNGs come back exact. For PIL-exact pixels, pass the bytes.
 * - ImageData is taken as it is (alpha dropped, not composited — as PIL's convert('RGB')).
 */
import { DataError } from '../errors.js';
import { MAX_IMAGE_PIXELS, checkSize, decodeImageBytes, isJpeg, isPng, toPlanarRgb, type JpegDecoder, type LoadedImage } from './decode_image.js';
import { jpegDecoderFromWasm } from './jpeg_wasm.js';

/** What the browser's `loadImage` reads. */
export type WebImageSource =
  | string
  | URL
  | Blob
  | ArrayBuffer
  | ArrayBufferView
  | ImageData
  | ImageBitmap
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | VideoFrame;

export interface WebLoadImageOptions {
  /** Refuse images with more pixels (default: PIL's decompression-bomb limit). */
  maxPixels?: number;
  /**
   * Where libjpeg-turbo's WebAssembly comes from, for JPEG bytes: a URL, its bytes or the compiled
   * module (default: `setJpegWasm`'s, else `jpeg-turbo.wasm` beside this module — copy
   * node_modules/@cwasm/jpeg-turbo/jpeg-turbo.wasm there when bundling).
   */
  jpegWasm?: string | URL | BufferSource | WebAssembly.Module;
}

let defaultJpegWasm: WebLoadImageOptions['jpegWasm'];
const decoders = new Map<unknown, Promise<JpegDecoder>>();

/** Where JPEG's WebAssembly decoder comes from when `loadImage` is not told (a URL, bytes or a module). */
export function setJpegWasm(source: NonNullable<WebLoadImageOptions['jpegWasm']>): void {
  defaultJpegWasm = source;
}

function jpegDecoder(source: WebLoadImageOptions['jpegWasm']): Promise<JpegDecoder> {
  const src = source ?? defaultJpegWasm ?? new URL('./jpeg-turbo.wasm', import.meta.url);
  const key = src instanceof URL ? src.href : src;
  let d = decoders.get(key);
  if (!d) {
    d = (async () => {
      if (typeof src === 'string' || src instanceof URL) {
        const res = await fetch(src);
        if (!res.ok) throw new DataError(`the JPEG decoder's WebAssembly ${String(src)} answered ${res.status}: serve jpeg-turbo.wasm there or call setJpegWasm(url)`);
        return jpegDecoderFromWasm(await res.arrayBuffer());
      }
      return jpegDecoderFromWasm(src);
    })();
    // A failed load is not cached: the next image tries again (after setJpegWasm, say).
    d.catch(() => decoders.delete(key));
    decoders.set(key, d);
  }
  return d;
}

const has = (name: string) => typeof (globalThis as Record<string, unknown>)[name] === 'function';
const isInstance = (x: unknown, name: string) => has(name) && x instanceof ((globalThis as Record<string, unknown>)[name] as new () => unknown);

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'object';
}

/** Decode an image in the browser (see the module comment for what each source gives). */
export async function loadImageWeb(source: WebImageSource, o: WebLoadImageOptions = {}): Promise<LoadedImage> {
  if (typeof source === 'string' || source instanceof URL) {
    const url = String(source);
    let res: Response;
    try {
      res = await fetch(url);
    } catch (err) {
      throw new DataError(`cannot fetch image ${url}: ${(err as Error).message}`);
    }
    if (!res.ok) throw new DataError(`cannot fetch image ${url}: ${res.status} ${res.statusText}`);
    return fromBytes(new Uint8Array(await res.arrayBuffer()), url, o);
  }
  if (isInstance(source, 'Blob')) {
    const blob = source as Blob;
    return fromBytes(new Uint8Array(await blob.arrayBuffer()), (blob as File).name || `<${blob.type || 'Blob'}, ${blob.size} bytes>`, o);
  }
  if (source instanceof ArrayBuffer) return fromBytes(new Uint8Array(source), `<${source.byteLength} bytes>`, o);
  if (ArrayBuffer.isView(source)) return fromBytes(new Uint8Array(source.buffer, source.byteOffset, source.byteLength), `<${source.byteLength} bytes>`, o);
  if (isInstance(source, 'ImageData')) {
    const d = source as ImageData;
    return toPlanarRgb(d.data, d.width, d.height, 4, false);
  }
  for (const kind of ['ImageBitmap', 'HTMLImageElement', 'HTMLCanvasElement', 'HTMLVideoElement', 'OffscreenCanvas', 'VideoFrame'])
    if (isInstance(source, kind)) return fromElement(source as ImageBitmapSource, kind, o);
  throw new DataError(
    `loadImage: expected a URL, Blob/File, ArrayBuffer, Uint8Array, ImageData, ImageBitmap, HTMLImageElement, HTMLCanvasElement, OffscreenCanvas or VideoFrame, got ${describe(source)}`,
  );
}

async function fromBytes(bytes: Uint8Array, name: string, o: WebLoadImageOptions): Promise<LoadedImage> {
  if (bytes.length > 0 && !isPng(bytes) && !isJpeg(bytes) && has('createImageBitmap')) {
    // Not PNG or JPEG: the browser's decoder (not PIL-exact, but the format is read).
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch {
      throw new DataError(`cannot decode image ${name}: neither PNG, JPEG, nor a format this browser decodes`);
    }
    return fromElement(bitmap, 'ImageBitmap', o);
  }
  return decodeImageBytes(bytes, { name, maxPixels: o.maxPixels, jpeg: () => jpegDecoder(o.jpegWasm) });
}

async function fromElement(source: ImageBitmapSource, kind: string, o: WebLoadImageOptions): Promise<LoadedImage> {
  if (kind === 'HTMLImageElement') {
    const img = source as HTMLImageElement;
    try {
      if (!img.complete || img.naturalWidth === 0) await img.decode();
    } catch {
      throw new DataError(`cannot decode image ${img.currentSrc || img.src || '<img>'}: the element has no decodable image`);
    }
  }
  // An ImageBitmap is drawn as it is (its creator chose its options); the others are turned into one
  // without colour-space conversion or premultiplication.
  const bitmap = kind === 'ImageBitmap' ? (source as ImageBitmap) : await createImageBitmap(source, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width, height } = bitmap;
  checkSize(width, height, `<${kind}>`, o.maxPixels ?? MAX_IMAGE_PIXELS);
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' } as CanvasRenderingContext2DSettings) as OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new DataError('loadImage: this browser gives no 2D canvas context to read pixels with');
  ctx.drawImage(bitmap, 0, 0);
  if (bitmap !== source) bitmap.close();
  const data = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' } as ImageDataSettings).data;
  return toPlanarRgb(data, width, height, 4, false);
}
