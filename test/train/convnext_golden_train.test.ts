/**
 * convnextv2_tiny_custom_train: loss and every gradient against the reference (PyTorch autograd in
 * float64), and one AdamW step reproduced from the stored gradients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, readSafetensors } from '../../src/index.js';
import { Graph, withGraph } from '../../src/graph/graph.js';
import { toModelProto } from '../../src/graph/emit.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { adamw } from '../../src/train/optim.js';
import { Tensor } from '../../src/tensor.js';
import { assertClose, compare, goldenCases, goldenFile, type GoldenCase } from '../golden.js';
import { goldenSkip } from '../helpers.js';

const FAMILY = 'convnext';
const skip = goldenSkip(FAMILY);
const theCase = (): GoldenCase => goldenCases(FAMILY).find((c) => c.name === 'convnextv2_tiny_custom_train')!;

function model(c: GoldenCase) {
  const r = c.reference as { depths: number[]; dims: number[]; num_classes: number };
  return createModel({ family: 'convnextv2', depths: r.depths, dims: r.dims, num_classes: r.num_classes });
}

test('convnextv2_tiny_custom_train: loss and every grad.* within tolerance', { skip }, async (t) => {
  const c = theCase();
  const tol = c.tolerance as { loss: { max_abs: number }; grads: { rel_to_absmax_per_tensor: number; max_abs_floor: number } };
  const m = model(c);
  await m.loadWeights(goldenFile(FAMILY, c.files.weights!));
  const ref = await readSafetensors(goldenFile(FAMILY, c.files.grads!));
  m.train();
  const labels = Int32Array.from(ref.get('labels')!.data as Int32Array);
  const { loss, grads } = await m.lossAndGrads(ref.get('input')!, labels);
  const refLoss = ref.get('loss')!.toArray()[0]!;
  t.diagnostic(`loss ${loss} vs ${refLoss}`);
  assert.ok(Math.abs(loss - refLoss) <= tol.loss.max_abs, `loss ${loss} vs reference ${refLoss}`);
  const keys = [...ref.keys()].filter((k) => k.startsWith('grad.'));
  assert.equal(keys.length, Object.keys(m.stateDict()).length, 'a reference gradient for every parameter');
  let worst = 0;
  for (const k of keys) {
    const name = k.slice(5);
    assert.ok(grads[name], `gradient for ${name}`);
    assertClose(k, grads[name]!, ref.get(k)!, tol.grads.rel_to_absmax_per_tensor, tol.grads.max_abs_floor);
    const { maxAbs, absMax } = compare(grads[name]!, ref.get(k)!);
    worst = Math.max(worst, maxAbs / Math.max(absMax, 1e-12));
  }
  t.diagnostic(`${keys.length} gradients, worst max|err|/absmax ${worst.toExponential(2)}`);
});

test('convnextv2_tiny_custom_train: one AdamW step (updated.*) from the stored grads', { skip }, async (t) => {
  const c = theCase();
  const o = c.optimizer as { lr: number; betas: [number, number]; eps: number; weight_decay: number };
  const tol = (c.tolerance as { updated: { max_abs: number } }).updated.max_abs;
  const ref = await readSafetensors(goldenFile(FAMILY, c.files.grads!));
  const weights = await readSafetensors(goldenFile(FAMILY, c.files.weights!));
  const opt = adamw({ betas: o.betas, eps: o.eps, weightDecay: o.weight_decay });
  // An optimizer-only graph: p, g, m, v → p'. Single param group: decay on every tensor.
  const g = new Graph('adamw');
  const keys = [...weights.keys()];
  withGraph(g, () => {
    const lr = g.input('lr', []);
    const bc1 = g.input('bc1', []);
    const bc2 = g.input('bc2', []);
    for (const k of keys) {
      const shape = weights.get(k)!.shape;
      const upd = opt.update(
        {
          param: g.input(`p.${k}`, shape),
          grad: g.input(`g.${k}`, shape),
          state: [g.input(`m.${k}`, shape), g.input(`v.${k}`, shape)],
          weightDecay: o.weight_decay,
          lrScale: 1,
        },
        { lr, bc1, bc2 },
      );
      g.markOutput(upd.param, `new.${k}`);
    }
  });
  const s = await createNodeSession(toModelProto(g));
  const { bc1, bc2 } = opt.corrections(1);
  const feeds: Record<string, Tensor> = {
    lr: new Tensor(Float32Array.of(o.lr), [], 'float32'),
    bc1: new Tensor(Float32Array.of(bc1), [], 'float32'),
    bc2: new Tensor(Float32Array.of(bc2), [], 'float32'),
  };
  for (const k of keys) {
    const w = weights.get(k)!;
    feeds[`p.${k}`] = w;
    feeds[`g.${k}`] = ref.get(`grad.${k}`)!;
    feeds[`m.${k}`] = Tensor.zeros(w.shape);
    feeds[`v.${k}`] = Tensor.zeros(w.shape);
  }
  const out = await s.run(feeds);
  let worst = 0;
  for (const k of keys) {
    const { maxAbs } = compare(out[`new.${k}`]!, ref.get(`updated.${k}`)!);
    assert.ok(maxAbs <= tol, `updated.${k}: max|err| ${maxAbs} > ${tol}`);
    worst = Math.max(worst, maxAbs);
  }
  t.diagnostic(`${keys.length} tensors, worst max|err| ${worst.toExponential(2)} (tol ${tol})`);
});
