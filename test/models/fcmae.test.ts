/**
 * FCMAE (../shared/golden/convnext, case fcmae_*): with the stored mask, pred, latent, encoder maps and
 * loss equal the reference from the dense-named weights and from the official sparse checkpoint;
 * masked pixels cannot change visible outputs or the loss; bad masks and options are typed errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countMacs } from '../../src/analysis/count.js';
import { ConfigError, ShapeError, Tensor, defaultEngine, readSafetensors } from '../../src/index.js';
import type { Formulation } from '../../src/models/fcmae.js';
import { traceModel } from '../../src/models/trace.js';
import { liveSet } from '../../src/graph/emit.js';
import { buildLossGraph } from '../../src/train/objective.js';
import { adamw } from '../../src/train/optim.js';
import { createFcmae, type Fcmae } from '../../src/tasks/fcmae.js';
import { Rng } from '../../src/util/rng.js';
import { assertClose, goldenCases, goldenFile } from '../golden.js';
import { goldenSkip } from '../helpers.js';

const engine = defaultEngine();
const skip = goldenSkip('convnext');
const ENCODER = { family: 'convnextv2', depths: [1, 1, 2, 1], dims: [16, 32, 64, 128] };
const OPTIONS = { decoder_embed_dim: 32, patch_size: 32, mask_ratio: 0.6, norm_pix_loss: true };

const tiny = (o: Record<string, unknown> = {}) => createFcmae(engine, ENCODER, { ...OPTIONS, ...o });

for (const weights of ['weights', 'weights_official_sparse'] as const) {
  test(`FCMAE golden: pred, latent, encoder maps and loss with the stored mask (${weights})`, { skip }, async (t) => {
    const c = goldenCases('convnext').find((x) => x.name.startsWith('fcmae'))!;
    const f = tiny();
    await f.loadWeights(goldenFile('convnext', c.files[weights]!));
    const io = await readSafetensors(goldenFile('convnext', c.files.fcmae!));
    const x = io.get('input')!;
    const mask = io.get('mask')!;
    const tol = c.tolerance as { pred: { rel_to_absmax: number; max_abs_floor: number }; loss: { rel: number } };
    const r = await f.run(x, { mask });
    t.diagnostic(assertClose('pred', r.pred, io.get('pred')!, tol.pred.rel_to_absmax, tol.pred.max_abs_floor));
    const want = io.get('loss')!.toArray()[0]!;
    assert.ok(Math.abs(r.loss - want) <= tol.loss.rel * Math.abs(want), `loss ${r.loss} vs ${want}`);
    t.diagnostic(`loss ${r.loss} vs ${want} (rel ${(Math.abs(r.loss - want) / want).toExponential(2)})`);
    const e = await engine.evaluate(f.net, x, mask, { objective: f.objective, outputs: ['latent', 'features'] });
    t.diagnostic(assertClose('latent', e.outputs.latent as Tensor, io.get('latent')!, tol.pred.rel_to_absmax, tol.pred.max_abs_floor));
    (e.outputs.features as Tensor[]).forEach((m, i) => assertClose(`features.${i}`, m, io.get(`encoder.features.${i}`)!, tol.pred.rel_to_absmax, tol.pred.max_abs_floor));
  });
}

test('pixels inside masked patches change neither the encoder nor the prediction (only the loss targets)', { skip }, async () => {
  const f = tiny();
  const c = goldenCases('convnext').find((x) => x.name.startsWith('fcmae'))!;
  await f.loadWeights(goldenFile('convnext', c.files.weights!));
  const io = await readSafetensors(goldenFile('convnext', c.files.fcmae!));
  const x = io.get('input')!;
  const mask = io.get('mask')!;
  const m = mask.data as Float32Array;
  // Scribble over every masked 32×32 patch.
  const y = new Float32Array(x.data as Float32Array);
  for (let n = 0; n < 2; n++)
    for (let ch = 0; ch < 3; ch++)
      for (let r = 0; r < 128; r++)
        for (let col = 0; col < 128; col++)
          if (m[n * 16 + Math.floor(r / 32) * 4 + Math.floor(col / 32)] === 1) y[((n * 3 + ch) * 128 + r) * 128 + col] = 100 * Math.sin(r * col + ch);
  const a = await engine.evaluate(f.net, x, mask, { objective: f.objective, outputs: ['latent', 'features', 'pred'] });
  const b = await engine.evaluate(f.net, new Tensor(y, x.shape, 'float32'), mask, { objective: f.objective, outputs: ['latent', 'features', 'pred'] });
  assert.deepEqual((b.outputs.latent as Tensor).data, (a.outputs.latent as Tensor).data);
  (b.outputs.features as Tensor[]).forEach((t, i) => assert.deepEqual(t.data, (a.outputs.features as Tensor[])[i]!.data, `features.${i}`));
  assert.deepEqual((b.outputs.pred as Tensor).data, (a.outputs.pred as Tensor).data, 'the prediction sees visible pixels only');
  // The loss does change: its targets are the masked pixels themselves.
  assert.notEqual(b.loss, a.loss);
});

// ---- the sparse formulation (per-position MLPs on the visible positions only) ------------------------

/** Every parameter random (GRN's zero init would hide its statistics), the input random. */
async function randomCase(f: Fcmae, seed: number): Promise<Tensor> {
  const rng = new Rng(seed);
  const sd = new Map<string, Tensor>();
  for (const [k, t] of Object.entries(f.net.stateDict())) sd.set(k, new Tensor(Float32Array.from({ length: t.size }, () => 0.3 * rng.normal()), t.shape, 'float32'));
  await f.loadWeights(sd);
  return new Tensor(Float32Array.from({ length: 2 * 3 * 128 * 128 }, () => rng.normal()), [2, 3, 128, 128], 'float32');
}

/** A mask [2, 16] hiding the given patches of each image. */
const maskOf = (hidden: number[][]) => {
  const m = new Float32Array(32);
  hidden.forEach((ps, n) => ps.forEach((p) => (m[n * 16 + p] = 1)));
  return new Tensor(m, [2, 16], 'float32');
};

function maxRelDiff(a: Tensor, b: Tensor): number {
  const [x, y] = [a.data as Float32Array, b.data as Float32Array];
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}

test('the sparse encoder (gather → LN/MLP/GRN → scatter) equals the dense one: outputs, loss and every gradient', async (t) => {
  const f = tiny();
  assert.equal(f.net.formulation, 'sparse', 'mask ratio 0.6 picks the sparse formulation');
  const x = await randomCase(f, 7);
  // 6 of 16 patches visible per image (floor(16·0.4)), in different places.
  const mask = maskOf([[0, 1, 2, 4, 7, 8, 9, 11, 14, 15], [1, 3, 5, 6, 8, 10, 11, 12, 13, 15]]);
  const outputs = ['pred', 'latent', 'features'];
  const by = async (form: Formulation) => {
    f.net.formulation = form;
    const e = await engine.evaluate(f.net, x, mask, { objective: f.objective, outputs });
    const g = await engine.lossAndGrads(f.net, x, mask, { objective: f.objective });
    return { e, g };
  };
  const sparse = await by('sparse');
  const dense = await by('dense');
  f.net.formulation = 'sparse';
  const tol = 2e-5;
  for (const name of ['pred', 'latent'])
    assert.ok(maxRelDiff(sparse.e.outputs[name] as Tensor, dense.e.outputs[name] as Tensor) <= tol, `${name}: ${maxRelDiff(sparse.e.outputs[name] as Tensor, dense.e.outputs[name] as Tensor)}`);
  (sparse.e.outputs.features as Tensor[]).forEach((m, i) => assert.ok(maxRelDiff(m, (dense.e.outputs.features as Tensor[])[i]!) <= tol, `features.${i}`));
  assert.ok(Math.abs(sparse.e.loss - dense.e.loss) <= 1e-6 * Math.abs(dense.e.loss), `loss ${sparse.e.loss} vs ${dense.e.loss}`);
  assert.ok(Math.abs(sparse.g.loss - dense.g.loss) <= 1e-6 * Math.abs(dense.g.loss));
  let worst = 0;
  for (const [k, gd] of Object.entries(dense.g.grads)) {
    const d = maxRelDiff(sparse.g.grads[k]!, gd);
    assert.ok(d <= 1e-4, `grad ${k}: max |sparse − dense| / max|dense| = ${d}`);
    worst = Math.max(worst, d);
  }
  assert.ok(Object.keys(dense.g.grads).some((k) => k.includes('grn')), 'GRN parameters are among the gradients');
  // Two graphs really ran (compile caches key on the formulation): their rounding differs somewhere.
  assert.ok(worst > 0, 'sparse and dense gave bitwise identical gradients: was one graph reused for both?');
  t.diagnostic(`loss ${sparse.g.loss} vs ${dense.g.loss}; worst gradient difference ${worst.toExponential(2)} of its max`);
});

test('with two decoder blocks the sparse step (the last one on the masked patches) agrees with the dense one: loss and every gradient', async () => {
  const f = tiny({ decoder_depth: 2 });
  const x = await randomCase(f, 5);
  const mask = maskOf([[0, 1, 2, 4, 7, 8, 9, 11, 14, 15], [1, 3, 5, 6, 8, 10, 11, 12, 13, 15]]);
  const by = async (form: Formulation) => {
    f.net.formulation = form;
    return engine.lossAndGrads(f.net, x, mask, { objective: f.objective });
  };
  const [sparse, dense] = [await by('sparse'), await by('dense')];
  assert.ok(Math.abs(sparse.loss - dense.loss) <= 1e-6 * Math.abs(dense.loss), `loss ${sparse.loss} vs ${dense.loss}`);
  assert.ok(Object.keys(dense.grads).some((k) => k.startsWith('decoder.1.')));
  for (const [k, gd] of Object.entries(dense.grads)) assert.ok(maxRelDiff(sparse.grads[k]!, gd) <= 1e-4, `grad ${k}: ${maxRelDiff(sparse.grads[k]!, gd)}`);
});

test("the sparse encoder's per-position MACs scale with the visible positions; the ratio picks the formulation", () => {
  const f = tiny();
  const blockMacs = () => {
    const g = traceModel(f.net, [2, 3, 128, 128], { outputs: ['pred'] }).graph;
    const mlp = g.nodes.filter((n) => n.op.type === 'MatMul' && /^encoder\.stages\.\d+\.blocks\./.test(n.scope));
    return countMacs({ nodes: mlp } as typeof g);
  };
  const sparse = blockMacs();
  f.net.formulation = 'dense';
  const dense = blockMacs();
  assert.ok(dense > 0);
  assert.equal(sparse / dense, 6 / 16, 'floor(16·(1 − 0.6)) = 6 of 16 patches visible');
  assert.equal(tiny({ mask_ratio: 0.02 }).net.formulation, 'dense', 'with almost nothing masked the gathers would not pay');
});

test("the sparse step predicts the masked patches only: its loss graph's prediction and decoder fc2 MACs are masked / L of the dense one's", () => {
  const f = tiny();
  const macs = (scope: RegExp) => {
    const { graph, loss, grads } = buildLossGraph(f.net, f.objective, [2, 3, 128, 128]);
    // The nodes loss and gradients need (the full map `pred` is traced but unread there).
    const nodes = liveSet({ nodes: graph.nodes, outputs: [loss, ...grads] } as unknown as typeof graph).nodes.filter((n) => scope.test(n.scope) && (n.op.type === 'MatMul' || n.op.type === 'Conv'));
    return countMacs({ nodes } as typeof graph);
  };
  const [tail, fc1] = [/^(grad\()?(pred|decoder\.0\.mlp\.fc2)\b/, /^(grad\()?decoder\.0\.mlp\.fc1\b/];
  const sparse = { tail: macs(tail), fc1: macs(fc1) };
  f.net.formulation = 'dense';
  const dense = { tail: macs(tail), fc1: macs(fc1) };
  assert.ok(dense.tail > 0 && sparse.tail > 0 && dense.fc1 > 0);
  // Forward and both backward products: 10 of 16 patches masked per image. fc1 feeds GRN's
  // statistics, which see every position.
  assert.equal(sparse.tail / dense.tail, 10 / 16);
  assert.equal(sparse.fc1, dense.fc1);
});

test('masks that do not show floor(L·(1 − ratio)) patches per image run dense, through run and lossAndGrads', async () => {
  const f = tiny();
  const x = await randomCase(f, 11);
  // 7 and 5 visible patches: the sparse graph's static shapes cannot take this mask.
  const uneven = maskOf([[0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
  assert.equal(f.net.formulationFor(uneven), 'dense');
  const r = await f.run(x, { mask: uneven });
  const g = await f.lossAndGrads(x, { mask: uneven });
  assert.equal(f.net.formulation, 'sparse', 'the switch lasts one call');
  f.net.formulation = 'dense';
  const want = await f.run(x, { mask: uneven });
  const wantG = await f.lossAndGrads(x, { mask: uneven });
  f.net.formulation = 'sparse';
  assert.deepEqual(r.pred.data, want.pred.data);
  assert.equal(r.loss, want.loss);
  assert.equal(g.loss, wantG.loss);
  // Called directly on the sparse graph, such a mask is a typed error before ONNX Runtime runs.
  await assert.rejects(
    engine.evaluate(f.net, x, uneven, { objective: f.objective }),
    (e: unknown) => e instanceof ConfigError && /show exactly 6 of 16 patches per image.*image 0 of the mask shows 7.*net\.formulation = 'dense'/.test(e.message),
  );
});

test('a compiled pretrain step draws its masks and their visible positions each step; sparse and dense steps agree', async () => {
  const f = tiny();
  const x = await randomCase(f, 5);
  const steps = async (form: Formulation) => {
    f.net.formulation = form;
    const step = await engine.compileTrainStep(f.net, f.objective, { optimizer: adamw(), batchShape: [2, 3, 128, 128] });
    const rng = new Rng(9);
    const out = [await step.step(x, null, 1e-3, rng), await step.step(x, null, 1e-3, rng)];
    await step.release();
    return out;
  };
  const sparse = await steps('sparse');
  const dense = await steps('dense');
  f.net.formulation = 'sparse';
  sparse.forEach((r, i) => {
    assert.ok(Math.abs(r.loss - dense[i]!.loss) <= 1e-5 * dense[i]!.loss, `step ${i}: loss ${r.loss} vs ${dense[i]!.loss}`);
    assert.ok(Math.abs(r.gradNorm - dense[i]!.gradNorm) <= 1e-4 * dense[i]!.gradNorm, `step ${i}: grad norm`);
    assert.equal(r.metrics.masked_fraction, 10 / 16);
  });
  assert.notEqual(sparse[0]!.loss, sparse[1]!.loss, 'a new mask (and new weights) each step');
});

test('random masks: floor(L·(1 − ratio)) visible patches per image, seeded', { skip }, async () => {
  const f = tiny();
  const x = new Tensor(new Float32Array(2 * 3 * 128 * 128).map((_, i) => Math.sin(i)), [2, 3, 128, 128], 'float32');
  f.net.seed(3);
  const a = await f.run(x);
  f.net.seed(3);
  const b = await f.run(x);
  assert.deepEqual(a.mask.data, b.mask.data);
  const md = a.mask.data as Float32Array;
  for (let n = 0; n < 2; n++) assert.equal(md.subarray(n * 16, (n + 1) * 16).filter((v) => v === 0).length, Math.floor(16 * 0.4));
  assert.equal(a.loss, b.loss);
});

test('bad masks and options are typed errors naming the option and the expected value', async () => {
  const f: Fcmae = tiny();
  const x = new Tensor(new Float32Array(2 * 3 * 128 * 128), [2, 3, 128, 128], 'float32');
  const isConfig = (re: RegExp) => (e: unknown) => e instanceof ConfigError && re.test(e.message);
  await assert.rejects(f.run(x, { mask: new Tensor(new Float32Array(2 * 15), [2, 15], 'float32') }), isConfig(/mask must be a float32 Tensor \[2, 16\]/));
  const half = new Float32Array(32).fill(1);
  half[5] = 0.5;
  await assert.rejects(f.run(x, { mask: new Tensor(half, [2, 16], 'float32') }), isConfig(/mask values must be 0 \(visible\) or 1 \(masked\); mask\[0, 5\] is 0\.5/));
  await assert.rejects(f.run(new Tensor(new Float32Array(2 * 3 * 100 * 100), [2, 3, 100, 100], 'float32')), (e: unknown) => e instanceof ShapeError && /100×100 must be divisible by patch_size 32/.test(e.message));
  assert.throws(() => tiny({ mask_ratio: 1 }), isConfig(/mask_ratio' of family 'fcmae' must be number ≥ 0 < 1, got 1/));
  assert.throws(() => tiny({ mask_ratio: 0 }), isConfig(/mask_ratio.*must be in \(0, 1\), got 0/));
  assert.throws(() => tiny({ patch_size: 16 }), isConfig(/patch_size must equal the encoder's total stride, 32.*got 16/));
  assert.throws(() => createFcmae(engine, { family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 8, 8, 8] }, {}), isConfig(/encoder has no GRN.*require_grn/));
  assert.doesNotThrow(() => createFcmae(engine, { family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 8, 8, 8] }, { require_grn: false }));
  assert.throws(() => createFcmae(engine, ENCODER, { decoderEmbedDim: 8, decoder_embed_dim: 8 }), isConfig(/given once/));
});

test('the encoder formulation is an argument of the traced call and of its compile-cache key, not state switched around a call', async () => {
  const f = createFcmae(engine, { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], stem_stride: 2 }, { patch_size: 16, decoder_embed_dim: 16, mask_ratio: 0.5 });
  const rng = new Rng(11);
  const x = new Tensor(Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => rng.normal()), [2, 3, 32, 32], 'float32');
  const mask = new Tensor(Float32Array.of(1, 0, 0, 1, 0, 1, 1, 0), [2, 4], 'float32'); // 2 of 4 shown: sparse serves it
  const uneven = new Tensor(Float32Array.of(1, 1, 1, 0, 0, 1, 0, 0), [2, 4], 'float32'); // 1 and 3 shown: dense only
  assert.equal(f.net.formulation, 'sparse');
  const sparse = await f.lossAndGrads(x, { mask });
  const dense = await f.net.lossAndGrads(x, mask, { objective: f.objective, variant: 'dense' });
  assert.ok(Math.abs(sparse.loss - dense.loss) <= 1e-5 * Math.abs(dense.loss), `${sparse.loss} vs ${dense.loss}`);
  const r = await f.run(x, { mask: uneven });
  assert.ok(Number.isFinite(r.loss));
  assert.equal(f.net.formulation, 'sparse', 'the network\'s default is never switched');
  await assert.rejects(f.net.lossAndGrads(x, mask, { objective: f.objective, variant: 'sideways' }), { name: 'ConfigError', message: /'dense' or 'sparse'/ });
});

test("an encoder with timm's patch_size 2 (stride-2 stem, stage 0 downsamples: total stride 32): sparse equals dense, masked pixels stay unseen", async () => {
  const f = createFcmae(engine, { ...ENCODER, patch_size: 2 }, { decoder_embed_dim: 32, mask_ratio: 0.6 });
  assert.equal(f.net.options.patch_size, 32, "the masking patch defaults to the encoder's total stride");
  assert.deepEqual(f.net.stageStrides, [2, 2, 2, 2]);
  const x = await randomCase(f, 5);
  const hidden = [[0, 1, 2, 4, 7, 8, 9, 11, 14, 15], [1, 3, 5, 6, 8, 10, 11, 12, 13, 15]];
  const mask = maskOf(hidden);
  const outputs = ['pred', 'latent', 'features'];
  const by = async (form: Formulation, input: Tensor) => {
    f.net.formulation = form;
    return engine.evaluate(f.net, input, mask, { objective: f.objective, outputs });
  };
  const sparse = await by('sparse', x);
  const dense = await by('dense', x);
  for (const name of ['pred', 'latent']) assert.ok(maxRelDiff(sparse.outputs[name] as Tensor, dense.outputs[name] as Tensor) <= 2e-5, name);
  (sparse.outputs.features as Tensor[]).forEach((m, i) => assert.ok(maxRelDiff(m, (dense.outputs.features as Tensor[])[i]!) <= 2e-5, `features.${i}`));
  // Scribble over the masked 32×32 patches: neither formulation sees it.
  const y = new Float32Array(x.data as Float32Array);
  for (let n = 0; n < 2; n++)
    for (let ch = 0; ch < 3; ch++)
      for (let r = 0; r < 128; r++)
        for (let col = 0; col < 128; col++)
          if (hidden[n]!.includes(Math.floor(r / 32) * 4 + Math.floor(col / 32))) y[((n * 3 + ch) * 128 + r) * 128 + col] = 100 * Math.sin(r * col + ch);
  for (const form of ['dense', 'sparse'] as const) {
    const a = form === 'dense' ? dense : sparse;
    const b = await by(form, new Tensor(y, x.shape, 'float32'));
    assert.deepEqual((b.outputs.latent as Tensor).data, (a.outputs.latent as Tensor).data, `${form}: latent`);
    assert.deepEqual((b.outputs.pred as Tensor).data, (a.outputs.pred as Tensor).data, `${form}: pred`);
  }
  f.net.formulation = 'sparse';
});

test("an encoder whose patch_size makes timm dilate (≥ 8) is refused, naming stem_stride", () => {
  assert.throws(() => createFcmae(engine, { ...ENCODER, patch_size: 8 }, {}), (e: unknown) => e instanceof ConfigError && /dilate.*stem_stride: 8/.test(e.message));
  assert.equal(createFcmae(engine, { ...ENCODER, stem_stride: 8 }, { decoder_embed_dim: 8 }).net.stride, 64);
});
