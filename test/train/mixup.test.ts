/**
 * Mixup/CutMix against timm's definitions: Beta(α, α) moments of the λ draws, label areas equal to
 * the mixed pixels, CutMix's label weight equal to the pasted box's area, the three modes, the
 * typed errors, and the same seed giving the same batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor.js';
import { Mixup, mixupTargets, randBbox } from '../../src/train/mixup.js';
import { ConfigError } from '../../src/errors.js';
import { sampleBeta, sampleGamma } from '../../src/util/distributions.js';
import { Rng } from '../../src/util/rng.js';

function moments(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) };
}

test('Gamma (Marsaglia–Tsang, boosted below 1): mean k, variance k', () => {
  const rng = new Rng(1);
  for (const k of [0.3, 0.8, 1, 2.5, 9]) {
    const { mean, variance } = moments(Array.from({ length: 40000 }, () => sampleGamma(rng, k)));
    assert.ok(Math.abs(mean - k) < 0.03 * Math.max(1, k), `Gamma(${k}) mean ${mean}`);
    assert.ok(Math.abs(variance - k) < 0.08 * Math.max(1, k), `Gamma(${k}) variance ${variance}`);
  }
  assert.throws(() => sampleGamma(rng, 0), ConfigError);
});

test('Beta(α, β): mean α/(α+β), variance αβ/((α+β)²(α+β+1)), values in [0, 1]', () => {
  const rng = new Rng(2);
  for (const [a, b] of [[0.8, 0.8], [1, 1], [0.2, 0.2], [2, 5]] as const) {
    const xs = Array.from({ length: 40000 }, () => sampleBeta(rng, a, b));
    assert.ok(xs.every((x) => x >= 0 && x <= 1));
    const { mean, variance } = moments(xs);
    const s = a + b;
    assert.ok(Math.abs(mean - a / s) < 0.01, `Beta(${a},${b}) mean ${mean}`);
    assert.ok(Math.abs(variance - (a * b) / (s * s * (s + 1))) < 0.006, `Beta(${a},${b}) variance ${variance} vs ${(a * b) / (s * s * (s + 1))}`);
  }
  assert.throws(() => sampleBeta(rng, -1, 1), /positive/);
});

/** A batch whose sample i is filled with the value i (so the origin of every pixel is visible). */
function indexBatch(n: number, c = 3, h = 16, w = 20): Tensor {
  const data = new Float32Array(n * c * h * w);
  for (let i = 0; i < n; i++) data.fill(i, i * c * h * w, (i + 1) * c * h * w);
  return new Tensor(data, [n, c, h, w], 'float32');
}

test('batch-mode Mixup: λ ~ Beta(0.8, 0.8), x = λ·x + (1−λ)·flip(x), targets weighted by λ', () => {
  const mix = new Mixup({ numClasses: 5, mixupAlpha: 0.8, cutmixAlpha: 0, labelSmoothing: 0 });
  const rng = new Rng(3);
  const lams: number[] = [];
  for (let t = 0; t < 4000; t++) {
    const x = indexBatch(4, 1, 2, 2);
    const r = mix.apply(x, [0, 1, 2, 3], rng);
    assert.ok(r.kind.every((k) => k === 'mixup'));
    const l = r.lam[0]!;
    lams.push(l);
    if (t < 20) {
      const d = x.data as Float32Array;
      // sample 0 (value 0) mixed with sample 3 (value 3): 3·(1−λ)
      assert.ok(Math.abs(d[0]! - 3 * (1 - l)) < 1e-5);
      assert.ok(Math.abs(d[3 * 4]! - (3 * l + 0)) < 1e-5);
      const tg = r.targets.data as Float32Array;
      assert.ok(Math.abs(tg[0]! - l) < 1e-6 && Math.abs(tg[3]! - (1 - l)) < 1e-6, 'row 0: λ on label 0, 1 − λ on label 3');
    }
  }
  const { mean, variance } = moments(lams);
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean λ ${mean}`);
  assert.ok(Math.abs(variance - 0.25 / 2.6) < 0.008, `var λ ${variance} (Beta(0.8, 0.8): ${0.25 / 2.6})`);
});

test('CutMix: the pasted area is exactly 1 − λ of the image and equals the partner label weight', () => {
  const K = 10;
  const smoothing = 0.1;
  const mix = new Mixup({ numClasses: K, mixupAlpha: 0, cutmixAlpha: 1, labelSmoothing: smoothing });
  const rng = new Rng(4);
  const [n, c, h, w] = [4, 3, 16, 20];
  let boxesSeen = 0;
  for (let t = 0; t < 300; t++) {
    const x = indexBatch(n, c, h, w);
    const labels = [1, 4, 7, 9];
    const r = mix.apply(x, labels, rng);
    const d = x.data as Float32Array;
    for (let i = 0; i < n; i++) {
      const box = r.boxes[i]!;
      const area = (box.yh - box.yl) * (box.xh - box.xl);
      assert.equal(r.lam[i], 1 - area / (h * w), 'λ is the corrected area');
      let fromPartner = 0;
      for (let k = 0; k < c * h * w; k++) if (d[i * c * h * w + k] === n - 1 - i) fromPartner++;
      assert.equal(fromPartner, c * area, 'pixels from the partner = box area');
      const tg = r.targets.data as Float32Array;
      const off = smoothing / K;
      const wantPartner = (1 - r.lam[i]!) * (1 - smoothing) + off;
      assert.ok(Math.abs(tg[i * K + labels[n - 1 - i]!]! - wantPartner) < 1e-6, 'partner label weight = area share');
      assert.ok(Math.abs(tg.subarray(i * K, (i + 1) * K).reduce((a, b) => a + b, 0) - 1) < 1e-5, 'rows sum to 1');
      if (area > 0) boxesSeen++;
    }
  }
  assert.ok(boxesSeen > 500);
});

test('rand_bbox: side ⌊H·√(1−λ)⌋ before clipping, centre uniform, always inside the image', () => {
  const rng = new Rng(5);
  for (let t = 0; t < 2000; t++) {
    const lam = rng.random();
    const b = randBbox(32, 24, lam, rng);
    assert.ok(b.yl >= 0 && b.yh <= 32 && b.xl >= 0 && b.xh <= 24 && b.yl <= b.yh && b.xl <= b.xh);
    const cutH = Math.trunc(32 * Math.sqrt(1 - lam));
    assert.ok(b.yh - b.yl <= 2 * Math.floor(cutH / 2));
  }
});

test('elem and pair modes: per-sample λ and kind; pair mode mixes both partners with one λ', () => {
  const rng = new Rng(6);
  const elem = new Mixup({ numClasses: 3, mixupAlpha: 0.8, cutmixAlpha: 1, mode: 'elem', prob: 0.7 });
  const kinds = new Set<string>();
  for (let t = 0; t < 50; t++) {
    const r = elem.apply(indexBatch(6, 1, 8, 8), [0, 1, 2, 0, 1, 2], rng);
    r.kind.forEach((k, i) => {
      kinds.add(k);
      if (k === 'none') assert.equal(r.lam[i], 1);
    });
  }
  assert.deepEqual([...kinds].sort(), ['cutmix', 'mixup', 'none']);

  const pair = new Mixup({ numClasses: 3, mixupAlpha: 0.8, cutmixAlpha: 1, mode: 'pair' });
  for (let t = 0; t < 20; t++) {
    const x = indexBatch(4, 1, 8, 8);
    const r = pair.apply(x, [0, 1, 2, 0], rng);
    assert.equal(r.lam[0], r.lam[3]);
    assert.equal(r.lam[1], r.lam[2]);
    assert.deepEqual(r.boxes[0], r.boxes[3]);
    if (r.kind[0] === 'cutmix') {
      const d = x.data as Float32Array;
      const b = r.boxes[0]!;
      if (b.yh > b.yl && b.xh > b.xl) {
        assert.equal(d[b.yl * 8 + b.xl], 3, 'sample 0 got sample 3 inside the box');
        assert.equal(d[3 * 64 + b.yl * 8 + b.xl], 0, 'and sample 3 got sample 0');
      }
    }
  }
});

test('the same seed gives the same mixed batch and targets', () => {
  const mix = new Mixup({ numClasses: 4, mixupAlpha: 0.8, cutmixAlpha: 1 });
  const run = (seed: number) => {
    const rng = new Rng(seed);
    const outs = [];
    for (let t = 0; t < 5; t++) {
      const x = indexBatch(4, 3, 8, 8);
      const r = mix.apply(x, [0, 1, 2, 3], rng);
      outs.push([Array.from(x.data as Float32Array), Array.from(r.targets.data as Float32Array)]);
    }
    return outs;
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
});

test('label smoothing folds into the targets as timm: off = ε/K, on = 1 − ε + ε/K', () => {
  const t = mixupTargets([2, 0], 4, 1, 0.1);
  assert.deepEqual(Array.from(t), [0.025, 0.025, 0.925, 0.025, 0.925, 0.025, 0.025, 0.025].map(Math.fround));
});

test('bad options and batches are typed errors naming the option', () => {
  assert.throws(() => new Mixup({ numClasses: 3, mixupAlpha: -0.5 }), /`mixupAlpha`/);
  assert.throws(() => new Mixup({ numClasses: 3, mixupAlpha: 0, cutmixAlpha: 0 }), /both 0/);
  assert.throws(() => new Mixup({ numClasses: 3, prob: 1.5 }), /`prob` is a probability/);
  assert.throws(() => new Mixup({ numClasses: 3, switchProb: -0.1 }), /`switchProb`/);
  assert.throws(() => new Mixup({ numClasses: 3, mode: 'rows' as 'batch' }), /`mode`/);
  assert.throws(() => new Mixup({ numClasses: 3, labelSmoothing: 1 }), /`labelSmoothing`/);
  assert.throws(() => new Mixup({ numClasses: 3, cutmixMinmax: [0.5, 0.2] }), /`cutmixMinmax`/);
  const m = new Mixup({ numClasses: 3 });
  assert.throws(() => m.apply(indexBatch(3), [0, 1, 2], new Rng(0)), (e: Error) => e instanceof ConfigError && /even/.test(e.message));
  assert.throws(() => m.apply(indexBatch(2), [0, 5], new Rng(0)), /outside \[0, 3\)/);
});

test('cutmixMinmax: box sides in [min, max)·size and λ from the box', () => {
  const m = new Mixup({ numClasses: 3, mixupAlpha: 0, cutmixMinmax: [0.2, 0.6] });
  const rng = new Rng(9);
  for (let t = 0; t < 200; t++) {
    const r = m.apply(indexBatch(2, 1, 20, 30), [0, 1], rng);
    const b = r.boxes[0]!;
    assert.ok(b.yh - b.yl >= 4 && b.yh - b.yl < 12 && b.xh - b.xl >= 6 && b.xh - b.xl < 18);
    assert.equal(r.lam[0], 1 - ((b.yh - b.yl) * (b.xh - b.xl)) / 600);
  }
});
