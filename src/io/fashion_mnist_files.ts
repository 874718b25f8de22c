/**
 * Node adapter: load Fashion-MNIST from a directory holding the four IDX files (gzip or not).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findPackageRoot } from './package_root.js';
import { DataError } from '../errors.js';
import { assembleFashionMnist, FASHION_MNIST_FILES, type FashionMnist } from '../data/fashion_mnist.js';
import { readIdxFile } from './idx_file.js';

/** Where the Debian package `dataset-fashion-mnist` installs the full data set. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/**
 * The class-balanced subset bundled with the package (6000 train / 1000 test images; see
 * data/fashion-mnist-subset/README.md). Small enough for tests and CI without the full set.
 */
export const BUNDLED_FASHION_MNIST_DIR: string = join(findPackageRoot(), 'data', 'fashion-mnist-subset');

/** The path of `name` or `name.gz` in `dir`, preferring the compressed one; undefined if neither exists. */
function locate(dir: string, name: string): string | undefined {
  for (const candidate of [join(dir, name + '.gz'), join(dir, name)]) if (existsSync(candidate)) return candidate;
  return undefined;
}

/** True when all four Fashion-MNIST files are present in `dir` (use it to skip optional tests). */
export function hasFashionMnist(dir: string = DEFAULT_FASHION_MNIST_DIR): boolean {
  return Object.values(FASHION_MNIST_FILES).every((name) => locate(dir, name) !== undefined);
}

/**
 * Load both splits from `dir`, which holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
 * `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each optionally with `.gz`.
 * A missing file → `DataError` naming it and saying how to get the data.
 */
export async function loadFashionMnist(dir: string = DEFAULT_FASHION_MNIST_DIR): Promise<FashionMnist> {
  const paths = {} as Record<keyof typeof FASHION_MNIST_FILES, string>;
  for (const [key, name] of Object.entries(FASHION_MNIST_FILES) as [keyof typeof FASHION_MNIST_FILES, string][]) {
    const path = locate(dir, name);
    if (path === undefined)
      throw new DataError(
        `Fashion-MNIST: ${join(dir, name)}(.gz) not found. Install the full data set with ` +
          `\`apt-get install dataset-fashion-mnist\` (it goes to ${DEFAULT_FASHION_MNIST_DIR}), ` +
          `download the four files from https://github.com/zalandoresearch/fashion-mnist, ` +
          `or use the bundled subset in ${BUNDLED_FASHION_MNIST_DIR}`,
      );
    paths[key] = path;
  }
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    readIdxFile(paths.trainImages),
    readIdxFile(paths.trainLabels),
    readIdxFile(paths.testImages),
    readIdxFile(paths.testLabels),
  ]);
  return assembleFashionMnist({ trainImages, trainLabels, testImages, testLabels });
}
