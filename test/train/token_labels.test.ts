/**
 * Per-token label maps (token labelling): each final-stage token takes the label cell under its
 * centre after the batch's crop and flip, the image's label in the padding; the file is checked
 * against the training set; batches record where each image landed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBatch, type Placement } from '../../src/data/transforms.js';
import { Tensor } from '../../src/tensor.js';
import { TokenLabelMaps } from '../../src/train/token_labels.js';
import { Rng } from '../../src/util/rng.js';

const K = 4;
// One 4×4 image whose 2×2 label map is [[0, 1], [2, 3]] (hard labels).
const hard = TokenLabelMaps.from(new Tensor(Int32Array.of(0, 1, 2, 3), [1, 2, 2], 'int32'), 'maps.safetensors', 1, K);
const place = (top: number, left: number, flip: boolean): Placement => ({
  indices: Int32Array.of(0),
  tops: Int32Array.of(top),
  lefts: Int32Array.of(left),
  flips: Uint8Array.of(flip ? 1 : 0),
  imageHeight: 4,
  imageWidth: 4,
});
const argmaxes = (t: Tensor) => {
  const d = t.data as Float32Array;
  return Array.from({ length: t.shape[1]! }, (_, j) => {
    const row = Array.from(d.subarray(j * K, (j + 1) * K));
    return row.indexOf(Math.max(...row));
  });
};

test('token labels: the cell under each token centre, after crop and flip; padding takes the image label', () => {
  assert.deepEqual(argmaxes(hard.targets(place(0, 0, false), Int32Array.of(3), 4, 2, K, 0)), [0, 1, 2, 3]);
  assert.deepEqual(argmaxes(hard.targets(place(0, 0, true), Int32Array.of(3), 4, 2, K, 0)), [1, 0, 3, 2], 'a flip mirrors the map');
  // Shifted down by 2 px: the top tokens' centres lie in the padding (image label 3), the bottom ones on row 0.
  assert.deepEqual(argmaxes(hard.targets(place(-2, 0, false), Int32Array.of(3), 4, 2, K, 0)), [3, 3, 0, 1]);
  const smooth = hard.targets(place(0, 0, false), Int32Array.of(3), 4, 2, K, 0.2).data as Float32Array;
  assert.deepEqual(Array.from(smooth.subarray(0, K)).map((v) => +v.toFixed(4)), [0.85, 0.05, 0.05, 0.05], 'hard labels are smoothed as the image target');
  // Soft maps are used as given.
  const soft = TokenLabelMaps.from(new Tensor(Float32Array.from({ length: 4 * K }, (_, i) => (i % K === 2 ? 1 : 0)), [1, 2, 2, K], 'float32'), 's', 1, K);
  assert.deepEqual(argmaxes(soft.targets(place(0, 0, false), Int32Array.of(0), 4, 2, K, 0.1)), [2, 2, 2, 2]);
});

test('token labels: a file that does not fit the training set is a DataError naming the file', () => {
  const t = (data: Int32Array | Float32Array, shape: number[], dtype: 'int32' | 'float32' = 'int32') => new Tensor(data, shape, dtype);
  assert.throws(() => TokenLabelMaps.from(t(new Int32Array(8), [2, 2, 2]), 'm.st', 3, K), { name: 'DataError', message: /m\.st: token_labels has maps for 2 images, but the training set has 3/ });
  assert.throws(() => TokenLabelMaps.from(t(Int32Array.of(0, 9, 0, 0), [1, 2, 2]), 'm.st', 1, K), { name: 'DataError', message: /class 9, outside 0…3/ });
  assert.throws(() => TokenLabelMaps.from(t(new Float32Array(12), [1, 2, 2, 3], 'float32'), 'm.st', 1, K), { name: 'DataError', message: /over 3 classes, but the model has 4/ });
  assert.throws(() => TokenLabelMaps.from(t(new Float32Array(4), [1, 4], 'float32'), 'm.st', 1, K), { name: 'DataError', message: /must be int32\/int64 \[N, h, w\]/ });
  assert.throws(() => hard.targets(undefined, Int32Array.of(0), 4, 2, K, 0), { name: 'ConfigError', message: /image folders are not supported yet/ });
});

test('makeBatch records where each image landed: output (y, x) shows image (top + y, left + x or mirrored)', () => {
  const [h, w, n] = [5, 6, 3];
  const images = Uint8Array.from({ length: n * h * w }, (_, i) => (i * 37) % 251);
  const data = { images, labels: Uint8Array.of(0, 1, 2), classes: ['a', 'b', 'c'], count: n, channels: 1, height: h, width: w, mean: [0], std: [1 / 255] };
  const b = makeBatch(data, [2, 0, 1], { size: 8, train: true, rng: new Rng(3), pad: 2 });
  const p = b.placement!;
  assert.deepEqual(Array.from(p.indices), [2, 0, 1]);
  const x = b.x.data as Float32Array;
  for (let i = 0; i < 3; i++)
    for (let y = 0; y < 8; y++)
      for (let xo = 0; xo < 8; xo++) {
        const sy = p.tops[i]! + y;
        const sx = p.flips[i] ? p.lefts[i]! + 7 - xo : p.lefts[i]! + xo;
        const want = sy >= 0 && sy < h && sx >= 0 && sx < w ? images[p.indices[i]! * h * w + sy * w + sx]! : 0;
        assert.ok(Math.abs(x[i * 64 + y * 8 + xo]! - want) < 1e-3, `image ${i} (${y}, ${xo})`);
      }
});
