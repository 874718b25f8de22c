/** Image decoding in Node (sharp): file → planar (CHW) uint8 pixels. */
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { DataError } from '../errors.js';

export interface DecodedImage {
  /** Planar CHW uint8. */
  data: Uint8Array;
  channels: number;
  height: number;
  width: number;
}

/** Decode an image file, converted to `channels` (1 = grayscale, 3 = RGB). */
export async function decodeImage(path: string, channels: 1 | 3 = 3): Promise<DecodedImage> {
  if (!existsSync(path)) throw new DataError(`image not found: ${path}`);
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    let img = sharp(path).removeAlpha();
    img = channels === 1 ? img.grayscale() : img.toColourspace('srgb');
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
