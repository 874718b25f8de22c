/** Write an 8-bit RGB image (interleaved HWC) as a PNG file (sharp). */
import sharp from 'sharp';
import { DataError } from '../errors.js';

export interface RgbBuffer {
  width: number;
  height: number;
  /** width × height × 3 bytes, row-major RGB. */
  data: Uint8Array;
}

export async function writePng(path: string, img: RgbBuffer): Promise<void> {
  if (img.data.length !== img.width * img.height * 3)
    throw new DataError(`writePng ${path}: ${img.data.length} bytes for a ${img.width}×${img.height} RGB image (needs ${img.width * img.height * 3})`);
  try {
    await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
      .png()
      .toFile(path);
  } catch (err) {
    throw new DataError(`cannot write PNG ${path}: ${(err as Error).message}`);
  }
}
