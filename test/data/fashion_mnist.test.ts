import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataError } from '../../src/errors.js';
import { encodeIdx, type IdxArray } from '../../src/data/idx.js';
import {
  classCounts,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_FILES,
  fashionMnistSplit,
  firstIndicesPerClass,
  selectFashionMnist,
} from '../../src/data/fashion_mnist.js';
import {
  BUNDLED_FASHION_MNIST_DIR,
  DEFAULT_FASHION_MNIST_DIR,
  hasFashionMnist,
  loadFashionMnist,
} from '../../src/io/fashion_mnist_files.js';
import { repoRoot } from '../helpers.js';

test('class names', () => {
  assert.equal(FASHION_MNIST_CLASSES.length, 10);
  assert.equal(FASHION_MNIST_CLASSES[0], 'T-shirt/top');
  assert.equal(FASHION_MNIST_CLASSES[9], 'Ankle boot');
});

test('the bundled subset loads: 6000 train / 1000 test, 600 / 100 per class', async () => {
  assert.equal(BUNDLED_FASHION_MNIST_DIR, join(repoRoot, 'data', 'fashion-mnist-subset'));
  const { train, test: t10k } = await loadFashionMnist(BUNDLED_FASHION_MNIST_DIR);
  assert.equal(train.count, 6000);
  assert.equal(t10k.count, 1000);
  assert.equal(train.images.length, 6000 * 28 * 28);
  assert.equal(t10k.images.length, 1000 * 28 * 28);
  assert.deepEqual(classCounts(train), new Array(10).fill(600));
  assert.deepEqual(classCounts(t10k), new Array(10).fill(100));
  assert.equal(train.height, 28);
  assert.equal(train.width, 28);
  assert.equal(train.channels, 1);
  assert.equal(train.classes, FASHION_MNIST_CLASSES);
  // Original order is kept: the first test image of the full set (an ankle boot) comes first.
  assert.equal(t10k.labels[0], 9);
});

test('the bundled sample PNGs are the named test images', async () => {
  const { test: t10k } = await loadFashionMnist(BUNDLED_FASHION_MNIST_DIR);
  const dir = join(repoRoot, 'assets', 'samples');
  const files = readdirSync(dir).filter((f) => f.startsWith('fmnist_test_') && f.endsWith('.png'));
  assert.equal(files.length, 8);
  const labels = new Set<number>();
  for (const f of files) {
    const index = Number(/^fmnist_test_(\d+)_/.exec(f)![1]);
    // The samples come from the first 14 test images, all of which are in the subset in the same place.
    assert.ok(index < 14);
    // The file itself is one-channel; sharp converts to sRGB on output unless told to stay b-w.
    const meta = await sharp(join(dir, f)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 28, 28, 1], f);
    const { data, info } = await sharp(join(dir, f)).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [28, 28, 1], f);
    assert.deepEqual(new Uint8Array(data), t10k.images.subarray(index * 784, (index + 1) * 784), f);
    const label = t10k.labels[index]!;
    assert.ok(f.endsWith(FASHION_MNIST_CLASSES[label]!.toLowerCase().replace(/[^a-z0-9]+/g, '_') + '.png'), f);
    labels.add(label);
  }
  assert.equal(labels.size, 8);
});

test('the full set loads if installed (60000 / 10000) and the subset is its first images per class', {
  skip: hasFashionMnist(DEFAULT_FASHION_MNIST_DIR) ? false : `no Fashion-MNIST in ${DEFAULT_FASHION_MNIST_DIR}`,
}, async () => {
  const full = await loadFashionMnist(DEFAULT_FASHION_MNIST_DIR);
  assert.equal(full.train.count, 60000);
  assert.equal(full.test.count, 10000);
  assert.deepEqual(classCounts(full.train), new Array(10).fill(6000));
  assert.deepEqual(classCounts(full.test), new Array(10).fill(1000));

  const subset = await loadFashionMnist(BUNDLED_FASHION_MNIST_DIR);
  const train = selectFashionMnist(full.train, firstIndicesPerClass(full.train, 600));
  const t10k = selectFashionMnist(full.test, firstIndicesPerClass(full.test, 100));
  assert.deepEqual(subset.train.labels, train.labels);
  assert.deepEqual(subset.train.images, train.images);
  assert.deepEqual(subset.test.labels, t10k.labels);
  assert.deepEqual(subset.test.images, t10k.images);
});

function idx(file: string, dims: number[], data: Uint8Array): IdxArray {
  return { file, dtype: 'uint8', dims, data };
}

test('fashionMnistSplit rejects mismatched files with DataError naming the file', () => {
  const images = idx('imgs', [2, 28, 28], new Uint8Array(2 * 784));
  const check = (fn: () => unknown, file: string) =>
    assert.throws(fn, (e: unknown) => e instanceof DataError && e.message.includes(file));
  check(() => fashionMnistSplit(images, idx('labels-3', [3], new Uint8Array(3))), 'labels-3');
  check(() => fashionMnistSplit(images, idx('labels-bad', [2], new Uint8Array([1, 10]))), 'labels-bad');
  check(() => fashionMnistSplit(idx('imgs-32', [2, 32, 32], new Uint8Array(2 * 1024)), idx('l', [2], new Uint8Array(2))), 'imgs-32');
  const ok = fashionMnistSplit(images, idx('l', [2], new Uint8Array([3, 9])));
  assert.equal(ok.count, 2);
});

test('loadFashionMnist: a missing file → DataError naming it with the apt-get hint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-fmnist-'));
  try {
    await assert.rejects(loadFashionMnist(dir), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.ok(e.message.includes(join(dir, FASHION_MNIST_FILES.trainImages)), e.message);
      assert.ok(e.message.includes('apt-get install dataset-fashion-mnist'), e.message);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadFashionMnist accepts uncompressed file names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-fmnist-'));
  try {
    const images = new Uint8Array(3 * 784).map((_, i) => i % 251);
    const labels = new Uint8Array([4, 0, 9]);
    for (const prefix of ['train', 't10k']) {
      writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), encodeIdx({ dtype: 'uint8', dims: [3, 28, 28], data: images }));
      writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx({ dtype: 'uint8', dims: [3], data: labels }));
    }
    assert.ok(hasFashionMnist(dir));
    const ds = await loadFashionMnist(dir);
    assert.equal(ds.train.count, 3);
    assert.deepEqual(Array.from(ds.test.labels), [4, 0, 9]);
    assert.deepEqual(ds.train.images, images);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
