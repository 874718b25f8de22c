/**
 * Image files named on a command line: files as given (a missing one is kept, to be reported with
 * the others' results), folders expanded to the images inside them (sorted).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { entryName } from './image_folder_files.js';

// Formats sharp decodes (no .bmp: libvips has no BMP reader).
const IMAGE_EXTENSIONS = /\.(png|jpe?g|webp|gif|tiff?|avif)$/i;

export function listImageFiles(inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    if (existsSync(p) && statSync(p).isDirectory()) {
      // Listed as bytes: an image whose name is not UTF-8 is refused by name (entryName), not reported missing.
      const found = readdirSync(p, { encoding: 'buffer' })
        .filter((f) => IMAGE_EXTENSIONS.test(f.toString('utf8')))
        .map((f) => entryName(f, p))
        .sort()
        .map((f) => join(p, f));
      if (found.length === 0) throw new DataError(`folder ${p} holds no images (.png, .jpg, .webp, …)`);
      out.push(...found);
    } else out.push(p);
  }
  return out;
}
