/**
 * GLNet training-mode parity (../shared/golden/glnet, the *_grads cases): BatchNorm with batch
 * statistics, mean cross-entropy; the loss, every parameter's gradient (mathematically-zero ones,
 * e.g. conv biases feeding a train-mode BatchNorm, within the absolute floor) and BatchNorm's running
 * statistics after the one train-mode forward, read back through stateDict().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, readSafetensors } from '../../src/index.js';
import { assertClose, compare, goldenCases, goldenFile } from '../golden.js';
import { goldenSkip } from '../helpers.js';

const FAMILY = 'glnet';
const skip = goldenSkip(FAMILY);
const gradCases = skip ? [] : goldenCases(FAMILY).filter((c) => String(c.mode).startsWith('train'));

test('golden gradient cases exist', { skip }, () => {
  assert.ok(gradCases.length >= 2, `expected ≥ 2 gradient cases, got ${gradCases.length}`);
});

for (const c of gradCases) {
  test(`${c.name}: loss, every grad.* and the running statistics after a train-mode lossAndGrads`, { skip }, async (t) => {
    const tol = c.tolerance as { loss: { max_abs: number; rel: number }; grads: { max_abs: number; rel: number } };
    const m = createModel({ family: 'glnet', ...(c.config as Record<string, unknown>) });
    await m.loadWeights(goldenFile(FAMILY, c.files.weights!));
    const ref = await readSafetensors(goldenFile(FAMILY, c.files.grads!));
    m.train();
    const labels = ref.get('labels')!.data as BigInt64Array;
    const { loss, grads } = await m.lossAndGrads(ref.get('input')!, labels);
    const refLoss = ref.get('loss')!.toArray()[0]!;
    t.diagnostic(`loss ${loss} vs ${refLoss} (|err| ${Math.abs(loss - refLoss).toExponential(2)})`);
    assert.ok(Math.abs(loss - refLoss) <= Math.max(tol.loss.max_abs, tol.loss.rel * Math.abs(refLoss)), `loss ${loss} vs ${refLoss}`);

    const gradKeys = [...ref.keys()].filter((k) => k.startsWith('grad.'));
    assert.deepEqual(gradKeys.map((k) => k.slice(5)).sort(), m.namedParameters().map(([k]) => k).sort(), 'a reference gradient for every parameter');
    let worst = 0;
    let worstKey = '';
    for (const k of gradKeys) {
      const ours = grads[k.slice(5)];
      assert.ok(ours, `gradient for ${k.slice(5)}`);
      assertClose(k, ours, ref.get(k)!, tol.grads.rel, tol.grads.max_abs);
      const { maxAbs, absMax } = compare(ours, ref.get(k)!);
      const r = maxAbs / Math.max(absMax, tol.grads.max_abs);
      if (r > worst) [worst, worstKey] = [r, k];
    }
    t.diagnostic(`${gradKeys.length} gradients; worst max|err| / max(absmax, floor) = ${worst.toExponential(2)} (${worstKey})`);

    const sd = m.stateDict();
    const stats = [...ref.keys()].filter((k) => k.startsWith('after_train_forward.'));
    assert.ok(stats.length > 0);
    for (const k of stats) {
      const key = k.slice('after_train_forward.'.length);
      assertClose(k, sd[key]!, ref.get(k)!, tol.grads.rel, tol.grads.max_abs);
      const nbt = key.replace(/running_(mean|var)$/, 'num_batches_tracked');
      assert.equal(sd[nbt]!.toArray()[0], 1, `${nbt} counts the one train-mode forward`);
    }
    t.diagnostic(`${stats.length} running statistics match after one train-mode forward`);
  });
}
