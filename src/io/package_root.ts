/** Locate files shipped with the package (bundled data, sample images, package.json). */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { parseImageNetClasses, type ImageNetClass } from '../data/imagenet.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root: the nearest folder above this module that holds a package.json. Walking up
 * (instead of a fixed number of `..`) works both from `src/io/` and from the compiled `dist/src/io/`,
 * and inside `node_modules/visionmix/` when installed as a dependency.
 */
export function findPackageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; ) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    // No package.json anywhere above (e.g. a bundler inlined this module): fall back to the start
    // so that loading fails later with an error naming the path, rather than at import time.
    if (up === dir) return start;
    dir = up;
  }
}

/** The sample images shipped in `assets/samples/` (PNG files, sorted by name, as full paths). */
export function bundledSampleImages(): string[] {
  const dir = join(findPackageRoot(), 'assets', 'samples');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.png'))
    .sort()
    .map((f) => join(dir, f));
}

/** The ImageNet-1k class list bundled in `data/imagenet-1k/classes.tsv`. */
export function bundledImageNetClassesPath(): string {
  return join(findPackageRoot(), 'data', 'imagenet-1k', 'classes.tsv');
}

let imagenet: ImageNetClass[] | null = null;

/** The bundled ImageNet-1k classes (read once). */
export function readBundledImageNetClasses(): ImageNetClass[] {
  const path = bundledImageNetClassesPath();
  imagenet ??= parseImageNetClasses(readFileSync(path, 'utf8'), path);
  return imagenet;
}
