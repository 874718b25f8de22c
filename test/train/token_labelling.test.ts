/**
 * The token-labelling objective (GLNet *_tklb): its loss equals cls CE + ½ · mean token CE computed
 * here from the model's own outputs, with image-level or per-token targets; it reaches the aux head;
 * a compiled train step with it lowers the loss on a fixed batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, Tensor, createModel, tokenLabelling } from '../../src/index.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { adamw } from '../../src/train/optim.js';
import { TrainStep } from '../../src/train/step.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_G } from '../models/glnet_configs.js';

const { layerscale: _ls, ...rest } = TINY_G;
const TKLB = { ...rest, num_classes: 5, tklb: true };

const rng = new Rng(7);
const x = new Tensor(new Float32Array(2 * 3 * 64 * 64).map(() => rng.normal()), [2, 3, 64, 64], 'float32');
const labels = [3, 1];

/** −Σ t log softmax(z) of one row. */
function ce(z: ArrayLike<number>, t: ArrayLike<number>): number {
  const zs = Array.from(z);
  const m = Math.max(...zs);
  const lse = m + Math.log(zs.reduce((a, v) => a + Math.exp(v - m), 0));
  return zs.reduce((a, v, k) => a - t[k]! * (v - lse), 0);
}

const oneHot = (l: number, k = 5) => Array.from({ length: k }, (_, i) => (i === l ? 1 : 0));

test('loss = CE(class head) + ½ · mean over tokens CE(aux head), tokens taking the image label', async () => {
  const m = createModel(TKLB); // eval mode: the same forward for run and lossAndGrads
  const out = await m.run(x, { cls_logits: true, aux_logits: true });
  const cls = out.cls_logits as Tensor;
  const aux = out.aux_logits as Tensor; // [2, 4, 5]
  let want = 0;
  for (let n = 0; n < 2; n++) {
    want += ce((cls.data as Float32Array).subarray(n * 5, n * 5 + 5), oneHot(labels[n]!)) / 2;
    for (let l = 0; l < 4; l++) want += (0.5 * ce((aux.data as Float32Array).subarray((n * 4 + l) * 5, (n * 4 + l) * 5 + 5), oneHot(labels[n]!))) / 8;
  }
  const r = await m.lossAndGrads(x, labels, { objective: tokenLabelling() });
  assert.ok(Math.abs(r.loss - want) < 1e-5, `loss ${r.loss} vs ${want}`);
  assert.ok(Math.abs(r.metrics.cls_loss! + 0.5 * r.metrics.dense_loss! - r.loss) < 1e-5);
  const g = r.grads['tklb_aux_head.weight']!.data as Float32Array;
  assert.ok(g.some((v) => v !== 0), 'the aux head is trained');
});

test('per-token soft targets [N, L, K]', async () => {
  const m = createModel(TKLB);
  const out = await m.run(x, { cls_logits: true, aux_logits: true });
  const t = new Float32Array(2 * 4 * 5).map(() => rng.uniform(0, 1));
  for (let r = 0; r < 8; r++) {
    const s = t.subarray(r * 5, r * 5 + 5).reduce((a, v) => a + v, 0);
    for (let k = 0; k < 5; k++) t[r * 5 + k]! /= s;
  }
  let want = 0;
  const cls = out.cls_logits as Tensor;
  const aux = out.aux_logits as Tensor;
  for (let n = 0; n < 2; n++) want += ce((cls.data as Float32Array).subarray(n * 5, n * 5 + 5), oneHot(labels[n]!)) / 2;
  for (let r = 0; r < 8; r++) want += (0.3 * ce((aux.data as Float32Array).subarray(r * 5, r * 5 + 5), t.subarray(r * 5, r * 5 + 5))) / 8;
  const obj = tokenLabelling({ denseWeight: 0.3, tokenTargets: true });
  const r = await m.lossAndGrads(x, { labels, tokens: new Tensor(t, [2, 4, 5], 'float32') }, { objective: obj });
  assert.ok(Math.abs(r.loss - want) < 1e-5, `loss ${r.loss} vs ${want}`);
  await assert.rejects(m.lossAndGrads(x, labels, { objective: obj }), ConfigError);
  await assert.rejects(m.lossAndGrads(x, { labels, tokens: new Tensor(t.subarray(0, 20), [2, 2, 5], 'float32') }, { objective: obj }), /\[2, 4, 5\]/);
});

test('a model without the token-labelling head is a ConfigError', async () => {
  const { tklb: _t, ...plain } = TKLB;
  await assert.rejects(createModel(plain).lossAndGrads(x, labels, { objective: tokenLabelling() }), (e: unknown) => e instanceof ConfigError && /aux_logits|cls_logits/.test(e.message));
});

test('a compiled train step (BN in train mode) with token labelling lowers the loss on a fixed batch', async () => {
  const m = createModel(TKLB);
  m.train();
  const step = await TrainStep.compile(m, tokenLabelling({ labelSmoothing: 0.1 }), { optimizer: adamw(), batchShape: [2, 3, 64, 64] }, (bytes, label) =>
    createNodeSession(bytes, { label, threads: 1 }),
  );
  const losses: number[] = [];
  for (let i = 0; i < 6; i++) losses.push((await step.step(x, labels, 2e-3, new Rng(i))).loss);
  await step.release();
  assert.ok(losses.every(Number.isFinite));
  assert.ok(losses[5]! < losses[0]!, `losses ${losses.map((l) => l.toFixed(3)).join(' ')}`);
});
