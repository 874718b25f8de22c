/**
 * Build the bundled Fashion-MNIST subset and sample images from the full data set.
 *
 *   node dist/scripts/make-fashion-mnist-subset.js [--src DIR] [--out DIR] [--samples DIR]
 *
 * - data/fashion-mnist-subset/: the same four IDX file names, gzipped, holding the first 600
 *   training and the first 100 test images of every class, in their original order
 *   (6000 + 1000 images). The selection is deterministic, so rerunning reproduces the files.
 * - assets/samples/: eight test images as 28×28 grayscale PNGs, the first test image of each of
 *   the first eight classes to appear in the test set, named fmnist_test_<index>_<class>.png.
 *
 * Default source: /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist).
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { encodeIdx } from '../src/data/idx.js';
import {
  FASHION_MNIST_FILES,
  firstIndicesPerClass,
  selectFashionMnist,
  type FashionMnistSplit,
} from '../src/data/fashion_mnist.js';
import { BUNDLED_FASHION_MNIST_DIR, DEFAULT_FASHION_MNIST_DIR, loadFashionMnist } from '../src/io/fashion_mnist_files.js';

const TRAIN_PER_CLASS = 600;
const TEST_PER_CLASS = 100;
const SAMPLE_COUNT = 8;

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = process.argv[i + 1];
  if (value === undefined) throw new Error(`${name} needs a value`);
  return value;
}

/** "T-shirt/top" → "t_shirt_top", "Ankle boot" → "ankle_boot". */
function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
}

/** Write a split as two gzipped IDX files; returns the paths written. */
async function writeSplit(dir: string, split: FashionMnistSplit, imagesName: string, labelsName: string): Promise<string[]> {
  const files: [string, Uint8Array][] = [
    [imagesName, encodeIdx({ dtype: 'uint8', dims: [split.count, split.height, split.width], data: split.images }, imagesName)],
    [labelsName, encodeIdx({ dtype: 'uint8', dims: [split.count], data: split.labels }, labelsName)],
  ];
  const written: string[] = [];
  for (const [name, bytes] of files) {
    const path = join(dir, name + '.gz');
    // Node's gzip header has no timestamp or file name, so the output is byte-for-byte reproducible.
    await writeFile(path, gzipSync(bytes, { level: 9 }));
    written.push(path);
  }
  return written;
}

async function main(): Promise<void> {
  const src = option('--src', DEFAULT_FASHION_MNIST_DIR);
  const out = option('--out', BUNDLED_FASHION_MNIST_DIR);
  const samplesDir = option('--samples', join(BUNDLED_FASHION_MNIST_DIR, '..', '..', 'assets', 'samples'));

  const full = await loadFashionMnist(src);
  const train = selectFashionMnist(full.train, firstIndicesPerClass(full.train, TRAIN_PER_CLASS));
  const test = selectFashionMnist(full.test, firstIndicesPerClass(full.test, TEST_PER_CLASS));

  await mkdir(out, { recursive: true });
  const written = [
    ...(await writeSplit(out, train, FASHION_MNIST_FILES.trainImages, FASHION_MNIST_FILES.trainLabels)),
    ...(await writeSplit(out, test, FASHION_MNIST_FILES.testImages, FASHION_MNIST_FILES.testLabels)),
  ];

  // Check the result by loading it back the way users will.
  const check = await loadFashionMnist(out);
  if (check.train.count !== train.count || check.test.count !== test.count)
    throw new Error(`subset in ${out} reloads with ${check.train.count}/${check.test.count} images`);

  // Samples: walk the full test set in order and take the first image of each new class.
  await mkdir(samplesDir, { recursive: true });
  for (const f of await readdir(samplesDir)) if (/^fmnist_test_\d+_.*\.png$/.test(f)) await rm(join(samplesDir, f));
  const seen = new Set<number>();
  const px = full.test.height * full.test.width;
  for (let i = 0; i < full.test.count && seen.size < SAMPLE_COUNT; i++) {
    const label = full.test.labels[i]!;
    if (seen.has(label)) continue;
    seen.add(label);
    const path = join(samplesDir, `fmnist_test_${i}_${slug(full.test.classes[label]!)}.png`);
    const pixels = full.test.images.subarray(i * px, (i + 1) * px);
    await sharp(pixels, { raw: { width: full.test.width, height: full.test.height, channels: 1 } })
      .toColourspace('b-w')
      .png({ compressionLevel: 9 })
      .toFile(path);
    written.push(path);
  }

  for (const path of written) console.log(path);
  console.log(`train ${train.count} images, test ${test.count} images`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
