/**
 * CMT without golden data: registry counts against the spec, config keywords and their errors, the
 * input size fixed by the relative position biases, weight loading (official names, mis-shaped biases,
 * the bicubic resize option checked against ONNX Runtime's Resize), training-mode extras (drop path,
 * dropout), qk_ratio, named outputs and the pretrained configs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, createModel, listModels, pretrainedConfig, Tensor, WeightsError, type VisionModel } from '../../src/index.js';
import { Graph, withGraph } from '../../src/graph/graph.js';
import { toModelProto } from '../../src/graph/emit.js';
import * as F from '../../src/graph/ops/index.js';
import { traceModel } from '../../src/models/trace.js';
import { resampleRelativePos } from '../../src/nn/relative_position.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Rng } from '../../src/util/rng.js';

/** The spec's tiny golden config (§11): 134,540 params at 64×64. */
const TINY = {
  family: 'cmt',
  embed_dims: [16, 32, 48, 64],
  stem_channel: 8,
  fc_dim: 128,
  mlp_ratios: [3.6, 3.6, 3.6, 3.6],
  depths: [1, 1, 1, 1],
  num_classes: 10,
  dp: 0,
  img_size: 64,
};

function randomInput(shape: number[], seed = 1): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: n }, () => rng.normal()), shape, 'float32');
}

const shapes = (m: VisionModel) => Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, t.shape]));

// ---- registry and counts ----------------------------------------------------------------------------

// spec §8: params (code, 1000 classes) and MACs; §1: resolutions.
const SPEC: [string, number, number, number][] = [
  ['cmt_ti', 9_492_426, 0.639, 160],
  ['cmt_xs', 15_247_208, 1.547, 192],
  ['cmt_s', 26_256_160, 4.032, 224],
  ['cmt_b', 45_715_076, 9.317, 256],
];

test('the four CMT variants: params equal the spec, GMACs to 3 decimals, each at its own resolution', () => {
  assert.deepEqual(listModels('cmt*').map((m) => m.name).sort(), SPEC.map(([n]) => n).sort());
  for (const [name, params, gmacs, res] of SPEC) {
    const [info] = listModels(name);
    assert.equal(info!.params, params, name);
    assert.equal(info!.gmacs.toFixed(3), gmacs.toFixed(3), name);
    assert.deepEqual(info!.inputSize, [3, res, res], name);
    assert.deepEqual(createModel(name).defaultInputSize, [3, res, res]);
  }
  // The model table carries the code-vs-paper gap for CMT-S only.
  assert.match(listModels('cmt_s')[0]!.note!, /26\.26M.*25\.1M/);
  assert.equal(listModels('cmt_ti')[0]!.note, undefined);
});

test('tiny config: 134,540 params at 64×64 and 142,340 at 96×96 (only the bias shapes change)', () => {
  assert.equal(createModel(TINY).numParameters(), 134_540);
  assert.equal(createModel({ ...TINY, img_size: 96 }).numParameters(), 142_340);
  const s = shapes(createModel({ ...TINY, img_size: 96 }));
  assert.deepEqual([s.relative_pos_a, s.relative_pos_b, s.relative_pos_c, s.relative_pos_d], [[1, 576, 9], [2, 144, 9], [4, 36, 9], [8, 9, 9]]);
});

test('official key names and shapes (spec §7): three different proj, sr only where k > 1, truncated hidden widths', () => {
  const s = shapes(createModel('cmt_ti'));
  assert.deepEqual(Object.keys(s).slice(0, 5), ['relative_pos_a', 'relative_pos_b', 'relative_pos_c', 'relative_pos_d', 'stem_conv1.weight']);
  assert.deepEqual([s.relative_pos_a, s.relative_pos_b, s.relative_pos_c, s.relative_pos_d], [[1, 1600, 25], [2, 400, 25], [4, 100, 25], [8, 25, 25]]);
  assert.deepEqual(s['blocks_a.0.proj.weight'], [46, 1, 3, 3]); // LPU
  assert.deepEqual(s['blocks_a.0.attn.proj.weight'], [46, 46]); // attention output
  assert.deepEqual(s['blocks_a.0.mlp.proj.weight'], [165, 1, 3, 3]); // IRFFN depthwise: int(46·3.6) = 165
  assert.deepEqual(s['blocks_a.0.attn.sr.0.weight'], [46, 1, 8, 8]);
  assert.deepEqual(s['blocks_c.9.attn.sr.1.running_var'], [184]);
  assert.equal(s['blocks_d.0.attn.sr.0.weight'], undefined);
  assert.deepEqual(s['blocks_a.0.mlp.conv1.2.weight'], [165]); // conv1.1 is the GELU
  assert.deepEqual(s['blocks_d.1.mlp.conv2.0.weight'], [368, 1324, 1, 1]);
  assert.deepEqual(s['patch_embed_b.proj.weight'], [92, 46, 2, 2]);
  assert.deepEqual([s['_fc.weight'], s['_bn.running_mean'], s['head.weight']], [[1280, 368, 1, 1], [1280], [1000, 1280]]);
  // Hidden widths truncate: XS int(52·3.77) = 196, int(416·3.77) = 1568.
  const xs = shapes(createModel('cmt_xs'));
  assert.deepEqual([xs['blocks_a.0.mlp.proj.bias'], xs['blocks_d.0.mlp.proj.bias']], [[196], [1568]]);
});

test('init (spec §6): kaiming-normal fan_out convs with zero bias, N(0,1) relative position biases', () => {
  const sd = createModel('cmt_s').stateDict();
  const std = (t: Tensor) => {
    const a = t.toArray();
    const m = a.reduce((x, y) => x + y, 0) / a.length;
    return Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / a.length);
  };
  // Depthwise 3×3 over 1024 channels: fan_out = 1024·9 (groups not divided out).
  assert.ok(Math.abs(std(sd['blocks_c.0.mlp.proj.weight']!) / Math.sqrt(2 / (1024 * 9)) - 1) < 0.05);
  assert.ok(sd['blocks_c.0.mlp.proj.bias']!.toArray().every((v) => v === 0));
  assert.ok(Math.abs(std(sd['blocks_c.0.attn.q.weight']!) / 0.02 - 1) < 0.05);
  assert.ok(Math.abs(std(sd.relative_pos_a!) - 1) < 0.02);
});

// ---- configs ----------------------------------------------------------------------------------------------

test("createModel('cmt_ti', {img_size: 160, num_classes: 1000}) and every official keyword, snake or camel case", () => {
  const a = createModel('cmt_ti', { img_size: 160, num_classes: 1000 });
  assert.equal(a.numParameters(), 9_492_426);
  const full = {
    family: 'cmt',
    embed_dims: [46, 92, 184, 368],
    stem_channel: 16,
    fc_dim: 1280,
    num_heads: [1, 2, 4, 8],
    mlp_ratios: [3.6, 3.6, 3.6, 3.6],
    depths: [2, 2, 10, 2],
    sr_ratios: [8, 4, 2, 1],
    qkv_bias: true,
    qk_ratio: 1,
    num_classes: 1000,
    drop_rate: 0,
    attn_drop_rate: 0,
    drop_path_rate: 0.1,
    dp: 0.1,
    img_size: 160,
  };
  assert.deepEqual(shapes(createModel(full)), shapes(a));
  const camel = createModel({ family: 'cmt', embedDims: [16, 32, 48, 64], stemChannel: 8, fcDim: 128, imgSize: 64, mlpRatios: [3.6, 3.6, 3.6, 3.6], depths: [1, 1, 1, 1], numClasses: 10 });
  assert.equal(camel.numParameters(), 134_540);
  // qkv_bias false: no q/k/v biases.
  const noBias = shapes(createModel({ ...TINY, qkv_bias: false }));
  assert.equal(noBias['blocks_a.0.attn.q.bias'], undefined);
  assert.deepEqual(noBias['blocks_a.0.attn.proj.bias'], [16]);
});

test('bad configs are ConfigErrors naming the key', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ img_size: 100 }, /'img_size'.*multiple of 32/],
    [{ num_heads: [1, 3, 4, 8] }, /'num_heads'.*stage 1: 32 channels do not split into 3 heads/],
    [{ sr_ratios: [3, 4, 2, 1] }, /'sr_ratios'.*stage 0: its 16×16 grid is not divisible by k = 3/],
    [{ qk_ratio: 3 }, /'qk_ratio'.*stage 3: q\/k width 64 \/\/ 3 = 21 does not split into 8 heads/],
    [{ depths: [1, 1, 1] }, /'depths'.*list of 4/],
    [{ mlp_ratio: 4 }, /unknown config key 'mlp_ratio'/],
  ];
  for (const [over, re] of bad) assert.throws(() => createModel({ ...TINY, ...over }), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(over));
});

// ---- the input size ---------------------------------------------------------------------------------------

test('another input size is a ConfigError naming the size the model was built for and the resize option', async () => {
  const m = createModel(TINY);
  await assert.rejects(m.run(randomInput([1, 3, 96, 96])), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /built for 64×64 inputs \(img_size 64/);
    assert.match(e.message, /got 96×96/);
    assert.match(e.message, /img_size: 96/);
    assert.match(e.message, /resize_pos_bias: true.*not the reference behaviour/);
    return true;
  });
  await assert.rejects(m.run(randomInput([1, 3, 64, 96])), /got 64×96/);
});

test('named outputs: 4 NCHW stage maps, the stem and the pooled head features; grey input with in_chans 1', async () => {
  const m = createModel({ ...TINY, in_chans: 1 });
  const out = await m.run(randomInput([2, 1, 64, 64]), { features: true, stem: true, pooled: true });
  assert.deepEqual(out.features.map((f) => f.shape), [[2, 16, 16, 16], [2, 32, 8, 8], [2, 48, 4, 4], [2, 64, 2, 2]]);
  assert.deepEqual((out.stem as Tensor).shape, [2, 8, 32, 32]);
  assert.deepEqual((out.pooled as Tensor).shape, [2, 128]);
  assert.deepEqual(out.logits.shape, [2, 10]);
  assert.ok(out.logits.toArray().every(Number.isFinite));
  // num_classes 0: the logits are the pooled features.
  const bare = createModel({ ...TINY, num_classes: 0 });
  bare.loadStateDict(Object.fromEntries(Object.entries(createModel(TINY).stateDict()).filter(([k]) => !k.startsWith('head.'))));
  const r = await bare.run(randomInput([1, 3, 64, 64]), { pooled: true });
  assert.deepEqual(r.logits.toArray(), (r.pooled as Tensor).toArray());
});

// ---- weights --------------------------------------------------------------------------------------------------

test('a relative position bias of another size in a weights file is a WeightsError naming the stage and both shapes', async () => {
  const sd = createModel(TINY).stateDict(); // biases for 64×64
  const m = createModel({ ...TINY, img_size: 96 });
  const err = await m.loadWeights(sd).catch((e: unknown) => e);
  assert.ok(err instanceof WeightsError);
  assert.match(err.message, /relative_pos_a \(the relative position bias of stage a, stage index 0\) is \[1,256,4\] in the weights but this model \(img_size 96\) needs \[1,576,9\]/);
  assert.match(err.message, /built for 64×64 inputs.*img_size: 64.*resize_pos_bias: true.*not the reference behaviour/);
  assert.deepEqual(err.misShaped, [{ key: 'relative_pos_a', expected: [1, 576, 9], got: [1, 256, 4] }]);
  // Another head count cannot be resampled, even with the option.
  const heads = { ...sd, relative_pos_d: Tensor.zeros([4, 4, 4]) };
  const e2 = await createModel({ ...TINY, resize_pos_bias: true }).loadWeights(heads).catch((e: unknown) => e);
  assert.ok(e2 instanceof WeightsError);
  assert.match(e2.message, /relative_pos_d \(the relative position bias of stage d.*\[4,4,4\].*needs \[8,4,4\].*cannot be resampled/);
});

/** ONNX Runtime's Resize (cubic, half-pixel) over the query grid, then over the key grid. */
async function ortResample(t: Tensor, want: [number, number, number]): Promise<Tensor> {
  const [h, nq, nk] = t.shape as [number, number, number];
  const [gq, gk, wq, wk] = [nq, nk, want[1], want[2]].map((n) => Math.round(Math.sqrt(n))) as [number, number, number, number];
  const g = new Graph('resample');
  withGraph(g, () => {
    const x = g.input('x', t.shape);
    let y = F.transpose(F.reshape(x, [h, gq, gq, nk]), [0, 3, 1, 2]); // [h, Nk, Gq, Gq]
    y = F.resize(y, [wq, wq], 'cubic', 'half_pixel');
    y = F.reshape(F.transpose(y, [0, 2, 3, 1]), [h, wq * wq, gk, gk]);
    y = F.resize(y, [wk, wk], 'cubic', 'half_pixel');
    g.markOutput(F.reshape(y, want), 'y');
  });
  const s = await createNodeSession(toModelProto(g));
  const out = (await s.run({ x: t })).y!;
  await s.release();
  return out;
}

test('resize_pos_bias: loaded biases are resampled bicubically, as ONNX Runtime’s Resize does, and the model runs at the new size', async () => {
  const src = createModel(TINY).stateDict();
  const m = createModel({ ...TINY, img_size: 96, resize_pos_bias: true });
  await m.loadWeights(src);
  const sd = m.stateDict();
  for (const s of ['a', 'b', 'c', 'd']) {
    const want = sd[`relative_pos_${s}`]!.shape as [number, number, number];
    const ref = await ortResample(src[`relative_pos_${s}`]!, want);
    const ours = sd[`relative_pos_${s}`]!.toArray();
    const err = ref.toArray().reduce((mx, v, i) => Math.max(mx, Math.abs(v - ours[i]!)), 0);
    assert.ok(err < 1e-5, `relative_pos_${s}: max|err| ${err} vs ONNX Runtime's Resize`);
  }
  // Everything else loaded unchanged.
  assert.deepEqual(sd['blocks_b.0.attn.q.weight']!.toArray(), src['blocks_b.0.attn.q.weight']!.toArray());
  const out = await m.run(randomInput([1, 3, 96, 96]));
  assert.ok(out.logits.toArray().every(Number.isFinite));
  // Same size: a no-op, bit for bit.
  const same = resampleRelativePos(src.relative_pos_b!, [2, 64, 4]);
  assert.deepEqual(same.toArray(), src.relative_pos_b!.toArray());
});

// ---- training extras ---------------------------------------------------------------------------------------------

test('train mode with drop path and dropouts: each call of the shared drop_path / drop draws its own mask', async () => {
  const cfg = { ...TINY, drop_path_rate: 0.3, drop_rate: 0.1, attn_drop_rate: 0.1, dp: 0.2 };
  const m = createModel(cfg).train();
  const { graph } = traceModel(m, [2, 3, 64, 64], { paramsAsInputs: true });
  const names = graph.randomInputs.map((r) => r.value.name!);
  assert.equal(new Set(names).size, names.length, 'unique graph input names');
  // The last block (rate 0.3) applies drop path to both branches; its IRFFN drops twice.
  assert.ok(names.includes('droppath.blocks_d.0.drop_path') && names.includes('droppath.blocks_d.0.drop_path.2'), names.join(' '));
  assert.ok(names.includes('dropout.blocks_d.0.mlp.drop') && names.includes('dropout.blocks_d.0.mlp.drop.2'), names.join(' '));
  assert.ok(!names.some((n) => n.startsWith('droppath.blocks_a.0')), 'the first block has rate 0');

  const x = randomInput([2, 3, 64, 64]);
  const labels = Int32Array.of(1, 7);
  const l1 = (await m.seed(1).lossAndGrads(x, labels)).loss;
  const l2 = (await m.seed(2).lossAndGrads(x, labels)).loss;
  const l1again = (await m.seed(1).lossAndGrads(x, labels)).loss;
  assert.ok(Number.isFinite(l1) && l1 !== l2, `different masks give different losses (${l1}, ${l2})`);
  // BN running stats changed between the calls, so only closeness: same masks → nearly the same loss.
  assert.ok(Math.abs(l1 - l1again) < Math.abs(l1 - l2), `${l1} ${l1again} ${l2}`);

  // In eval every drop is the identity: the same weights without drops give the same logits.
  const plain = createModel(TINY);
  plain.loadStateDict(m.stateDict());
  m.eval();
  const x1 = randomInput([1, 3, 64, 64], 3);
  assert.deepEqual((await m.run(x1)).logits.toArray(), (await plain.run(x1)).logits.toArray());
});

test('qk_ratio 2: q and k are half as wide, the scale stays (dim/heads)^-0.5, and it trains', async () => {
  const m = createModel({ ...TINY, qk_ratio: 2 });
  const s = shapes(m);
  assert.deepEqual([s['blocks_b.0.attn.q.weight'], s['blocks_b.0.attn.k.weight'], s['blocks_b.0.attn.v.weight']], [[16, 32], [16, 32], [32, 32]]);
  m.train();
  const { loss, grads } = await m.lossAndGrads(randomInput([2, 3, 64, 64]), Int32Array.of(0, 3));
  assert.ok(Number.isFinite(loss));
  assert.deepEqual(grads['blocks_b.0.attn.k.weight']!.shape, [16, 32]);
  assert.ok(grads['relative_pos_c']!.toArray().some((v) => v !== 0));
});

// ---- pretrained configs ---------------------------------------------------------------------------------------

test('pretrained configs: one ImageNet-1k tag per variant at its resolution, crop 0.875 (int(256/224·res)), bicubic, ImageNet mean/std', () => {
  for (const [name, , , res] of SPEC) {
    const p = pretrainedConfig(`${name}.in1k`);
    assert.ok(p, `${name}.in1k`);
    assert.deepEqual(p.inputSize, [3, res, res]);
    // The official eval resizes the shorter side to int(256/224·res): that is floor(res / cropPct).
    assert.equal(Math.floor(res / p.cropPct), Math.trunc((256 / 224) * res));
    assert.equal(p.interpolation, 'bicubic');
    assert.deepEqual([p.mean, p.std], [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]);
    assert.equal(p.numClasses, 1000);
    assert.equal(p.hubId, undefined, 'no hub id: the weights are GitHub release assets');
    assert.equal(p.license, 'apache-2.0');
    assert.equal(createModel(name).pretrainedConfig?.tag, `${name}.in1k`);
  }
  assert.deepEqual(listModels('cmt*', { pretrained: true }).map((t) => t.name).sort(), SPEC.map(([n]) => `${n}.in1k`).sort());
});
