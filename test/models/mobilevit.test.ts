/**
 * MobileViT: registry (params and GMACs of spec §2.2, pretrained tags = timm's), custom configs and
 * their errors, stage maps at any input size, bad inputs rejected before ONNX Runtime runs, ml-cvnets
 * names (keymaps.json), strict loading both ways, the BGR import option and the training init.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, Engine, ShapeError, Tensor, WeightsError, createModel, listModels, type VisionModel } from '../../src/index.js';
import { modelInfo } from '../../src/models/index.js';
import { traceForward } from '../../src/models/trace.js';
import { cvnetsToTimm, makeDivisible, type MobileViT } from '../../src/models/mobilevit.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { Rng } from '../../src/util/rng.js';
import { sharedDir, sharedSkip } from '../helpers.js';
import { skip } from './mobilevit_cases.js';
import { engineWithoutRuntime } from '../fixtures/no_runtime_engine.js';

// ../shared/spec/mobilevit.md §2.2: params (ml-cvnets = timm, 1000 classes) and MACs at 256² (conv + linear + attention matmuls).
const SPEC: [string, number, number][] = [
  ['mobilevit_xxs', 1_272_024, 0.407],
  ['mobilevit_xs', 2_317_848, 1.026],
  ['mobilevit_s', 5_578_632, 2.001],
];

/** The golden "tiny" config (spec §7), 172,986 params. */
const TINY = {
  family: 'mobilevit',
  stem: 16,
  layer1: { out: 16, exp: 2, n: 1, stride: 1 },
  layer2: { out: 16, exp: 2, n: 2, stride: 2 },
  layer3: { out: 24, exp: 2, stride: 2, dim: 32, depth: 1 },
  layer4: { out: 32, exp: 2, stride: 2, dim: 40, depth: 2 },
  layer5: { out: 40, exp: 2, stride: 2, dim: 48, depth: 1 },
  heads: 4,
  patch: 2,
  mlp_ratio: 2,
  exp_factor: 4,
  num_classes: 10,
};

const tiny = (over: Record<string, unknown> = {}) => createModel({ ...TINY, ...over });

function randomInput(shape: number[], seed = 1): Tensor {
  const rng = new Rng(seed);
  return Tensor.from(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.random()), shape);
}

function randomStateDict(m: VisionModel, seed = 2): Map<string, Tensor> {
  const rng = new Rng(seed);
  return new Map(
    Object.entries(m.stateDict()).map(([k, t]) => {
      if (t.dtype !== 'float32') return [k, t] as const;
      const v = Float32Array.from({ length: t.size }, () => (k.endsWith('running_var') ? rng.uniform(0.5, 1.5) : rng.normal(0, 0.3)));
      return [k, new Tensor(v, t.shape, 'float32')] as const;
    }),
  );
}

// ---- registry ----------------------------------------------------------------------------------

test('the three variants are registered at 256²', () => {
  assert.deepEqual(listModels('mobilevit*').map((m) => m.name), SPEC.map(([n]) => n));
});

for (const [name, params, gmacs] of SPEC) {
  test(`${name}: ${params} params and ${gmacs} GMACs at 256², counted from the traced graph`, () => {
    const [info] = listModels(name);
    assert.ok(info);
    assert.equal(info.params, params);
    assert.ok(Math.abs(info.gmacs - gmacs) < 0.0015, `GMACs ${info.gmacs} vs ${gmacs}`);
    assert.deepEqual(info.inputSize, [3, 256, 256]);
  });
}

test('the golden tiny config has the spec\'s 172,986 params (graph count = module count: BN buffers are not params)', () => {
  const m = tiny();
  assert.equal(m.numParameters(), 172_986);
  assert.equal(modelInfo(m, [3, 64, 64]).params, 172_986);
});

const TIMM_CFGS = join(sharedDir, 'data', 'pretrained', 'timm_pretrained_cfgs.json');
const noCfgs = sharedSkip(join('data', 'pretrained', 'timm_pretrained_cfgs.json'));

test('pretrained tags equal timm\'s pretrained_cfg (shared/data/pretrained), channel order RGB documented', { skip: noCfgs }, () => {
  const timm = JSON.parse(readFileSync(TIMM_CFGS, 'utf8')) as Record<string, Record<string, unknown>>;
  const tags = listModels('mobilevit*', { pretrained: true }).map((t) => t.name).sort();
  assert.deepEqual(tags, Object.keys(timm).filter((k) => /^mobilevit_(xxs|xs|s)\./.test(k)).sort());
  for (const tag of tags) {
    const p = createModel(tag).pretrainedConfig!;
    const t = timm[tag]!;
    assert.equal(p.tag, tag);
    assert.equal(p.hubId, t.hf_hub_id);
    assert.equal(p.numClasses, t.num_classes);
    assert.deepEqual(p.inputSize, t.input_size);
    assert.equal(p.cropPct, t.crop_pct);
    assert.equal(p.cropMode, t.crop_mode);
    assert.equal(p.interpolation, t.interpolation);
    assert.deepEqual(p.mean, t.mean);
    assert.deepEqual(p.std, t.std);
    assert.equal(p.license, t.license);
    assert.equal(p.channelOrder, 'RGB');
  }
  assert.equal(createModel('mobilevit_s').pretrainedConfig?.tag, 'mobilevit_s.cvnets_in1k');
});

test('make_divisible(v, 8) as ml-cvnets', () => {
  assert.deepEqual([4, 8, 12, 20, 32, 36, 44, 100].map((v) => makeDivisible(v)), [8, 8, 16, 24, 32, 40, 48, 104]);
  // Rounding 9 down to 8 would lose more than 10% (8 < 0.9·9), so it goes up a step.
  assert.equal(makeDivisible(9), 16);
});

// ---- custom configs ------------------------------------------------------------------------------

test('custom configs: camelCase keys, nested layer tables; MLP hidden = dim·mlp_ratio; final conv = exp_factor·layer5.out', () => {
  const { mlp_ratio: _m, exp_factor: _e, num_classes: _n, ...rest } = TINY;
  const m = createModel({ ...rest, mlpRatio: 3, expFactor: 2, numClasses: 7 }) as MobileViT;
  const sd = m.stateDict();
  assert.deepEqual(sd['stages.2.1.transformer.0.mlp.fc1.weight']!.shape, [96, 32]);
  assert.deepEqual(sd['final_conv.conv.weight']!.shape, [80, 40, 1, 1]);
  assert.deepEqual(sd['head.fc.weight']!.shape, [7, 80]);
  // Partial layer tables take the family defaults (MobileViT-XXS) for the keys they leave out.
  const p = createModel({ family: 'mobilevit', layer3: { dim: 32 } }) as MobileViT;
  assert.deepEqual(p.config.layer3, { out: 48, exp: 2, stride: 2, dim: 32, depth: 2 });
  // The family default is MobileViT-XXS.
  assert.equal(createModel({ family: 'mobilevit' }).numParameters(), 1_272_024);
  // ml-cvnets caps the final conv at 960 channels.
  assert.deepEqual(createModel({ ...TINY, layer5: { out: 320, dim: 48 } }).stateDict()['final_conv.conv.weight']!.shape, [960, 320, 1, 1]);
});

test('config errors name the key: dims not divisible by heads, fractional MLP width, unknown keys, bad strides', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ layer4: { ...TINY.layer4, dim: 42 } }, /'layer4\.dim'.*42 does not split into 4 heads/],
    [{ heads: 3 }, /'layer3\.dim'.*32 does not split into 3 heads/],
    [{ mlp_ratio: 1.3 }, /'mlp_ratio'/],
    [{ mlp_ratio: 0 }, /'mlp_ratio'/],
    [{ exp_factor: 0 }, /'exp_factor'/],
    [{ layer2: { ...TINY.layer2, stride: 3 } }, /'layer2\.stride'/],
    [{ layer3: { ...TINY.layer3, width: 3 } }, /layer3\.width/],
    [{ depths: [1, 2] }, /unknown config key 'depths'/],
  ];
  for (const [over, re] of bad) assert.throws(() => tiny(over), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(over));
});

// ---- any input size --------------------------------------------------------------------------------


test('run(x, {features: true}) gives 5 stage maps at strides 2..32 for any size ≥ 32, the resize path included', async () => {
  const m = tiny();
  for (const [h, w] of [[64, 64], [100, 120], [33, 47]]) {
    const out = await m.run(randomInput([2, 3, h, w]), { features: true });
    assert.equal(out.features.length, 5);
    const strides = [2, 4, 8, 16, 32];
    out.features.forEach((f, i) => {
      let [fh, fw] = [h!, w!];
      for (let s = 1; s < strides[i]!; s *= 2) [fh, fw] = [Math.ceil(fh / 2), Math.ceil(fw / 2)];
      assert.deepEqual(f.shape, [2, [16, 16, 24, 32, 40][i]!, fh, fw], `${h}×${w} features.${i}`);
    });
    assert.deepEqual(out.logits.shape, [2, 10]);
    assert.ok((out.logits.data as Float32Array).every(Number.isFinite));
  }
});

test('the non-divisible path resizes (bilinear) around the transformer; the divisible path has no Resize', () => {
  const count = (h: number, w: number) => traceForward(tiny(), [1, 3, h, w]).nodes.filter((n) => n.op.type === 'Resize').length;
  assert.equal(count(64, 64), 0);
  // 100×120: stage 2 13×15 → 14×16 and back, stage 3 7×8 → 8×8 and back, stage 4 4×4 fits.
  assert.equal(count(100, 120), 4);
});

test('bad inputs → ShapeError naming the stage or shape, before any ONNX Runtime call', async () => {
  const m = engineWithoutRuntime().attach(tiny());
  await assert.rejects(m.run(randomInput([1, 3, 16, 40])), (e: unknown) => e instanceof ShapeError && /16×40 is smaller than the network's total stride 32: stage 4 \(layer5\)/.test(e.message));
  await assert.rejects(m.run(randomInput([1, 3, 40, 31])), (e: unknown) => e instanceof ShapeError && /total stride 32/.test(e.message));
  await assert.rejects(m.run(randomInput([1, 1, 64, 64])), (e: unknown) => e instanceof ShapeError && /\[N, 3, H, W\].*\[1,1,64,64\]/.test(e.message));
  await assert.rejects(m.lossAndGrads(randomInput([2, 3, 12, 12]), [0, 1]), (e: unknown) => e instanceof ShapeError && /stage 3 \(layer4\)/.test(e.message));
  // Strides are read from the config: a net with stride-1 layer5 takes 16×16.
  const shallow = engineWithoutRuntime().attach(tiny({ layer5: { ...TINY.layer5, stride: 1 } }));
  assert.throws(() => shallow.checkInputSize([3, 15, 16]), (e: unknown) => e instanceof ShapeError && /stage 3 \(layer4\)/.test(e.message));
  shallow.checkInputSize([3, 16, 16]);
});

// ---- weights ---------------------------------------------------------------------------------------

const keymaps = (): Record<string, { timm: string; cvnets: string; shape: number[] }[]> =>
  JSON.parse(readFileSync(join(sharedDir, 'golden', 'mobilevit', 'keymaps.json'), 'utf8')) as never;

test('state-dict keys and shapes equal timm\'s; every ml-cvnets name maps to its timm name (keymaps.json)', { skip }, () => {
  const maps = keymaps();
  for (const [variant, rows] of Object.entries(maps)) {
    const m = (variant === 'tiny' ? tiny() : createModel(variant)) as MobileViT;
    const sd = m.stateDict();
    assert.deepEqual(Object.keys(sd).sort(), rows.map((r) => r.timm).sort(), `${variant}: keys`);
    const depths = [m.config.layer3.depth, m.config.layer4.depth, m.config.layer5.depth];
    for (const r of rows) {
      assert.deepEqual(sd[r.timm]!.shape, r.shape, `${variant}: ${r.timm} shape`);
      assert.equal(cvnetsToTimm(r.cvnets, depths), r.timm, `${variant}: ${r.cvnets}`);
    }
  }
});

/** The tiny model's weights under ml-cvnets names (from keymaps.json). */
function cvnetsStateDict(src: Map<string, Tensor>): Map<string, Tensor> {
  return new Map(keymaps().tiny!.map((r) => [r.cvnets, src.get(r.timm)!] as const));
}

test('ml-cvnets checkpoints load strictly, also under a DataParallel `module.` prefix, to the same outputs', { skip }, async () => {
  const ref = tiny();
  const sd = randomStateDict(ref);
  await ref.loadWeights(sd);
  const x = randomInput([1, 3, 64, 64]);
  const want = (await ref.run(x)).logits.toArray();
  for (const wrap of ['', 'module.']) {
    const m = tiny();
    const cv = new Map([...cvnetsStateDict(sd)].map(([k, t]) => [wrap + k, t] as const));
    assert.deepEqual(await m.loadWeights(cv), { missing: [], unexpected: [] });
    assert.deepEqual((await m.run(x)).logits.toArray(), want);
  }
});

test('strict both ways: missing and unexpected keys are WeightsErrors for timm and ml-cvnets names', { skip }, async () => {
  const sd = randomStateDict(tiny());
  const timmMissing = new Map(sd);
  timmMissing.delete('stages.3.1.transformer.1.mlp.fc2.bias');
  await assert.rejects(tiny().loadWeights(timmMissing), (e: unknown) => e instanceof WeightsError && e.missing.includes('stages.3.1.transformer.1.mlp.fc2.bias'));
  const cvMissing = cvnetsStateDict(sd);
  cvMissing.delete('layer_4.1.global_rep.1.pre_norm_ffn.4.bias');
  await assert.rejects(tiny().loadWeights(cvMissing), (e: unknown) => e instanceof WeightsError && e.missing.includes('stages.3.1.transformer.1.mlp.fc2.bias'));
  const cvExtra = cvnetsStateDict(sd);
  cvExtra.set('layer_4.1.global_rep.5.pre_norm_mha.0.weight', Tensor.zeros([40]));
  await assert.rejects(tiny().loadWeights(cvExtra), (e: unknown) => e instanceof WeightsError && e.unexpected.includes('stages.3.1.transformer.5.norm1.weight'));
  const timmExtra = new Map(sd);
  timmExtra.set('stages.3.1.transformer.2.norm1.weight', Tensor.zeros([40]));
  await assert.rejects(tiny().loadWeights(timmExtra), (e: unknown) => e instanceof WeightsError && e.unexpected.length === 1);
  // BatchNorm's num_batches_tracked counters are optional (timm's exports and the golden files lack
  // them): without them the model's own counters are kept.
  const noCounters = new Map([...sd].filter(([k]) => !k.endsWith('num_batches_tracked')));
  const m = tiny();
  await m.loadWeights(noCounters);
  assert.deepEqual(m.stateDict()['stem.bn.num_batches_tracked']!.toArray(), [0]);
});

test("channelOrder 'BGR' reverses the stem's input channels: the model then takes RGB", async () => {
  const bgrNet = tiny();
  const sd = randomStateDict(bgrNet);
  await bgrNet.loadWeights(sd);
  const rgbNet = tiny() as MobileViT;
  await rgbNet.loadWeights(sd, { channelOrder: 'BGR' });
  assert.equal(sd.get('stem.conv.weight'), bgrNet.stateDict()['stem.conv.weight'], 'the caller\'s state dict is left alone');
  const w = sd.get('stem.conv.weight')!.data as Float32Array;
  const r = rgbNet.stateDict()['stem.conv.weight']!.data as Float32Array;
  // [16, 3, 3, 3]: input channel c of the loaded weight is channel 2 − c of the checkpoint's.
  for (let o = 0; o < 16; o++) for (let c = 0; c < 3; c++) for (let k = 0; k < 9; k++) assert.equal(r[(o * 3 + c) * 9 + k], w[(o * 3 + 2 - c) * 9 + k]);
  const rgb = randomInput([1, 3, 64, 64]);
  const plane = 64 * 64;
  const bgr = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) bgr.set((rgb.data as Float32Array).subarray((2 - c) * plane, (3 - c) * plane), c * plane);
  const a = (await rgbNet.run(rgb)).logits.toArray();
  const b = (await bgrNet.run(Tensor.from(bgr, [1, 3, 64, 64]))).logits.toArray();
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1e-4 * Math.max(1, Math.abs(b[i]!)), `logit ${i}: ${v} vs ${b[i]}`));
});

// ---- training ----------------------------------------------------------------------------------------

test('training init (spec §3): convs kaiming-normal fan-out, linears trunc-normal 0.02, zero biases, BN/LN 1 and 0', () => {
  const sd = createModel('mobilevit_xxs').stateDict();
  const std = (k: string) => {
    const v = sd[k]!.toArray();
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  };
  const near = (k: string, want: number) => assert.ok(Math.abs(std(k) / want - 1) < 0.1, `${k}: std ${std(k)} vs ${want}`);
  near('stages.3.1.conv_fusion.conv.weight', Math.sqrt(2 / (64 * 9))); // [64, 128, 3, 3]
  near('stages.1.1.conv2_kxk.conv.weight', Math.sqrt(2 / (48 * 9))); // depthwise [48, 1, 3, 3]: fan_out = 48·9
  near('stages.4.1.conv_1x1.weight', Math.sqrt(2 / 96)); // [96, 80, 1, 1]
  near('stages.3.1.transformer.0.attn.qkv.weight', 0.02);
  near('head.fc.weight', 0.02);
  for (const k of ['stages.3.1.transformer.0.attn.qkv.bias', 'head.fc.bias', 'stem.bn.bias', 'stages.2.1.norm.bias'])
    assert.ok(sd[k]!.toArray().every((v) => v === 0), k);
  for (const k of ['stem.bn.weight', 'stages.2.1.norm.weight']) assert.ok(sd[k]!.toArray().every((v) => v === 1), k);
});

test('dropout keys act in train mode only: eval outputs do not depend on them', async () => {
  const x = randomInput([2, 3, 64, 64]);
  const sd = randomStateDict(tiny());
  const plain = tiny();
  await plain.loadWeights(sd);
  const dropping = tiny({ drop_rate: 0.5, transformer_drop: 0.5, attn_drop: 0.5 });
  await dropping.loadWeights(sd);
  assert.deepEqual((await dropping.run(x)).logits.toArray(), (await plain.run(x)).logits.toArray());
  dropping.train().seed(3);
  const { loss } = await dropping.lossAndGrads(x, [1, 2]);
  plain.train();
  const { loss: plainLoss } = await plain.lossAndGrads(x, [1, 2]);
  assert.notEqual(loss, plainLoss);
});
