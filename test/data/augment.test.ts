/**
 * RandomResizedCrop, flip, colour jitter, random erasing and the whole timm train transform against
 * their definitions on fixed inputs: box statistics and the centre fallback, erased areas within
 * bounds, fills as asked, probabilities, typed errors, and the same seed giving the same sample.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  colorJitter,
  crop,
  randomErasing,
  randomHorizontalFlip,
  randomResizedCrop,
  randomResizedCropBox,
} from '../../src/data/augment.js';
import { resizeImage, type PlanarImage } from '../../src/data/resample.js';
import { createTrainTransform, type TrainTransformTrace } from '../../src/data/train_transform.js';
import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

function photo(w: number, h: number, seed = 1): PlanarImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(3 * w * h);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(c * h + y) * w + x] = (x * 3 + y * 2 + c * 50 + rng.int(30)) & 255;
  return { data, channels: 3, height: h, width: w };
}

test('RandomResizedCrop boxes: inside the image, area and aspect within range, aspect log-symmetric', () => {
  const rng = new Rng(1);
  // Square, so that wide and tall crops fit equally often and the accepted aspects stay symmetric.
  const [W, H] = [300, 300];
  const logAspects: number[] = [];
  const areas: number[] = [];
  for (let t = 0; t < 5000; t++) {
    const b = randomResizedCropBox(W, H, rng);
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= H && b.left + b.width <= W);
    const area = (b.width * b.height) / (W * H);
    const aspect = b.width / b.height;
    // Sides are rounded to integers, so allow a pixel's worth around the ranges.
    assert.ok(area >= 0.08 - 0.01 && area <= 1, `area ${area}`);
    assert.ok(aspect >= 0.75 * (1 - 2 / b.height) && aspect <= (4 / 3) * (1 + 2 / b.height), `aspect ${aspect}`);
    logAspects.push(Math.log(aspect));
    areas.push(area);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(mean(logAspects)) < 0.01, `mean log aspect ${mean(logAspects)}`);
  // Accepted area fractions are uniform in [0.08, 1] up to the tries that do not fit (large crops):
  // the mean sits a little below 0.54.
  assert.ok(mean(areas) > 0.45 && mean(areas) < 0.54, `mean area ${mean(areas)}`);
});

test('RandomResizedCrop falls back to the centred crop of the nearest allowed aspect after 10 failed tries', () => {
  const rng = new Rng(2);
  // Areas over the whole image never fit: every try fails.
  assert.deepEqual(randomResizedCropBox(400, 100, rng, [2, 3]), { top: 0, left: 133, height: 100, width: 133 });
  assert.deepEqual(randomResizedCropBox(100, 400, rng, [2, 3]), { top: 133, left: 0, height: 133, width: 100 });
  assert.deepEqual(randomResizedCropBox(200, 180, rng, [2, 3]), { top: 0, left: 0, height: 180, width: 200 });
  assert.throws(() => randomResizedCropBox(10, 10, rng, [0.5, 0.1]), (e: Error) => e instanceof ConfigError && /`scale`/.test(e.message));
  assert.throws(() => randomResizedCropBox(10, 10, rng, [0.1, 1], [0, 1]), /`ratio`/);
});

test('randomResizedCrop = PIL resize of the drawn box to the output size', () => {
  const img = photo(97, 71);
  for (const interpolation of ['bilinear', 'bicubic'] as const) {
    const out = randomResizedCrop(img, [32, 40], new Rng(3), { interpolation });
    const box = randomResizedCropBox(97, 71, new Rng(3));
    assert.deepEqual([out.height, out.width], [32, 40]);
    assert.deepEqual(out.data, resizeImage(crop(img, box), 40, 32, interpolation).data);
  }
});

test('horizontal flip mirrors with probability p', () => {
  const img = photo(5, 3);
  const rng = new Rng(4);
  let flips = 0;
  for (let t = 0; t < 2000; t++) {
    const out = randomHorizontalFlip(img, 0.3, rng);
    if (out !== img) {
      flips++;
      assert.equal(out.data[4], img.data[0]);
    }
  }
  assert.ok(Math.abs(flips / 2000 - 0.3) < 0.04);
  assert.throws(() => randomHorizontalFlip(img, 2, rng), /probability/);
});

test('colour jitter: brightness only scales levels by a factor in [1 − v, 1 + v]', () => {
  const img = photo(20, 20);
  const rng = new Rng(5);
  const sum = (d: Uint8Array) => d.reduce((a, b) => a + b, 0);
  const factors: number[] = [];
  for (let t = 0; t < 200; t++) factors.push(sum(colorJitter(img, { brightness: 0.4 }, rng).data) / sum(img.data));
  assert.ok(Math.min(...factors) >= 0.6 - 0.01 && Math.max(...factors) <= 1.4, `${Math.min(...factors)}..${Math.max(...factors)}`);
  assert.ok(Math.max(...factors) - Math.min(...factors) > 0.5, 'factors spread over the range');
  assert.deepEqual(colorJitter(img, {}, rng).data, img.data, 'no strengths, no change');
  assert.throws(() => colorJitter(img, { contrast: -1 }, rng), /`contrast`/);
});

test('random erasing: boxes strictly inside, areas within [min, max]/count, N(0,1) pixel fill, nothing else touched', () => {
  const [C, H, W] = [3, 40, 50];
  const rng = new Rng(6);
  let erasedImages = 0;
  const fills: number[] = [];
  for (let t = 0; t < 600; t++) {
    const x = new Float32Array(C * H * W).fill(7);
    const boxes = randomErasing(x, C, H, W, { probability: 0.5, minCount: 1, maxCount: 3 }, rng);
    if (boxes.length) erasedImages++;
    const inBox = new Uint8Array(H * W);
    for (const b of boxes) {
      assert.ok(b.height < H && b.width < W && b.top + b.height <= H && b.left + b.width <= W);
      const frac = (b.height * b.width) / (H * W);
      // Per box the target area is U(0.02, 1/3)·area/count with count ≤ 3; rounding the sides
      // moves it by at most one row and column.
      const slack = (b.height + b.width + 1) / (H * W);
      assert.ok(frac >= 0.02 / 3 - slack && frac <= 1 / 3 + slack, `area ${frac}`);
      const aspect = b.height / b.width;
      assert.ok(aspect >= 0.3 * (1 - 2 / Math.min(b.height, b.width)) - 0.05 && aspect <= (1 / 0.3) * (1 + 2 / Math.min(b.height, b.width)) + 0.5, `aspect ${aspect}`);
      for (let y = b.top; y < b.top + b.height; y++) for (let xx = b.left; xx < b.left + b.width; xx++) inBox[y * W + xx] = 1;
    }
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) {
        const v = x[c * H * W + i]!;
        if (!inBox[i]) assert.equal(v, 7);
        else if (fills.length < 200000) fills.push(v);
      }
  }
  assert.ok(Math.abs(erasedImages / 600 - 0.5) < 0.06);
  const mean = fills.reduce((a, b) => a + b, 0) / fills.length;
  const sd = Math.sqrt(fills.reduce((a, b) => a + (b - mean) ** 2, 0) / fills.length);
  assert.ok(Math.abs(mean) < 0.02 && Math.abs(sd - 1) < 0.02, `fill mean ${mean} sd ${sd}`);
});

test("random erasing modes 'rand' (one value per channel) and 'const' (zeros); bad options are ConfigErrors", () => {
  const [C, H, W] = [3, 20, 20];
  const x = new Float32Array(C * H * W).fill(5);
  const [b] = randomErasing(x, C, H, W, { probability: 1, mode: 'rand' }, new Rng(7));
  for (let c = 0; c < C; c++) {
    const v = x[(c * H + b!.top) * W + b!.left];
    for (let y = b!.top; y < b!.top + b!.height; y++) for (let xx = b!.left; xx < b!.left + b!.width; xx++) assert.equal(x[(c * H + y) * W + xx], v);
  }
  const z = new Float32Array(C * H * W).fill(5);
  const [bz] = randomErasing(z, C, H, W, { probability: 1, mode: 'const' }, new Rng(7));
  assert.equal(z[bz!.top * W + bz!.left], 0);
  assert.throws(() => randomErasing(z, C, H, W, { probability: 1.5 }, new Rng(0)), /`probability`/);
  assert.throws(() => randomErasing(z, C, H, W, { probability: 1, area: [0.5, 0.1] }, new Rng(0)), /`area`/);
  assert.throws(() => randomErasing(z, C, H, W, { probability: 1, minCount: 2, maxCount: 1 }, new Rng(0)), /counts/);
  assert.throws(() => randomErasing(z, C, H, W, { probability: 1, mode: 'noise' as 'pixel' }, new Rng(0)), /`mode`/);
});

const CONVNEXT_RECIPE = {
  inputSize: [3, 64, 64] as const,
  interpolation: 'bicubic' as const,
  autoAugment: 'rand-m9-mstd0.5-inc1',
  mean: [0.485, 0.456, 0.406] as const,
  std: [0.229, 0.224, 0.225] as const,
  reProb: 0.25,
  reMode: 'pixel' as const,
  reCount: 1,
};

test('train transform (RRC → flip → RandAugment → normalise → erasing): same seed, same sample', () => {
  const tf = createTrainTransform(CONVNEXT_RECIPE);
  const img = photo(120, 90);
  const a = tf.apply(img, new Rng(100));
  const b = tf.apply(img, new Rng(100));
  const c = tf.apply(img, new Rng(101));
  assert.equal(a.length, 3 * 64 * 64);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  // Into a batch buffer at an offset.
  const batch = new Float32Array(2 * 3 * 64 * 64);
  tf.apply(img, new Rng(100), batch, 3 * 64 * 64);
  assert.deepEqual(batch.subarray(3 * 64 * 64), a);
  // Over many samples: about a quarter erased, ops recorded.
  let erased = 0;
  let ops = 0;
  for (let s = 0; s < 200; s++) {
    const trace: TrainTransformTrace = { ops: [], flipped: false, erased: [] };
    tf.apply(img, new Rng(s), undefined, 0, trace);
    if (trace.erased.length) erased++;
    ops += trace.ops.length;
  }
  assert.ok(erased > 25 && erased < 80, `erased ${erased}/200`);
  assert.ok(ops > 120 && ops < 280, `ops ${ops}/400 chosen`);
});

test('train transform without RandAugment uses colour jitter; bad configs are ConfigErrors', () => {
  const base = { inputSize: [3, 16, 16] as const, mean: [0.5, 0.5, 0.5] as const, std: [0.5, 0.5, 0.5] as const };
  const img = photo(30, 30);
  const plain = createTrainTransform({ ...base, hflip: 0 }).apply(img, new Rng(1));
  const jittered = createTrainTransform({ ...base, hflip: 0, colorJitter: 0.4 }).apply(img, new Rng(1));
  assert.notDeepEqual(plain, jittered);
  assert.throws(() => createTrainTransform({ ...base, autoAugment: 'rand-m99' }), (e: Error) => e instanceof ConfigError && /m99/.test(e.message));
  assert.throws(() => createTrainTransform({ ...base, hflip: 1.2 }), /hflip/);
  assert.throws(() => createTrainTransform({ ...base, reProb: -0.1 }), /reProb/);
  assert.throws(() => createTrainTransform({ ...base, scale: [0.5, 0.2] }), /`scale`/);
  assert.throws(() => createTrainTransform({ ...base, inputSize: [1, 16, 16] }), /inputSize/);
  assert.throws(() => createTrainTransform({ ...base, interpolation: 'lanczos' as 'bicubic' }), /interpolation/);
});
