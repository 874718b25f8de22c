/**
 * CMT parity with the reference PyTorch code (../shared/golden/cmt): the official CMT-Ti at 160 and a
 * tiny custom config in eval mode (stem, 4 feature maps, pooled, logits at the strict tolerance), and
 * the tiny config in train mode: outputs with batch statistics, loss, every gradient and the BatchNorm
 * running statistics after one forward (read back through stateDict()).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, readSafetensors, Tensor, type VisionModel } from '../../src/index.js';
import { assertWithin, goldenCases, goldenFile, type AbsRelTolerance, type GoldenCase } from '../golden.js';
import { goldenSkip, hasGolden } from '../helpers.js';

const FAMILY = 'cmt';
const skip = goldenSkip(FAMILY);
const cases = hasGolden(FAMILY) ? goldenCases(FAMILY) : [];
const byName = (name: string): GoldenCase => {
  const c = cases.find((x) => x.name === name);
  assert.ok(c, `golden case ${name} in ../shared/golden/cmt/cases.json`);
  return c;
};

function build(c: GoldenCase): VisionModel {
  const cfg = c.config as Record<string, unknown>;
  // The official factory by name (its own layers, the case's size and classes), else the config itself.
  return c.reference_model === 'CMT(**config)' ? createModel({ family: 'cmt', ...cfg }) : createModel(c.reference_model as string, cfg);
}

test('golden cases exist: two eval cases and the gradient case', { skip }, () => {
  assert.ok(hasGolden(FAMILY), 'the golden folder ../shared/golden/cmt is missing');
  assert.deepEqual(cases.map((c) => c.name).sort(), ['cmt_ti_160_eval', 'tiny_64_eval', 'tiny_64_train_grads']);
});

for (const name of ['cmt_ti_160_eval', 'tiny_64_eval']) {
  test(`${name}: stem, features.0-3, pooled and logits at the strict tolerance`, { skip }, async (t) => {
    const c = byName(name);
    const strict = (c.tolerance as { strict: Record<'logits' | 'features' | 'stem' | 'pooled', AbsRelTolerance> }).strict;
    const m = build(c);
    assert.equal(m.numParameters(), c.num_params);
    for (const [k, shape] of Object.entries(c.relative_pos_shapes as Record<string, number[]>)) assert.deepEqual(m.stateDict()[k]!.shape, shape);
    await m.loadWeights(goldenFile(FAMILY, c.files.weights!));
    const io = await readSafetensors(goldenFile(FAMILY, c.files.io!));
    const out = await m.run(io.get('input')!, { features: true, stem: true, pooled: true });
    t.diagnostic(assertWithin('stem', out.stem as Tensor, io.get('stem')!, strict.stem));
    assert.equal(out.features.length, 4);
    out.features.forEach((f, i) => t.diagnostic(assertWithin(`features.${i}`, f, io.get(`features.${i}`)!, strict.features)));
    t.diagnostic(assertWithin('pooled', out.pooled as Tensor, io.get('pooled')!, strict.pooled));
    t.diagnostic(assertWithin('logits', out.logits, io.get('logits')!, strict.logits));
  });
}

interface TrainTolerance {
  loss: AbsRelTolerance;
  logits: AbsRelTolerance;
  grads: AbsRelTolerance;
  running_after: AbsRelTolerance;
}

/** Every running_after.<key> of the grads file against the model's state dict. */
function checkRunningStats(m: VisionModel, ref: Map<string, Tensor>, tol: AbsRelTolerance): string {
  const keys = [...ref.keys()].filter((k) => k.startsWith('running_after.'));
  const sd = m.stateDict();
  // 9 BatchNorms in the tiny config (3 stem, 3 per-stage sr minus stage d, 3 per IRFFN × 4, _bn) × mean, var.
  assert.equal(keys.length, 2 * (3 + 3 + 3 * 4 + 1));
  for (const k of keys) assertWithin(k, sd[k.slice('running_after.'.length)]!, ref.get(k)!, tol);
  return `${keys.length} running statistics within tolerance`;
}

/** The gradient case's model (its weights loaded, in train mode), inputs and reference gradients. */
async function trainCase() {
  const c = byName('tiny_64_train_grads');
  const m = build(c);
  await m.loadWeights(goldenFile(FAMILY, c.files.weights!));
  m.train();
  const io = await readSafetensors(goldenFile(FAMILY, c.files.io!));
  const ref = await readSafetensors(goldenFile(FAMILY, c.files.grads!));
  return { m, io, ref, tol: c.tolerance as unknown as TrainTolerance };
}

test('tiny_64_train_grads: train-mode logits and features (batch statistics), running stats after one forward', { skip }, async (t) => {
  const { m, io, ref, tol } = await trainCase();
  const out = await m.run(io.get('input')!, { features: true });
  t.diagnostic(assertWithin('logits', out.logits, io.get('logits')!, tol.logits));
  out.features.forEach((f, i) => t.diagnostic(assertWithin(`features.${i}`, f, io.get(`features.${i}`)!, tol.logits)));
  t.diagnostic(checkRunningStats(m, ref, tol.running_after));
});

test('tiny_64_train_grads: loss, every gradient, and BN running stats via stateDict() after lossAndGrads', { skip }, async (t) => {
  const { m, io, ref, tol } = await trainCase();
  const labels = Int32Array.from(io.get('labels')!.toArray());
  const { loss, grads } = await m.lossAndGrads(io.get('input')!, labels);
  const refLoss = io.get('loss')!.toArray()[0]!;
  t.diagnostic(`loss ${loss} vs ${refLoss}`);
  assert.ok(Math.abs(loss - refLoss) <= tol.loss.max_abs + tol.loss.rel * Math.abs(refLoss), `loss ${loss} vs reference ${refLoss}`);
  const keys = [...ref.keys()].filter((k) => k.startsWith('grad.'));
  assert.equal(keys.length, m.namedParameters().length, 'a reference gradient for every parameter');
  let worst = '';
  let worstShare = -1;
  for (const k of keys) {
    const name = k.slice('grad.'.length);
    assert.ok(grads[name], `gradient for ${name}`);
    const line = assertWithin(k, grads[name]!, ref.get(k)!, tol.grads, 'tensor');
    const share = Number(/([\d.]+)% of the tolerance/.exec(line)![1]);
    if (share > worstShare) [worst, worstShare] = [line, share];
  }
  t.diagnostic(`${keys.length} gradients within tolerance; worst ${worst}`);
  t.diagnostic(checkRunningStats(m, ref, tol.running_after));
});
