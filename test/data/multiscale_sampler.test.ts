import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_RESOLUTIONS, MultiScaleSampler, scaledBatchSize, type MultiScaleState, type ScaledBatch } from '../../src/data/multiscale_sampler.js';

const plain = (b: ScaledBatch) => ({ resolution: b.resolution, indices: Array.from(b.indices) });
const take = (s: MultiScaleSampler, k: number) => Array.from({ length: k }, () => plain(s.next()));

test('batch sizes follow ml-cvnets (spec §5.1): 256² × 128 → 327, 227, 128, 101, 81', () => {
  const s = new MultiScaleSampler(1000, 0, { baseBatch: 128 });
  assert.deepEqual(s.resolutions, DEFAULT_RESOLUTIONS);
  assert.deepEqual(s.scales(), [
    { resolution: 160, batchSize: 327 },
    { resolution: 192, batchSize: 227 },
    { resolution: 256, batchSize: 128 },
    { resolution: 288, batchSize: 101 },
    { resolution: 320, batchSize: 81 },
  ]);
  // The paper-era floor of 128: 160 → 327, 192 → 227, the rest 128.
  assert.deepEqual([160, 192, 288, 320].map((r) => scaledBatchSize(r, 256, 128, 128)), [327, 227, 128, 128]);
  // Fashion-MNIST at 24/28/32 around 28² × 128.
  const f = new MultiScaleSampler(100, 0, { baseBatch: 128, resolutions: [24, 28, 32], baseResolution: 28 });
  assert.deepEqual(f.scales().map((x) => x.batchSize), [174, 128, 98]);
  assert.throws(() => f.batchSize(30), ConfigError);
});

test('each epoch visits every index once, in batches sized for their drawn resolution; the last batch is topped up', () => {
  const n = 1000;
  const s = new MultiScaleSampler(n, 11, { baseBatch: 16, resolutions: [24, 28, 32], baseResolution: 28 });
  for (let epoch = 0; epoch < 3; epoch++) {
    assert.equal(s.epoch, epoch);
    const batches = [...s.batches()].map(plain);
    const counts = new Map<number, number>();
    batches.forEach((b) => {
      assert.equal(b.indices.length, s.batchSize(b.resolution));
      counts.set(b.resolution, (counts.get(b.resolution) ?? 0) + 1);
    });
    // Every resolution is drawn (50+ draws of three), roughly uniformly.
    assert.equal(counts.size, 3);
    for (const c of counts.values()) assert.ok(c > batches.length / 6, `draws per resolution ${[...counts.values()]}`);
    const all = batches.flat().flatMap((b) => b.indices);
    const distinct = new Set(all);
    assert.equal(distinct.size, n, 'every index in the epoch');
    // Only the last batch repeats indices, taken from the epoch's first ones.
    const before = batches.slice(0, -1).flatMap((b) => b.indices);
    assert.equal(new Set(before).size, before.length);
    const last = batches[batches.length - 1]!.indices;
    const fresh = n - before.length;
    assert.deepEqual(last.slice(fresh), before.slice(0, last.length - fresh));
  }
  assert.deepEqual(s.state(), { epoch: 3, position: 0, batch: 0 });
});

test('padLast: false ends the epoch with a short batch', () => {
  const s = new MultiScaleSampler(50, 3, { baseBatch: 8, resolutions: [16, 32], baseResolution: 16, padLast: false });
  const batches = [...s.batches()];
  assert.equal(batches.reduce((a, b) => a + b.indices.length, 0), 50);
  assert.ok(batches.slice(0, -1).every((b) => b.indices.length === s.batchSize(b.resolution)));
});

test('the stream is a function of (seed, epoch): same seed same batches, another seed others', () => {
  const o = { baseBatch: 32, resolutions: [160, 256, 320], baseResolution: 256 };
  const a = take(new MultiScaleSampler(500, 5, o), 40);
  assert.deepEqual(take(new MultiScaleSampler(500, 5, o), 40), a);
  assert.notDeepEqual(take(new MultiScaleSampler(500, 6, o), 40), a);
  // Resolutions change from batch to batch, and epochs differ.
  assert.ok(new Set(a.slice(0, 10).map((b) => b.resolution)).size > 1);
  const s = new MultiScaleSampler(500, 5, o);
  const e0 = [...s.batches()].map(plain);
  const e1 = [...s.batches()].map(plain);
  assert.notDeepEqual(e0, e1);
});

test('restore() continues exactly, mid-epoch and at an epoch boundary, through JSON', () => {
  const o = { baseBatch: 24, resolutions: [20, 24, 28, 32], baseResolution: 24 };
  const reference = take(new MultiScaleSampler(300, 99, o), 80);
  for (const stop of [1, 7, 23, 41]) {
    const first = new MultiScaleSampler(300, 99, o);
    assert.deepEqual(take(first, stop), reference.slice(0, stop));
    const saved = JSON.parse(JSON.stringify(first.state())) as MultiScaleState;
    const resumed = new MultiScaleSampler(300, 99, o);
    resumed.restore(saved);
    assert.deepEqual(resumed.state(), saved);
    assert.deepEqual(take(resumed, 80 - stop), reference.slice(stop), `resume after ${stop} batches`);
  }
  const s = new MultiScaleSampler(300, 99, o);
  const e0 = [...s.batches()].length;
  const boundary = new MultiScaleSampler(300, 99, o);
  boundary.restore({ epoch: 1, position: 0, batch: 0 });
  assert.deepEqual(take(boundary, 80 - e0), reference.slice(e0));
});

test('options and states are validated (ConfigError naming the key)', () => {
  const bad: [() => unknown, RegExp][] = [
    [() => new MultiScaleSampler(0, 0, { baseBatch: 8 }), /`n`/],
    [() => new MultiScaleSampler(10, 0.5, { baseBatch: 8 }), /`seed`/],
    [() => new MultiScaleSampler(10, 0, { baseBatch: 0 }), /`baseBatch`/],
    [() => new MultiScaleSampler(10, 0, { baseBatch: 8, resolutions: [] }), /`resolutions`/],
    [() => new MultiScaleSampler(10, 0, { baseBatch: 8, resolutions: [32, 32], baseResolution: 32 }), /`resolutions`.*twice/],
    [() => new MultiScaleSampler(10, 0, { baseBatch: 8, resolutions: [24, 32] }), /`baseResolution`.*required/],
    [() => new MultiScaleSampler(10, 0, { baseBatch: 8, minBatch: 0 }), /`minBatch`/],
  ];
  for (const [f, re] of bad) assert.throws(f, (e: unknown) => e instanceof ConfigError && re.test(e.message), re.source);
  const s = new MultiScaleSampler(10, 0, { baseBatch: 8 });
  for (const st of [{ epoch: -1, position: 0, batch: 0 }, { epoch: 0, position: 11, batch: 1 }, { epoch: 0, position: 5, batch: 0 }, { epoch: 0, position: 2, batch: 3 }])
    assert.throws(() => s.restore(st), ConfigError, JSON.stringify(st));
  // A state at the very end of an epoch reads as the start of the next one.
  s.restore({ epoch: 2, position: 10, batch: 1 });
  assert.deepEqual(s.state(), { epoch: 3, position: 0, batch: 0 });
});
