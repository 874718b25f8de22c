/**
 * Objectives: a second objective (mean squared error on the logits, defined here, in the test) trains
 * through TrainStep and lossAndGrads without any change to either — both build their graphs from
 * the same objective with the same builder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, createModel, Tensor, type Objective } from '../../src/index.js';
import * as F from '../../src/graph/ops/index.js';
import { keepMask } from '../../src/nn/layers.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { crossEntropy } from '../../src/train/losses.js';
import { sgd } from '../../src/train/optim.js';
import { TrainStep } from '../../src/train/step.js';
import { Rng } from '../../src/util/rng.js';

const SHAPE = [2, 3, 32, 32];
const K = 4;

/** mean((logits − t)²) against float targets [N, K]; metric: mean |logits − t|. */
const mse: Objective<Float32Array> = {
  name: 'mse(logits)',
  reads: ['logits'],
  build(ctx) {
    const logits = ctx.outputs.logits!;
    const t = ctx.target('values', logits.shape);
    const d = F.sub(logits, t);
    return {
      loss: F.reduceMean(F.mul(d, d)),
      metrics: { mae: F.reduceMean(F.abs(d)) },
      feed: (values) => ({ 'target.values': new Tensor(values, logits.shape, 'float32') }),
    };
  },
};

function tinyModel() {
  return createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: K, stem_stride: 2 });
}

function batch(seed: number): Tensor {
  const rng = new Rng(seed);
  return new Tensor(Float32Array.from({ length: SHAPE.reduce((a, b) => a * b) }, () => rng.normal()), SHAPE, 'float32');
}

const TARGETS = Float32Array.from({ length: SHAPE[0]! * K }, (_, i) => (i % 3) - 1);

test('lossAndGrads with a custom objective: loss and metric from the same logits run() gives', async () => {
  const m = tinyModel();
  const x = batch(1);
  const { logits } = await m.run(x);
  const z = logits.data as Float32Array;
  let sq = 0;
  let abs = 0;
  z.forEach((v, i) => {
    sq += (v - TARGETS[i]!) ** 2;
    abs += Math.abs(v - TARGETS[i]!);
  });
  const r = await m.lossAndGrads(x, TARGETS, { objective: mse });
  assert.ok(Math.abs(r.loss - sq / z.length) < 1e-5, `loss ${r.loss} vs ${sq / z.length}`);
  assert.ok(Math.abs(r.metrics.mae! - abs / z.length) < 1e-5);
  assert.equal(Object.keys(r.grads).length, m.namedParameters().length);
  // The head's bias gradient of a mean squared error is 2·mean over the batch of (z − t), per class.
  const db = r.grads['head.fc.bias']!.data as Float32Array;
  for (let k = 0; k < K; k++) {
    const want = ((z[k]! - TARGETS[k]!) + (z[K + k]! - TARGETS[K + k]!)) * (2 / z.length);
    assert.ok(Math.abs(db[k]! - want) < 1e-5, `d bias[${k}] ${db[k]} vs ${want}`);
  }
});

test('TrainStep with the same objective: one SGD step moves every parameter by −lr · the lossAndGrads gradient', async () => {
  const m = tinyModel();
  const x = batch(2);
  const { grads } = await m.lossAndGrads(x, TARGETS, { objective: mse });
  m.train();
  const lr = 0.01;
  const step = await TrainStep.compile(m, mse, { optimizer: sgd({ momentum: 0, weightDecay: 0 }), batchShape: SHAPE }, (bytes, label) =>
    createNodeSession(bytes, { label }),
  );
  const before = new Map([...step.getState().params].map(([k, v]) => [k, Float32Array.from(v.data as Float32Array)]));
  const res = await step.step(x, TARGETS, lr, new Rng(0));
  assert.ok(Number.isFinite(res.loss) && res.metrics.mae! > 0);
  let worst = 0;
  for (const [k, p1] of step.getState().params) {
    const p0 = before.get(k)!;
    const g = grads[k]!.data as Float32Array;
    (p1.data as Float32Array).forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (p0[i]! - lr * g[i]!)))));
  }
  assert.ok(worst < 1e-6, `max |p1 − (p0 − lr·g)| = ${worst}`);
  // A few more steps on the same batch reduce the loss (res.loss is the loss before the first step).
  let last = res.loss;
  for (let i = 0; i < 5; i++) last = (await step.step(x, TARGETS, lr, new Rng(0))).loss;
  assert.ok(last < res.loss, `${last} < ${res.loss}`);
  await step.release();
});

test('objectives declare random inputs, drawn from the seeded generator (fixed when a target feeds them)', async () => {
  // Mean of the logits masked by a random keep mask: a stand-in for FCMAE's patch masks.
  const masked: Objective<Tensor | null> = {
    name: 'masked-mean',
    reads: ['logits'],
    build(ctx) {
      const logits = ctx.outputs.logits!;
      const mask = ctx.random('keep', logits.shape, keepMask(0.5, 'test mask'));
      return {
        loss: F.reduceMean(F.mul(logits, mask)),
        metrics: {},
        feed: (m): Record<string, Tensor> => (m ? { 'random.keep': m } : {}),
      };
    },
  };
  const m = tinyModel();
  const x = batch(3);
  m.seed(42);
  const a = await m.lossAndGrads(x, null, { objective: masked });
  m.seed(42);
  const b = await m.lossAndGrads(x, null, { objective: masked });
  const c = await m.lossAndGrads(x, null, { objective: masked });
  assert.equal(a.loss, b.loss, 'same seed, same draw');
  assert.notEqual(b.loss, c.loss, 'the generator moves on');
  const ones = new Tensor(new Float32Array(SHAPE[0]! * K).fill(1), [SHAPE[0]!, K], 'float32');
  const fixed = await m.lossAndGrads(x, ones, { objective: masked });
  const { logits } = await m.run(x);
  const mean = (logits.data as Float32Array).reduce((s, v) => s + v, 0) / (SHAPE[0]! * K);
  assert.ok(Math.abs(fixed.loss - mean) < 1e-6, 'a given mask replaces the draw');
});

test('cross-entropy targets: labels of any integer array type, or soft targets; bad ones are ConfigErrors', async () => {
  const m = tinyModel();
  const x = batch(4);
  const a = await m.lossAndGrads(x, [1, 3]);
  const b = await m.lossAndGrads(x, Int32Array.of(1, 3));
  const c = await m.lossAndGrads(x, BigInt64Array.of(1n, 3n));
  const soft = new Tensor(Float32Array.of(0, 1, 0, 0, 0, 0, 0, 1), [2, 4], 'float32');
  const d = await m.lossAndGrads(x, soft);
  for (const r of [b, c, d]) assert.ok(Math.abs(r.loss - a.loss) < 1e-6);
  assert.ok(a.metrics.acc! >= 0 && a.metrics.acc! <= 1);
  await assert.rejects(m.lossAndGrads(x, [1]), (e: unknown) => e instanceof ConfigError && /1 labels for a batch of 2/.test(e.message));
  await assert.rejects(m.lossAndGrads(x, [1, 4]), (e: unknown) => e instanceof ConfigError && /label 4 at index 1 is outside \[0, 4\)/.test(e.message));
  await assert.rejects(m.lossAndGrads(x, 'abc'), (e: unknown) => e instanceof ConfigError);
  await assert.rejects(
    m.lossAndGrads(x, new Tensor(new Float32Array(6), [2, 3], 'float32')),
    (e: unknown) => e instanceof ConfigError && /float32 Tensor \[2, 4\]/.test(e.message),
  );
  // Label smoothing is an option of the objective.
  const smooth = await m.lossAndGrads(x, [1, 3], { objective: crossEntropy({ labelSmoothing: 0.1 }) });
  assert.notEqual(smooth.loss, a.loss);
});
