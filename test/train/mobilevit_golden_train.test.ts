/**
 * tiny_64_train_grads: one train-mode forward (BatchNorm on batch statistics) and backward of the tiny
 * MobileViT against PyTorch autograd in float64 — the loss, the gradient of every parameter, and the
 * BatchNorm running statistics that `stateDict()` holds afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSafetensors } from '../../src/index.js';
import { goldenCases, goldenFile, type GoldenCase } from '../golden.js';
import { FAMILY, assertElementwise, goldenModel, skip, type Tolerance } from '../models/mobilevit_cases.js';

const theCase = (): GoldenCase => goldenCases(FAMILY).find((c) => c.name === 'tiny_64_train_grads')!;

test('tiny_64_train_grads: loss, every grad.*, and running.* via stateDict() after lossAndGrads', { skip }, async (t) => {
  const c = theCase();
  const tol = c.suggested_tolerance as { forward: Tolerance; grads: Tolerance; running_stats: Tolerance };
  const m = goldenModel(c);
  await m.loadWeights(goldenFile(FAMILY, c.files.weights!));
  const io = await readSafetensors(goldenFile(FAMILY, c.files.io!));
  const ref = await readSafetensors(goldenFile(FAMILY, c.files.grads!));
  const before = Object.fromEntries(Object.entries(m.stateDict()).map(([k, v]) => [k, v.toArray()]));

  m.train();
  const labels = Int32Array.from(ref.get('labels')!.toArray());
  const { loss, grads } = await m.lossAndGrads(io.get('input')!, labels);

  const refLoss = ref.get('loss')!.toArray()[0]!;
  t.diagnostic(`loss ${loss} vs ${refLoss}`);
  assert.ok(Math.abs(loss - refLoss) <= tol.forward.max_abs + tol.forward.rel * Math.abs(refLoss), `loss ${loss} vs reference ${refLoss}`);

  const gradKeys = [...ref.keys()].filter((k) => k.startsWith('grad.'));
  assert.deepEqual(gradKeys.map((k) => k.slice(5)).sort(), m.namedParameters().map(([k]) => k).sort(), 'a reference gradient for every parameter');
  let worst = { line: '', ratio: 0 };
  for (const k of gradKeys) {
    const g = grads[k.slice(5)];
    assert.ok(g, `gradient for ${k.slice(5)}`);
    const r = assertElementwise(k, g, ref.get(k)!, tol.grads);
    if (r.ratio >= worst.ratio) worst = r;
  }
  t.diagnostic(`${gradKeys.length} gradients within |err| ≤ ${tol.grads.max_abs} + ${tol.grads.rel}·|ref|; worst ${worst.line}`);

  const sd = m.stateDict();
  const runningKeys = [...ref.keys()].filter((k) => k.startsWith('running.'));
  assert.equal(runningKeys.length, m.namedBuffers().filter(([k]) => /running_(mean|var)$/.test(k)).length, 'every running statistic');
  worst = { line: '', ratio: 0 };
  for (const k of runningKeys) {
    const key = k.slice(8);
    const r = assertElementwise(k, sd[key]!, ref.get(k)!, tol.running_stats);
    if (r.ratio >= worst.ratio) worst = r;
    // The update really happened (the reference differs from the loaded statistics).
    assert.notDeepEqual(sd[key]!.toArray(), before[key], `${key} was updated`);
  }
  for (const [k, v] of Object.entries(sd)) if (k.endsWith('num_batches_tracked')) assert.deepEqual(v.toArray(), [Number(before[k]![0]) + 1], k);
  t.diagnostic(`${runningKeys.length} running statistics within |err| ≤ ${tol.running_stats.max_abs} + ${tol.running_stats.rel}·|ref|; worst ${worst.line}`);
});
