/**
 * RandAugment against timm's definition: the config-string grammar (and typed errors for what timm
 * would misread), the op sets, the level→argument mappings at a fixed magnitude, the magnitude
 * noise, op choice and per-op probability statistics, and a fixed seed reproducing the same op
 * sequence and pixels. The ops' pixels themselves are checked against PIL in pil_ops.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../src/data/pil_ops.js';
import {
  fillFromMean,
  parseRandAugment,
  RAND_INCREASING_TRANSFORMS,
  RAND_TRANSFORMS,
  RandAugment,
  type AppliedOp,
} from '../../src/data/rand_augment.js';
import type { PlanarImage } from '../../src/data/resample.js';
import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

function testImage(w = 24, h = 20, seed = 1): PlanarImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(3 * w * h);
  for (let i = 0; i < data.length; i++) data[i] = (i % w) * 8 + rng.int(40);
  return { data, channels: 3, height: h, width: w };
}

const HP = { fill: fillFromMean([0.485, 0.456, 0.406]), interpolation: 'bicubic' as const };

test('config strings parse as timm reads them', () => {
  assert.deepEqual(parseRandAugment('rand-m9-mstd0.5-inc1'), { magnitude: 9, numOps: 2, magnitudeStd: 0.5, magnitudeMax: 10, increasing: true, prob: 0.5 });
  assert.deepEqual(parseRandAugment('rand-n2-m9'), { magnitude: 9, numOps: 2, magnitudeStd: 0, magnitudeMax: 10, increasing: false, prob: 0.5 });
  assert.deepEqual(parseRandAugment('rand'), { magnitude: 10, numOps: 2, magnitudeStd: 0, magnitudeMax: 10, increasing: false, prob: 0.5 });
  const c = parseRandAugment('rand-m15-mmax20-n3-mstd101-p1-inc0');
  assert.deepEqual(c, { magnitude: 15, numOps: 3, magnitudeStd: Infinity, magnitudeMax: 20, increasing: false, prob: 1 });
});

test('unknown or malformed augmentation strings are ConfigErrors naming the part', () => {
  const bad: [string, RegExp][] = [
    ['rand-m99', /m99 is out of range 0\.\.10/],
    ['rand-m9-foo3', /unknown section 'foo'/],
    ['rand-m9-x', /section 'x' is not <key><number>/],
    ['rand-m9-', /section '' is not/],
    ['autoaug-m9', /start with 'rand'/],
    ['rand-m9.5', /'m' takes an integer, got '9.5'/],
    ['rand-m9-m8', /'m' is given twice/],
    ['rand-inc2', /'inc' is 0 or 1/],
    ['rand-p1.5', /'p' is a probability/],
    ['rand-n0', /at least 1/],
    ['rand-mstd0.5x', /'mstd' takes a number/],
    ['rand-w0', /not supported/],
  ];
  for (const [s, re] of bad)
    assert.throws(
      () => parseRandAugment(s),
      (e: Error) => e instanceof ConfigError && re.test(e.message) && e.message.includes(`'${s}'`),
      s,
    );
});

test("op sets are timm's _RAND_TRANSFORMS / _RAND_INCREASING_TRANSFORMS", () => {
  assert.deepEqual(new RandAugment('rand-m9', HP).ops, RAND_TRANSFORMS);
  assert.deepEqual(new RandAugment('rand-m9-inc1', HP).ops, RAND_INCREASING_TRANSFORMS);
  assert.equal(RAND_INCREASING_TRANSFORMS.length, 15);
  assert.ok(RAND_INCREASING_TRANSFORMS.includes('SolarizeIncreasing') && !(RAND_INCREASING_TRANSFORMS as readonly string[]).includes('Solarize'));
});

test('fill colour: round(255 · ImageNet mean) = (124, 116, 104), as timm', () => {
  assert.deepEqual(fillFromMean([0.485, 0.456, 0.406]), [124, 116, 104]);
});

/** Every op many times at magnitude 9 (or the spec's; no noise, p = 1): the argument each one got. */
function argumentsAt9(spec: string, magnitude = 9): Map<string, Set<number>> {
  const ra = new RandAugment(spec, HP);
  const rng = new Rng(11);
  const args = new Map<string, Set<number>>();
  const img = testImage(8, 8);
  for (let t = 0; t < 400; t++) {
    const applied: AppliedOp[] = [];
    ra.apply(img, rng, applied);
    for (const a of applied) {
      assert.equal(a.magnitude, magnitude);
      if (!args.has(a.op)) args.set(a.op, new Set());
      args.get(a.op)!.add(a.arg === null ? NaN : Number(a.arg.toFixed(6)));
    }
  }
  return args;
}

test("level → argument mappings at m9 are timm's", () => {
  const plain = argumentsAt9('rand-m9-n3-p1');
  const want: Record<string, number[]> = {
    Rotate: [-27, 27],
    Posterize: [3],
    Solarize: [230],
    SolarizeAdd: [99],
    Color: [1.72],
    Contrast: [1.72],
    Brightness: [1.72],
    Sharpness: [1.72],
    ShearX: [-0.27, 0.27],
    ShearY: [-0.27, 0.27],
    TranslateXRel: [-0.405, 0.405],
    TranslateYRel: [-0.405, 0.405],
  };
  for (const [op, vals] of Object.entries(want)) assert.deepEqual([...plain.get(op)!].sort((a, b) => a - b), vals, op);
  for (const op of ['AutoContrast', 'Equalize', 'Invert']) assert.ok(Number.isNaN([...plain.get(op)!][0]!), op);

  const inc = argumentsAt9('rand-m9-n3-p1-inc1');
  assert.deepEqual([...inc.get('PosterizeIncreasing')!], [1]);
  assert.deepEqual([...inc.get('SolarizeIncreasing')!], [26]);
  for (const op of ['ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing'])
    assert.deepEqual([...inc.get(op)!].sort((a, b) => a - b), [0.19, 1.81], op);
});

test("above magnitude 10 (mmax > 10) the solarize arguments are capped as timm caps them", () => {
  const plain = argumentsAt9('rand-m15-n3-p1-mmax15', 15);
  assert.deepEqual([...plain.get('SolarizeAdd')!], [128], 'min(128, int(15/10·110)): not 165');
  assert.deepEqual([...plain.get('Solarize')!], [256], 'min(256, int(15/10·256))');
  const inc = argumentsAt9('rand-m15-n3-p1-mmax15-inc1', 15);
  assert.deepEqual([...inc.get('SolarizeIncreasing')!], [0], 'the threshold never goes below 0');
});

test('each op is drawn uniformly (with replacement) and applied with probability p', () => {
  const ra = new RandAugment('rand-m9-mstd0.5-inc1', HP);
  const rng = new Rng(12);
  const img = testImage(6, 6);
  const counts = new Map<string, number>();
  let applied = 0;
  const trials = 3000;
  for (let t = 0; t < trials; t++) {
    const ops: AppliedOp[] = [];
    ra.apply(img, rng, ops);
    applied += ops.length;
    for (const o of ops) counts.set(o.op, (counts.get(o.op) ?? 0) + 1);
  }
  const rate = applied / (2 * trials);
  assert.ok(Math.abs(rate - 0.5) < 0.03, `applied fraction ${rate}`);
  assert.equal(counts.size, 15);
  for (const [op, n] of counts) assert.ok(Math.abs(n / applied - 1 / 15) < 0.02, `${op}: ${n / applied}`);
});

test('magnitude noise: N(m, mstd) clipped to [0, mmax]; mstd > 100 is uniform in [0, m]', () => {
  const img = testImage(6, 6);
  const collect = (spec: string, seed: number) => {
    const ra = new RandAugment(spec, HP);
    const rng = new Rng(seed);
    const ms: number[] = [];
    for (let t = 0; t < 3000; t++) {
      const ops: AppliedOp[] = [];
      ra.apply(img, rng, ops);
      ms.push(...ops.map((o) => o.magnitude));
    }
    return ms;
  };
  const noisy = collect('rand-m9-mstd0.5-p1', 13);
  assert.ok(noisy.every((m) => m >= 0 && m <= 10));
  const mean = noisy.reduce((a, b) => a + b, 0) / noisy.length;
  assert.ok(Math.abs(mean - 8.99) < 0.03, `mean ${mean}`);
  assert.ok(noisy.some((m) => m === 10), 'the clip at mmax is reached');
  const uniform = collect('rand-m8-mstd101-p1', 14);
  assert.ok(uniform.every((m) => m >= 0 && m <= 8));
  assert.ok(Math.abs(uniform.reduce((a, b) => a + b, 0) / uniform.length - 4) < 0.1);
});

test('a fixed seed reproduces the same op sequence and pixels; each op equals the PIL op it names', () => {
  const ra = new RandAugment('rand-m9-mstd0.5-inc1', { ...HP, interpolation: 'random' });
  const img = testImage();
  const run = (seed: number) => {
    const ops: AppliedOp[] = [];
    const out = ra.apply(img, new Rng(seed), ops);
    return { ops, out };
  };
  const a = run(42);
  const b = run(42);
  assert.deepEqual(a.ops, b.ops);
  assert.deepEqual(a.out.data, b.out.data);
  const sequences = new Set(Array.from({ length: 20 }, (_, s) => JSON.stringify(run(s).ops.map((o) => o.op))));
  assert.ok(sequences.size > 10, 'different seeds, different sequences');

  // Replaying the recorded ops through pil_ops gives the same pixels.
  for (let seed = 0; seed < 60; seed++) {
    const { ops, out } = run(seed);
    let x = img;
    for (const o of ops) {
      const arg = o.arg ?? 0;
      const rs = o.resample!;
      const fill = HP.fill;
      const table: Record<string, () => PlanarImage> = {
        AutoContrast: () => P.autoContrast(x),
        Equalize: () => P.equalize(x),
        Invert: () => P.invert(x),
        Rotate: () => P.rotate(x, arg, rs, fill),
        PosterizeIncreasing: () => P.posterize(x, arg),
        SolarizeIncreasing: () => P.solarize(x, arg),
        SolarizeAdd: () => P.solarizeAdd(x, arg),
        ColorIncreasing: () => P.enhanceColor(x, arg),
        ContrastIncreasing: () => P.enhanceContrast(x, arg),
        BrightnessIncreasing: () => P.enhanceBrightness(x, arg),
        SharpnessIncreasing: () => P.enhanceSharpness(x, arg),
        ShearX: () => P.affine(x, [1, arg, 0, 0, 1, 0], rs, fill),
        ShearY: () => P.affine(x, [1, 0, 0, arg, 1, 0], rs, fill),
        TranslateXRel: () => P.affine(x, [1, 0, arg * x.width, 0, 1, 0], rs, fill),
        TranslateYRel: () => P.affine(x, [1, 0, 0, 0, 1, arg * x.height], rs, fill),
      };
      x = table[o.op]!();
    }
    assert.deepEqual(out.data, x.data, `seed ${seed}: ${ops.map((o) => o.op).join(', ')}`);
  }
});

test('RandAugment refuses bad hparams and non-RGB images', () => {
  assert.throws(() => new RandAugment('rand-m9', { fill: [1, 2] as unknown as [number, number, number], interpolation: 'bicubic' }), /fill/);
  assert.throws(() => new RandAugment('rand-m9', { ...HP, interpolation: 'lanczos' as 'bicubic' }), /interpolation/);
  const gray: PlanarImage = { data: new Uint8Array(16), channels: 1, height: 4, width: 4 };
  assert.throws(() => new RandAugment('rand-m9', HP).apply(gray, new Rng(0)), /RGB/);
});
