import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';
import {
  cropWithPadding,
  horizontalFlip,
  makeBatch,
  padTo,
  randomCropOffset,
  randomCropWithPadding,
  replicateChannels,
  toFloat,
  type ImageDataset,
} from '../../src/data/transforms.js';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from '../../src/data/fashion_mnist.js';

/** An h×w×channels image whose every pixel is distinct-ish and non-zero (so padding zeros stand out). */
function image(h: number, w: number, channels = 1, salt = 0): Uint8Array {
  const a = new Uint8Array(channels * h * w);
  for (let i = 0; i < a.length; i++) a[i] = 1 + ((i * 7 + salt * 13) % 255);
  return a;
}

/** A small synthetic data set in the ImageDataset shape. */
function dataset(count: number, h = 28, w = 28, channels = 1): ImageDataset {
  const images = new Uint8Array(count * channels * h * w);
  for (let n = 0; n < count; n++) images.set(image(h, w, channels, n), n * channels * h * w);
  const labels = new Uint8Array(count).map((_, i) => i % 10);
  return { images, labels, count, height: h, width: w, channels, classes: [...'0123456789'], mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] };
}

test('toFloat scales to [0, 1] then normalises', () => {
  const out = toFloat(new Uint8Array([0, 255, 51]), 0.5, 0.25);
  assert.ok(Math.abs(out[0]! - -2) < 1e-6);
  assert.ok(Math.abs(out[1]! - 2) < 1e-6);
  assert.ok(Math.abs(out[2]! - (0.2 - 0.5) / 0.25) < 1e-6);
  // Per-channel stats: two planes of two pixels.
  const pc = toFloat(new Uint8Array([255, 255, 255, 255]), [0, 1], [1, 2]);
  assert.deepEqual(Array.from(pc), [1, 1, 0, 0]);
  assert.throws(() => toFloat(new Uint8Array(2), 0, 0), ConfigError);
});

test('padTo centres the image in zeros', () => {
  const src = image(28, 28);
  const out = padTo(src, 28, 28, 32, 32);
  assert.equal(out.length, 32 * 32);
  for (let y = 0; y < 32; y++)
    for (let x = 0; x < 32; x++) {
      const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
      assert.equal(out[y * 32 + x], inside ? src[(y - 2) * 28 + (x - 2)] : 0);
    }
  assert.throws(() => padTo(src, 28, 28, 24, 24), ConfigError);
});

test('random crop with padding keeps the image content at the chosen offset', () => {
  const h = 28;
  const w = 28;
  const pad = 4;
  const channels = 2;
  const src = image(h, w, channels);
  const seenTop = new Set<number>();
  const seenLeft = new Set<number>();
  for (let seed = 0; seed < 200; seed++) {
    const rng = new Rng(seed);
    // Draw the same offsets from a copy of the generator.
    const { top, left } = randomCropOffset(h, w, h, w, pad, Rng.fromState(rng.getState()));
    seenTop.add(top);
    seenLeft.add(left);
    const out = randomCropWithPadding(src, h, w, h, w, pad, rng, channels);
    assert.deepEqual(out, cropWithPadding(src, h, w, h, w, pad, top, left, channels));
    for (let c = 0; c < channels; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          // Output (y, x) is padded-image (top + y, left + x), i.e. source (top + y - pad, left + x - pad).
          const sy = top + y - pad;
          const sx = left + x - pad;
          const expected = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[c * h * w + sy * w + sx] : 0;
          assert.equal(out[c * h * w + y * w + x], expected);
        }
  }
  // Offsets are uniform over [0, 2·pad]: all 9 values show up in 200 draws.
  assert.deepEqual([...seenTop].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...seenLeft].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);

  // Corners: offset (0, 0) shows the top-left padding; a crop smaller than the image works too.
  const gray = image(h, w);
  const corner = cropWithPadding(gray, h, w, 24, 20, pad, 0, 0);
  assert.equal(corner[0], 0);
  assert.equal(corner[4 * 20 + 4], gray[0]);
  assert.throws(() => cropWithPadding(gray, h, w, h, w, pad, 9, 0), ConfigError);
  assert.throws(() => randomCropWithPadding(gray, h, w, 40, 40, pad, new Rng(0)), ConfigError);
  assert.throws(() => randomCropWithPadding(src, h, w, h, w, pad, new Rng(0)), ConfigError); // 2 channels, 1 declared
});

test('horizontal flip mirrors rows; flipping twice is the identity', () => {
  const src = image(5, 7, 3);
  const once = horizontalFlip(src, 5, 7, 3);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 5; y++)
      for (let x = 0; x < 7; x++) assert.equal(once[c * 35 + y * 7 + x], src[c * 35 + y * 7 + (6 - x)]);
  assert.deepEqual(horizontalFlip(once, 5, 7, 3), src);
  const f = toFloat(image(28, 28));
  assert.deepEqual(horizontalFlip(horizontalFlip(f, 28, 28), 28, 28), f);
  assert.ok(horizontalFlip(f, 28, 28) instanceof Float32Array);
});

test('replicateChannels repeats the plane', () => {
  const src = image(4, 4);
  const out = replicateChannels(src, 4, 4);
  assert.equal(out.length, 48);
  for (let c = 0; c < 3; c++) assert.deepEqual(out.subarray(c * 16, (c + 1) * 16), src);
});

test('eval batch: deterministic centre padding, equal to padTo → toFloat, draws no randomness', () => {
  const ds = dataset(10);
  const rng = new Rng(1);
  const before = rng.getState();
  const a = makeBatch(ds, [3, 7, 0], { size: 32, train: false, rng });
  const b = makeBatch(ds, [3, 7, 0], { size: 32, train: false });
  assert.deepEqual(rng.getState(), before);
  assert.deepEqual(a.x.shape, [3, 1, 32, 32]);
  assert.equal(a.x.dtype, 'float32');
  assert.deepEqual(a.x.data, b.x.data);
  assert.deepEqual(Array.from(a.labels), [3, 7, 0]);
  const img7 = ds.images.subarray(7 * 784, 8 * 784);
  const expected = toFloat(padTo(img7, 28, 28, 32, 32), FASHION_MNIST_MEAN, FASHION_MNIST_STD);
  assert.deepEqual(a.x.data.subarray(1024, 2048), expected);
  // Padding reads as a black pixel after normalisation, not as 0.
  assert.ok(Math.abs(a.x.data[0]! - -FASHION_MNIST_MEAN / FASHION_MNIST_STD) < 1e-6);
});

test('train batch: same seed → same batch; equals padTo → randomCropWithPadding → flip → toFloat', () => {
  const ds = dataset(20);
  const indices = [5, 0, 19, 5, 12, 3, 8, 8];
  const a = makeBatch(ds, indices, { size: 32, train: true, rng: new Rng(42), channels: 3 });
  const b = makeBatch(ds, indices, { size: 32, train: true, rng: new Rng(42), channels: 3 });
  const c = makeBatch(ds, indices, { size: 32, train: true, rng: new Rng(43), channels: 3 });
  assert.deepEqual(a.x.shape, [8, 3, 32, 32]);
  assert.deepEqual(a.x.data, b.x.data);
  assert.deepEqual(a.labels, b.labels);
  assert.notDeepEqual(a.x.data, c.x.data);

  // The fused path agrees with the composition of the individual transforms (same rng draws).
  const rng = new Rng(42);
  let flips = 0;
  indices.forEach((idx, i) => {
    const padded = padTo(ds.images.subarray(idx * 784, (idx + 1) * 784), 28, 28, 32, 32);
    let img = randomCropWithPadding(padded, 32, 32, 32, 32, 4, rng);
    if (rng.random() < 0.5) {
      img = horizontalFlip(img, 32, 32);
      flips++;
    }
    const expected = replicateChannels(toFloat(img, FASHION_MNIST_MEAN, FASHION_MNIST_STD), 32, 32, 3);
    assert.deepEqual(a.x.data.subarray(i * 3072, (i + 1) * 3072), expected, `image ${i}`);
  });
  assert.ok(flips > 0 && flips < indices.length, 'seed 42 should flip some but not all of 8 images');
});

test('makeBatch: per-channel normalisation and option errors', () => {
  const ds = dataset(4);
  const { x } = makeBatch(ds, [1], { size: 28, train: false, channels: 3, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  const p = 784;
  assert.ok(Math.abs(x.data[0]! - (ds.images[784]! / 255 - 0.485) / 0.229) < 1e-5);
  assert.ok(Math.abs(x.data[p]! - (ds.images[784]! / 255 - 0.456) / 0.224) < 1e-5);
  assert.ok(Math.abs(x.data[2 * p]! - (ds.images[784]! / 255 - 0.406) / 0.225) < 1e-5);

  const message = (fn: () => unknown, part: string) =>
    assert.throws(fn, (e: unknown) => e instanceof ConfigError && e.message.includes(part));
  message(() => makeBatch(ds, [0], { size: 24, train: false }), 'size');
  message(() => makeBatch(ds, [0], { size: 32, train: true }), 'rng');
  message(() => makeBatch(ds, [4], { size: 32, train: false }), 'indices');
  message(() => makeBatch(ds, [0], { size: 32, train: false, mean: [0.1, 0.2] }), 'mean');
  message(() => makeBatch(dataset(2, 8, 8, 3), [0], { size: 8, train: false, channels: 1 }), 'channels');
});
