/** Image decoding in Node (sharp): file → planar (CHW) uint8 pixels. */
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { DataError } from '../errors.js';
import { replacementCharHint } from './image_folder_files.js';
import { cmykError } from './load_image.js';

export interface DecodedImage {
  /** Planar CHW uint8. */
  data: Uint8Array;
  channels: number;
  height: number;
  width: number;
}

export interface DecodeOptions {
  /** Resize so the shorter side has this length, keeping the aspect ratio. */
  resizeShorter?: number;
  /** Kernel of the `resizeShorter` resize: the weights' pretrained interpolation (default bicubic). */
  interpolation?: 'bicubic' | 'bilinear';
  /** Then cut the central size×size square. */
  centerCrop?: number;
  /** Resize to exactly this square size (bilinear) instead. */
  resizeTo?: number;
}

/** Decode an image file, converted to `channels` (1 = grayscale, 3 = RGB). */
export async function decodeImage(path: string, channels: 1 | 3 = 3, o: DecodeOptions = {}): Promise<DecodedImage> {
  if (!existsSync(path)) throw new DataError(`image not found: ${path}${replacementCharHint(path)}`);
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  // CMYK is refused here as in loadImage (libvips' ICC conversion is not PIL's).
  let space: string | undefined;
  try {
    space = (await sharp(path).metadata()).space;
  } catch (err) {
    throw new DataError(`cannot decode image ${path}: ${(err as Error).message}`);
  }
  if (space === 'cmyk') throw cmykError(path);
  try {
    let img = sharp(path).removeAlpha();
    img = channels === 1 ? img.grayscale() : img.toColourspace('srgb');
    if (o.resizeTo) img = img.resize(o.resizeTo, o.resizeTo, { fit: 'fill', kernel: 'linear' });
    if (o.resizeShorter) {
      const meta = await sharp(path).metadata();
      const [w, h] = [meta.width ?? 0, meta.height ?? 0];
      const s = o.resizeShorter / Math.min(w, h);
      img = sharp(await img.resize(Math.round(w * s), Math.round(h * s), { kernel: o.interpolation === 'bilinear' ? 'linear' : 'cubic' }).toBuffer());
      if (o.centerCrop) {
        const [rw, rh] = [Math.round(w * s), Math.round(h * s)];
        const c = o.centerCrop;
        img = img.extract({ left: Math.max(0, Math.round((rw - c) / 2)), top: Math.max(0, Math.round((rh - c) / 2)), width: Math.min(c, rw), height: Math.min(c, rh) });
      }
      img = channels === 1 ? img.grayscale() : img.toColourspace('srgb');
    }
    raw = await img.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new DataError(`cannot decode image ${path}: ${(err as Error).message}`);
  }
  const { width, height } = raw.info;
  const c = raw.info.channels;
  const hwc = raw.data;
  const out = new Uint8Array(channels * height * width);
  // sharp returns interleaved HWC; models want planar CHW.
  for (let ch = 0; ch < channels; ch++) {
    const src = Math.min(ch, c - 1);
    for (let i = 0; i < height * width; i++) out[ch * height * width + i] = hwc[i * c + src]!;
  }
  return { data: out, channels, height, width };
}
