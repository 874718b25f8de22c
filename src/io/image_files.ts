/**
 * Image files named on a command line: files as given (a missing one is kept, to be reported with
 * the others' results), folders expanded to the images inside them (sorted).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';

const IMAGE_EXTENSIONS = /\.(png|jpe?g|webp|bmp|gif|tiff?|avif)$/i;

export function listImageFiles(inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    if (existsSync(p) && statSync(p).isDirectory()) {
      const found = readdirSync(p)
        .filter((f) => IMAGE_EXTENSIONS.test(f))
        .sort()
        .map((f) => join(p, f));
      if (found.length === 0) throw new DataError(`folder ${p} holds no images (.png, .jpg, .webp, …)`);
      out.push(...found);
    } else out.push(p);
  }
  return out;
}
