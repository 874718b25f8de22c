/**
 * GLNet beyond the golden cases: parameter and MAC counts of the 7 variants, the adaptive-pooling
 * bins, L2 normalisation's gradient near 0, non-square inputs, the slot maps' invariants, the
 * token-labelling logits, config keywords and their errors, and official checkpoint layouts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ShapeError, Tensor, WeightsError, createModel, listModels, pretrainedConfig, writeSafetensors, type VisionModel } from '../../src/index.js';
import { Graph, gradients, toModelProto, withGraph, F } from '../../src/graph/index.js';
import { glmixBlockPaths, l2Normalize } from '../../src/models/glnet.js';
import { adaptivePoolSlots, adaptivePoolWeights, slotPoolMatrix } from '../../src/nn/adaptive_pool.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Rng } from '../../src/util/rng.js';
import { gradcheck } from '../graph/gradcheck.js';
import { TINY_G, TINY_STL } from './glnet_configs.js';

// ../shared/spec/glnet.md §10: params (1000 classes) and the spec's own GMAC count at 224².
const SPEC: [string, number, number][] = [
  ['glnet_stl', 30_296_786, 4.37],
  ['glnet_stl_paramslot', 30_481_106, 4.36],
  ['glnet_4g', 27_001_593, 4.51],
  ['glnet_9g', 60_010_617, 9.63],
  ['glnet_16g', 106_055_161, 16.66],
  ['glnet_4g_tklb', 27_514_593, 4.53],
  ['glnet_9g_tklb', 60_779_617, 9.66],
];

test('the 7 GLNet variants are registered, each with a pretrained tag', () => {
  assert.deepEqual(listModels('glnet*').map((m) => m.name).sort(), SPEC.map(([n]) => n).sort());
  for (const [name] of SPEC) assert.equal(pretrainedConfig(`${name}.in1k`)?.cropPct, 0.875);
});

for (const [name, params, gmacs] of SPEC) {
  test(`${name}: ${params} params (spec), GMACs within 1% of the spec's count (which adds norm charges)`, () => {
    const [info] = listModels(name);
    assert.ok(info);
    assert.equal(info.params, params);
    assert.ok(Math.abs(info.gmacs - gmacs) / gmacs < 0.01, `GMACs ${info.gmacs} vs spec ${gmacs}`);
  });
}

// ---- primitives ------------------------------------------------------------------------------------

/** PyTorch's rule, written out independently: bin i covers floor(i·n/p) … ceil((i+1)·n/p) − 1. */
function bins(n: number, p: number): [number, number][] {
  return Array.from({ length: p }, (_, i) => [Math.floor((i * n) / p), Math.ceil(((i + 1) * n) / p)]);
}

test('adaptive pooling bins follow PyTorch (uneven and overlapping at 28→8 and 14→8, n < p)', () => {
  // Hand-checked: 14 → 8 gives bins [0,2) [1,4) [3,6) [5,7) [7,9) [8,11) [10,13) [12,14).
  assert.deepEqual(bins(14, 8), [[0, 2], [1, 4], [3, 6], [5, 7], [7, 9], [8, 11], [10, 13], [12, 14]]);
  for (const [n, p] of [[28, 8], [14, 8], [56, 8], [7, 3], [2, 3], [5, 5]] as const) {
    const w = adaptivePoolWeights(n, p);
    bins(n, p).forEach(([s, e], i) => {
      for (let j = 0; j < n; j++) assert.equal(w[i]![j], j >= s && j < e ? 1 / (e - s) : 0, `${n}→${p} bin ${i} pixel ${j}`);
    });
  }
});

test('pooled slots (two MatMuls in ORT) equal the slots×pixels matrix and a direct bin average, non-square 7×10 → 3×3', async () => {
  const [b, c, h, w, p] = [2, 3, 7, 10, 3];
  const rng = new Rng(5);
  const x = new Float32Array(b * c * h * w).map(() => rng.normal());
  const g = new Graph('pool');
  withGraph(g, () => g.markOutput(adaptivePoolSlots(g.input('x', [b, c, h, w]), p), 'slots'));
  const s = await createNodeSession(toModelProto(g));
  const got = (await s.run({ x: new Tensor(x, [b, c, h, w], 'float32') })).slots!;
  await s.release();
  assert.deepEqual(got.shape, [b, p * p, c]);
  const m = slotPoolMatrix(h, w, p).data as Float32Array;
  const [rb, cb] = [bins(h, p), bins(w, p)];
  for (let n = 0; n < b; n++)
    for (let k = 0; k < p * p; k++)
      for (let ch = 0; ch < c; ch++) {
        const plane = x.subarray((n * c + ch) * h * w, (n * c + ch + 1) * h * w);
        let viaMatrix = 0;
        for (let l = 0; l < h * w; l++) viaMatrix += m[k * h * w + l]! * plane[l]!;
        const [[y0, y1], [x0, x1]] = [rb[Math.floor(k / p)]!, cb[k % p]!];
        let sum = 0;
        for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) sum += plane[y * w + xx]!;
        const direct = sum / ((y1 - y0) * (x1 - x0));
        const ours = (got.data as Float32Array)[(n * p * p + k) * c + ch]!;
        assert.ok(Math.abs(ours - viaMatrix) < 1e-5 && Math.abs(ours - direct) < 1e-5, `slot ${k} ch ${ch}: ${ours} vs ${viaMatrix} / ${direct}`);
      }
});

test('l2Normalize: gradient matches finite differences (float64), rows of norm 1e-3 … 3', async (t) => {
  const r = await gradcheck('l2Normalize', [{ shape: [4, 5], init: (rng, i) => rng.normal() * 10 ** -(3 - Math.floor(i / 5)) }], (x) => l2Normalize(x, -1));
  t.diagnostic(`max rel err ${r.maxRel.toExponential(2)}`);
});

test('l2Normalize at and below eps: value v/eps and a finite gradient dy/eps (torch), not NaN', async () => {
  const eps = 1e-12;
  const rows = [
    [0, 0, 0],
    [3e-13, -4e-13, 0], // norm 5e-13 < eps
    [3, 4, 0],
  ];
  const dy = [1, -2, 0.5, 0.25, 1, -1, 2, 1, 3];
  const g = new Graph('l2');
  withGraph(g, () => {
    const x = g.input('x', [3, 3], 'float64');
    const y = l2Normalize(x, -1, eps);
    const [gx] = gradients(F.reduceSum(F.mul(y, g.constant(new Tensor(Float64Array.from(dy), [3, 3], 'float64')))), [x]);
    g.markOutput(y, 'y');
    g.markOutput(gx!, 'gx');
  });
  const s = await createNodeSession(toModelProto(g));
  const out = await s.run({ x: new Tensor(Float64Array.from(rows.flat()), [3, 3], 'float64') });
  await s.release();
  const y = out.y!.toArray();
  const gx = out.gx!.toArray();
  assert.ok(gx.every(Number.isFinite), `finite gradient: ${gx}`);
  for (let j = 0; j < 3; j++) {
    assert.equal(y[j], 0);
    assert.ok(Math.abs(gx[j]! - dy[j]! / eps) <= 1e-6 * Math.abs(dy[j]! / eps), `zero row: grad ${gx[j]} vs dy/eps`);
    assert.ok(Math.abs(y[3 + j]! - rows[1]![j]! / eps) < 1e-12);
    assert.ok(Math.abs(gx[3 + j]! - dy[3 + j]! / eps) <= 1e-6 * Math.abs(dy[3 + j]! / eps), `sub-eps row: grad ${gx[3 + j]} vs dy/eps`);
  }
  // Above eps the usual (I − ŷŷᵀ)/‖v‖: ŷ = (0.6, 0.8, 0), dy = (2, 1, 3) → ((2 − 2)·0.6…)/5.
  const yhat = [0.6, 0.8, 0];
  const dot = yhat.reduce((a, v, j) => a + v * dy[6 + j]!, 0);
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(gx[6 + j]! - (dy[6 + j]! - dot * yhat[j]!) / 5) < 1e-12);
});

// ---- the model on small configs -----------------------------------------------------------------

const randomInput = (shape: number[], seed = 1) => {
  const rng = new Rng(seed);
  return new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rng.normal()), shape, 'float32');
};

type Maps = Record<string, { assignLogits: Tensor; assign: Tensor; cluster: Tensor }>;

for (const [label, config] of [['4G layout', TINY_G], ['STL layout', TINY_STL]] as const) {
  test(`${label}: a 64×96 input gives 16×24 … 2×3 maps and slot maps for every GLMix block, softmaxes normalised`, async () => {
    const m = createModel(config);
    const out = await m.run(randomInput([2, 3, 64, 96]), { features: true, slots: true });
    assert.deepEqual(out.logits.shape, [2, 10]);
    assert.deepEqual(out.features.map((f) => f.shape), [[2, 16, 16, 24], [2, 32, 8, 12], [2, 48, 4, 6], [2, 64, 2, 3]]);
    const maps = out.slots as Maps;
    assert.deepEqual(Object.keys(maps), glmixBlockPaths(m));
    assert.deepEqual(Object.keys(maps), label === '4G layout' ? ['stages.0.blocks.0', 'stages.1.blocks.0', 'stages.2.blocks.0'] : ['stages.0.blocks.0', 'stages.1.blocks.0', 'stages.2.blocks.0', 'stages.2.blocks.1']);
    const sd = m.stateDict();
    for (const [path, { assignLogits, assign, cluster }] of Object.entries(maps)) {
      const [, s, h, w] = assign.shape as [number, number, number, number];
      assert.deepEqual(assignLogits.shape, [2, s, h * w]);
      assert.deepEqual(cluster.shape, [2, s, h * w]);
      const a = assign.data as Float32Array;
      const cl = cluster.data as Float32Array;
      for (let n = 0; n < 2; n++) {
        for (let l = 0; l < h * w; l++) {
          let sum = 0;
          for (let k = 0; k < s; k++) sum += a[(n * s + k) * h * w + l]!;
          assert.ok(Math.abs(sum - 1) < 1e-5, `${path}: dispatch weights of pixel ${l} sum to ${sum}`);
        }
        for (let k = 0; k < s; k++) {
          let sum = 0;
          for (let l = 0; l < h * w; l++) sum += cl[(n * s + k) * h * w + l]!;
          assert.ok(Math.abs(sum - 1) < 1e-5, `${path}: clustering weights of slot ${k} sum to ${sum}`);
        }
      }
      // Cosine similarities times slot_scale: |A| ≤ |slot_scale|.
      const scale = Math.abs(sd[`${path}.slot_scale`]!.toArray()[0]!);
      assert.ok((assignLogits.data as Float32Array).every((v) => Math.abs(v) <= scale * (1 + 1e-5)));
    }
  });
}

test('token labelling: logits = head(mean token) + ½·max over tokens of the aux head; keys as released', async () => {
  const m = createModel({ ...TINY_G, layerscale: -1, tklb: true });
  assert.ok('tklb_aux_head.weight' in m.stateDict());
  const out = await m.run(randomInput([2, 3, 64, 64]), { cls_logits: true, aux_logits: true });
  const [cls, aux] = [out.cls_logits as Tensor, out.aux_logits as Tensor];
  assert.deepEqual(aux.shape, [2, 4, 10]);
  const z = out.logits.data as Float32Array;
  for (let n = 0; n < 2; n++)
    for (let k = 0; k < 10; k++) {
      let max = -Infinity;
      for (let l = 0; l < 4; l++) max = Math.max(max, (aux.data as Float32Array)[(n * 4 + l) * 10 + k]!);
      const want = (cls.data as Float32Array)[n * 10 + k]! + 0.5 * max;
      assert.ok(Math.abs(z[n * 10 + k]! - want) < 1e-5);
    }
  await assert.rejects(createModel(TINY_G).run(randomInput([1, 3, 64, 64]), { aux_logits: true }), ConfigError);
});

test('train mode with drop path: every block draws its own keep masks; loss and grads are finite and seeded', async () => {
  const m = createModel({ ...TINY_G, drop_path_rate: 0.3 });
  m.train();
  const x = randomInput([4, 3, 32, 32]);
  const run = async () => (await m.seed(3).lossAndGrads(x, [1, 2, 3, 4])).loss;
  const [a, b] = [await run(), await run()];
  assert.ok(Number.isFinite(a));
  assert.equal(a, b);
});

test('norm_layer LayerNorm2d (the official default) builds downsampling and head norms without running stats', async () => {
  const m = createModel({ ...TINY_STL, norm_layer: 'LayerNorm2d' });
  const keys = Object.keys(m.stateDict());
  assert.ok(!keys.some((k) => k.includes('running_')));
  assert.ok(keys.includes('downsample_layers.0.1.weight') && keys.includes('norm.bias'));
  assert.deepEqual((await m.run(randomInput([1, 3, 64, 64]))).logits.shape, [1, 10]);
});

// ---- configs -----------------------------------------------------------------------------------

test("defaults are the official constructor's: LayerNorm2d norms, learned slots, Swin layout, no CPE/mlp_dw/layer scale", () => {
  const m = createModel({ family: 'glnet', depth: [1, 1, 1, 1], embed_dim: [32, 32, 32, 32], num_classes: 5 });
  const keys = Object.keys(m.stateDict());
  assert.ok(keys.includes('stages.0.blocks.0.init_slots'));
  assert.deepEqual(m.stateDict()['stages.0.blocks.0.init_slots']!.shape, [1, 64, 32]);
  assert.ok(keys.includes('downsample_layers.0.0.weight') && keys.includes('downsample_layers.1.0.weight')); // conv first: proj.norm
  assert.deepEqual(m.stateDict()['downsample_layers.1.0.weight']!.shape, [32, 32, 2, 2]);
  assert.ok(!keys.some((k) => /pos_conv|mlp\.1\.|ls1|running_/.test(k)));
  assert.ok(keys.includes('stages.3.blocks.0.mlp.2.weight')); // token-layout MHSA block
});

test('camelCase keywords are accepted; contradictions and ignored keys are ConfigErrors naming the key', () => {
  const { mixing_modes: _m, num_slots: _n, slot_init: _s, ...rest } = TINY_STL;
  const m = createModel({ ...rest, mixingModes: ['glmix', 'glmix', 'glmix', 'mha'], numSlots: 9, slotInit: 'param' });
  assert.deepEqual(m.stateDict()['stages.0.blocks.0.slot_scale']!.shape, []);
  assert.deepEqual(m.stateDict()['stages.2.blocks.1.init_slots']!.shape, [1, 9, 48]);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...TINY_STL, num_slots: 10 }, /num_slots.*square/],
    [{ ...TINY_STL, embed_dim: [18, 32, 48, 64], head_dim: 4 }, /head_dim.*stage 0/],
    [{ ...TINY_STL, drop_rate: 0.1 }, /drop_rate/],
    [{ ...TINY_STL, mixing_modes: ['glmix', 'glmix', 'swin', 'mha'] }, /mixing_modes\[2\]/],
    [{ ...TINY_STL, cpe_ks: 4 }, /cpe_ks.*odd/],
    [{ ...TINY_STL, mixing_modes: ['mha', 'mha', 'mha', 'mha'], num_slots: 4 }, /'(slot_init|num_slots)'.*unused: no stage has GLMix/],
    [{ ...TINY_STL, dual_patch_norm: true }, /dual_patch_norm/],
    [{ ...TINY_STL, slots: 3 }, /unknown config key 'slots'/],
  ];
  for (const [cfg, re] of bad) assert.throws(() => createModel(cfg as { family: string }), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(cfg));
  // A token-labelling model built as a feature extractor (timm's num_classes=0) has neither head.
  const features = createModel({ ...TINY_STL, tklb: true, num_classes: 0 } as { family: string });
  assert.equal(Object.keys(features.stateDict()).some((k) => k.startsWith('tklb_aux_head.') || k.startsWith('head.')), false);
  assert.ok(!features.outputNames.includes('aux_logits') && !features.outputNames.includes('cls_logits'), `outputs: ${features.outputNames}`);
});

test('an input too small for the Swin-layout downsampling is a ShapeError before tracing', async () => {
  await assert.rejects(createModel(TINY_STL).run(randomInput([1, 3, 16, 16])), (e: unknown) => e instanceof ShapeError && /too small/.test(e.message));
  assert.deepEqual((await createModel(TINY_G).run(randomInput([1, 3, 16, 16]), { features: true })).features[3]!.shape, [1, 64, 1, 1]);
});

// ---- official checkpoints -----------------------------------------------------------------------

function renamed(m: VisionModel, prefix: string, scale = 1): Map<string, Tensor> {
  return new Map(
    Object.entries(m.stateDict()).map(([k, t]) => [
      `${prefix}${k}`,
      t.dtype === 'float32' ? new Tensor((t.data as Float32Array).map((v) => v * scale), t.shape, 'float32') : t,
    ]),
  );
}

test("official checkpoints: 'model.' / 'model_ema.' wrapping (glnet_16g prefers model_ema), 0-d slot_scale, I64 counters, strict", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-glnet-'));
  try {
    const src = createModel(TINY_G);
    const path = join(dir, 'ckpt.safetensors');
    await writeSafetensors(path, new Map([...renamed(src, 'model.'), ...renamed(src, 'model_ema.', 2)]));
    const plain = createModel(TINY_G);
    await plain.loadWeights(path);
    const ss = 'stages.0.blocks.0.slot_scale';
    assert.equal(plain.stateDict()[ss]!.toArray()[0], src.stateDict()[ss]!.toArray()[0]);
    assert.equal(plain.stateDict()['norm.num_batches_tracked']!.dtype, 'int64');
    // A registry glnet_16g (shrunk here) takes the EMA weights, as its release does.
    const { family: _f, ...tinyConfig } = TINY_G;
    const g16 = createModel('glnet_16g', tinyConfig);
    await g16.loadWeights(path);
    assert.equal(g16.stateDict()[ss]!.toArray()[0], Math.fround(2 * src.stateDict()[ss]!.toArray()[0]!));
    // Strict: a missing key is named.
    const sd = renamed(src, 'model.');
    sd.delete('model.stages.0.blocks.0.slot_scale');
    await assert.rejects(createModel(TINY_G).loadWeights(sd), (e: unknown) => e instanceof WeightsError && e.missing.includes(ss));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
