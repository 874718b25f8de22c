import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { EpochSampler, type SamplerState } from '../../src/data/sampler.js';

/** The next `k` batches as plain arrays. */
function take(s: EpochSampler, k: number): number[][] {
  return Array.from({ length: k }, () => Array.from(s.next()));
}

test('each epoch visits every index exactly once', () => {
  const s = new EpochSampler(103, 10, 7);
  assert.equal(s.batchesPerEpoch, 11);
  for (let epoch = 0; epoch < 3; epoch++) {
    assert.equal(s.epoch, epoch);
    const batches = [...s.batches()].map((b) => Array.from(b));
    assert.equal(batches.length, 11);
    assert.deepEqual(batches.map((b) => b.length), [...new Array(10).fill(10), 3]);
    const all = batches.flat();
    assert.deepEqual([...all].sort((a, b) => a - b), Array.from({ length: 103 }, (_, i) => i));
    assert.deepEqual(all, Array.from(s.permutation(epoch)));
  }
  assert.deepEqual(s.state(), { epoch: 3, position: 0 });
});

test('dropLast skips the partial batch; epochs differ; the permutation is a function of (seed, epoch)', () => {
  const s = new EpochSampler(103, 10, 7, { dropLast: true });
  assert.equal(s.batchesPerEpoch, 10);
  const e0 = [...s.batches()].map((b) => Array.from(b));
  assert.equal(e0.length, 10);
  assert.ok(e0.every((b) => b.length === 10));
  assert.equal(new Set(e0.flat()).size, 100);
  assert.deepEqual(s.state(), { epoch: 1, position: 0 });

  const other = new EpochSampler(103, 10, 7);
  assert.deepEqual(other.permutation(5), new EpochSampler(103, 25, 7).permutation(5));
  assert.notDeepEqual(other.permutation(0), other.permutation(1));
  assert.notDeepEqual(other.permutation(0), new EpochSampler(103, 10, 8).permutation(0));
});

test('resume from a mid-epoch state reproduces the rest of the epoch and the next one exactly', () => {
  for (const dropLast of [false, true]) {
    const n = 50;
    const batch = 8;
    const reference = new EpochSampler(n, batch, 1234, { dropLast });
    const perEpoch = reference.batchesPerEpoch;
    const stream = take(reference, 3 * perEpoch);

    // Interrupted run: stop after 1 epoch + 3 batches, save the state (through JSON, as a checkpoint does).
    const first = new EpochSampler(n, batch, 1234, { dropLast });
    const done = perEpoch + 3;
    assert.deepEqual(take(first, done), stream.slice(0, done));
    const saved = JSON.parse(JSON.stringify(first.state())) as SamplerState;
    assert.deepEqual(saved, { epoch: 1, position: 3 * batch });

    // A fresh sampler restored from it continues exactly where the uninterrupted one did.
    const resumed = new EpochSampler(n, batch, 1234, { dropLast });
    resumed.restore(saved);
    assert.deepEqual(take(resumed, stream.length - done), stream.slice(done));

    // Restoring at an epoch boundary works too.
    const boundary = new EpochSampler(n, batch, 1234, { dropLast });
    boundary.restore({ epoch: 2, position: 0 });
    assert.deepEqual(take(boundary, perEpoch), stream.slice(2 * perEpoch));
  }
});

test('options are validated', () => {
  assert.throws(
    () => new EpochSampler(10, 16, 0),
    (e: unknown) => e instanceof ConfigError && /batch/.test(e.message) && e.message.includes('16') && e.message.includes('10'),
  );
  assert.throws(() => new EpochSampler(10, 0, 0), ConfigError);
  assert.throws(() => new EpochSampler(0, 1, 0), ConfigError);
  assert.throws(() => new EpochSampler(10, 2, 0.5), ConfigError);
  const s = new EpochSampler(10, 2, 0);
  assert.throws(() => s.restore({ epoch: -1, position: 0 }), ConfigError);
  assert.throws(() => s.restore({ epoch: 0, position: 11 }), ConfigError);
  // A state at the very end of an epoch reads as the start of the next one.
  s.restore({ epoch: 4, position: 10 });
  assert.deepEqual(s.state(), { epoch: 5, position: 0 });
});
