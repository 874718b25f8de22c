/**
 * Layer-wise lr decay: the exact layer ids of ../shared/spec/convnext.md §5.5 for convnextv2_atto
 * ("single", 0.9) and convnextv2_base ("group", 0.6), the timm-style groupings of the other
 * families, the scales reaching TrainStep's buckets, and the weight-decay exemptions per family.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/index.js';
import { ConfigError } from '../../src/errors.js';
import { layerDecayScales, layerIds, noWeightDecayKeys } from '../../src/train/layer_decay.js';
import { buildTrainGraph } from '../../src/train/step.js';
import { adamw } from '../../src/train/optim.js';
import { crossEntropy } from '../../src/train/losses.js';

/** The spec's rule written out per key prefix for depths [2, 2, 6, 2] (Σ = 12). */
test('convnextv2_atto "single": stem and each downsample share the id of the first block they feed; head 13', () => {
  const m = createModel('convnextv2_atto');
  const { ids, maxId } = layerIds(m, 'single');
  assert.equal(maxId, 13);
  const want: [RegExp, number][] = [
    [/^stem\./, 1],
    [/^stages\.0\.blocks\.0\./, 1],
    [/^stages\.0\.blocks\.1\./, 2],
    [/^stages\.1\.downsample\./, 3],
    [/^stages\.1\.blocks\.0\./, 3],
    [/^stages\.1\.blocks\.1\./, 4],
    [/^stages\.2\.downsample\./, 5],
    [/^stages\.2\.blocks\.0\./, 5],
    [/^stages\.2\.blocks\.1\./, 6],
    [/^stages\.2\.blocks\.2\./, 7],
    [/^stages\.2\.blocks\.3\./, 8],
    [/^stages\.2\.blocks\.4\./, 9],
    [/^stages\.2\.blocks\.5\./, 10],
    [/^stages\.3\.downsample\./, 11],
    [/^stages\.3\.blocks\.0\./, 11],
    [/^stages\.3\.blocks\.1\./, 12],
    [/^head\./, 13],
  ];
  for (const [key, id] of ids) {
    const rule = want.find(([re]) => re.test(key));
    assert.ok(rule, `no rule for ${key}`);
    assert.equal(id, rule[1], key);
  }
  assert.ok(!ids.has('stages.0.downsample.0.weight'), 'stage 0 has no downsample in timm names');
  const scales = layerDecayScales(m, 0.9, 'single');
  assert.equal(scales.get('head.fc.weight'), 1);
  assert.equal(scales.get('head.norm.weight'), 1);
  assert.equal(scales.get('stem.0.weight'), 0.9 ** 12);
  assert.equal(scales.get('stages.2.blocks.3.mlp.fc1.weight'), 0.9 ** 5);
  assert.equal(scales.get('stages.3.downsample.1.weight'), 0.9 ** 2);
});

test('convnextv2_base "group": the 12-layer grouping of the official Base/Large fine-tuning', () => {
  const m = createModel('convnextv2_base');
  const { ids, maxId } = layerIds(m, 'group');
  assert.equal(maxId, 13);
  const expected = (key: string): number => {
    if (key.startsWith('stem.')) return 0;
    if (key.startsWith('stages.0.blocks.')) return 1;
    if (key.startsWith('stages.1.downsample.')) return 2;
    if (key.startsWith('stages.1.blocks.')) return 2;
    if (key.startsWith('stages.2.downsample.')) return 3;
    const b = /^stages\.2\.blocks\.(\d+)\./.exec(key);
    if (b) return 3 + Math.floor(Number(b[1]) / 3);
    if (key.startsWith('stages.3.')) return 12;
    if (key.startsWith('head.')) return 13;
    throw new Error(`unexpected key ${key}`);
  };
  const seen = new Set<number>();
  for (const [key, id] of ids) {
    assert.equal(id, expected(key), key);
    seen.add(id);
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  assert.equal(ids.get('stages.2.blocks.26.conv_dw.weight'), 11);
  const scales = layerDecayScales(m, 0.6, 'group');
  assert.equal(scales.get('stem.0.weight'), 0.6 ** 13);
  assert.equal(scales.get('stages.2.blocks.0.norm.weight'), 0.6 ** 10);
  assert.equal(scales.get('stages.3.blocks.2.mlp.fc2.weight'), 0.6);
  assert.equal(scales.get('head.fc.bias'), 1);
  // "group" needs Base/Large's shape.
  assert.throws(() => layerIds(createModel({ family: 'convnextv2', depths: [1, 1, 30, 1], dims: [8, 16, 32, 64] }), 'group'), /use 'single'/);
});

test('ConvNeXt V1 uses the same ids (official layer-decay code is shared)', () => {
  const { ids } = layerIds(createModel('convnext_tiny'), 'single');
  assert.equal(ids.get('stages.0.blocks.0.gamma'), 1);
  assert.equal(ids.get('stages.3.blocks.2.gamma'), 18);
  assert.equal(ids.get('head.norm.bias'), 19);
});

test('MobileViT: timm ByobNet matcher — stem 0, one id per block, final_conv, then the head', () => {
  const m = createModel('mobilevit_xxs');
  const fine = layerIds(m, 'single');
  // stages: 1 + 3 + 2 + 2 + 2 blocks → ids 1..10, final_conv 11, head 12.
  assert.equal(fine.ids.get('stem.conv.weight'), 0);
  assert.equal(fine.ids.get('stages.0.0.conv1_1x1.conv.weight'), 1);
  assert.equal(fine.ids.get('stages.1.2.conv3_1x1.bn.bias'), 4);
  assert.equal(fine.ids.get('stages.4.1.conv_fusion.conv.weight'), 10);
  assert.equal(fine.ids.get('final_conv.conv.weight'), 11);
  assert.equal(fine.ids.get('head.fc.weight'), 12);
  assert.equal(fine.maxId, 12);
  const coarse = layerIds(m, 'group');
  assert.equal(coarse.ids.get('stages.1.2.conv3_1x1.bn.bias'), 2);
  assert.equal(coarse.ids.get('head.fc.bias'), coarse.maxId);
  assert.equal(coarse.maxId, 7);
});

test('CMT: stem, then per stage the patch embedding and shared relative-position bias with block 0, _fc/_bn, head', () => {
  const m = createModel('cmt_ti');
  const { ids, maxId } = layerIds(m, 'single');
  // depths 2, 2, 10, 2 → blocks get ids 1..16; _fc/_bn 17; head 18.
  assert.equal(ids.get('stem_conv1.weight'), 0);
  assert.equal(ids.get('stem_norm3.bias'), 0);
  assert.equal(ids.get('patch_embed_a.proj.weight'), 1);
  assert.equal(ids.get('relative_pos_a'), 1);
  assert.equal(ids.get('blocks_a.0.attn.q.weight') ?? ids.get([...ids.keys()].find((k) => k.startsWith('blocks_a.0.'))!), 1);
  assert.equal(ids.get([...ids.keys()].find((k) => k.startsWith('blocks_a.1.'))!), 2);
  assert.equal(ids.get('patch_embed_b.norm.weight'), 3);
  assert.equal(ids.get('relative_pos_c'), 5);
  assert.equal(ids.get([...ids.keys()].find((k) => k.startsWith('blocks_d.1.'))!), 16);
  assert.equal(ids.get('_fc.weight'), 17);
  assert.equal(ids.get('_bn.bias'), 17);
  assert.equal(ids.get('head.weight'), 18);
  assert.equal(maxId, 18);
  assert.equal(layerIds(m, 'group').ids.get('relative_pos_d'), 4);
});

test('GLNet: stem 0, downsample with its stage\'s first block, final norm with the head', () => {
  const m = createModel('glnet_stl');
  const { ids, maxId } = layerIds(m, 'single');
  assert.equal(ids.get('downsample_layers.0.0.weight'), 0);
  assert.equal(ids.get([...ids.keys()].find((k) => k.startsWith('stages.0.blocks.0.'))!), 1);
  assert.equal(ids.get('downsample_layers.1.0.weight'), ids.get([...ids.keys()].find((k) => k.startsWith('stages.1.blocks.0.'))!));
  assert.equal(ids.get('norm.weight'), maxId);
  assert.equal(ids.get('head.weight'), maxId);
});

test('bad layer-decay options are ConfigErrors naming the option', () => {
  const m = createModel('convnextv2_atto');
  assert.throws(() => layerDecayScales(m, 0), (e: Error) => e instanceof ConfigError && /`layerDecay`/.test(e.message));
  assert.throws(() => layerDecayScales(m, 1.5), /`layerDecay`/);
  assert.throws(() => layerIds(m, 'blocks' as 'single'), /'single' or 'group'/);
});

test('the scales reach TrainStep: one optimizer bucket per (weight decay, lr scale)', () => {
  const m = createModel({ family: 'convnextv2', depths: [1, 1, 2, 1], dims: [8, 16, 32, 64], num_classes: 4 });
  m.train();
  const lrScales = layerDecayScales(m, 0.8);
  const { buckets } = buildTrainGraph(m, crossEntropy(), { optimizer: adamw({ weightDecay: 0.05 }), batchShape: [2, 3, 32, 32], lrScales });
  const exempt = noWeightDecayKeys(m);
  for (const b of buckets)
    for (const key of b.keys) {
      assert.equal(b.lrScale, lrScales.get(key), key);
      assert.equal(b.weightDecay, exempt.has(key) ? 0 : 0.05, key);
    }
  // 6 layer ids (1..6) × decayed or not: every bucket is one distinct pair.
  assert.equal(new Set(buckets.map((b) => `${b.weightDecay}|${b.lrScale}`)).size, buckets.length);
  assert.equal(new Set(buckets.map((b) => b.lrScale)).size, 6);
});

test("weight-decay exemptions follow each family's reference rule", () => {
  for (const name of ['convnext_atto', 'convnextv2_atto', 'mobilevit_xxs', 'cmt_ti', 'glnet_stl', 'glnet_16g']) {
    const m = createModel(name);
    const exempt = noWeightDecayKeys(m);
    for (const [key, p] of m.namedParameters()) {
      if (key.endsWith('.bias')) assert.ok(exempt.has(key), `${name}: bias ${key} is exempt`);
      if (p.shape.length === 1) assert.ok(exempt.has(key), `${name}: 1-D ${key} is exempt`);
      if (p.shape.length >= 2 && !key.endsWith('.gamma')) assert.ok(!exempt.has(key), `${name}: ${key} [${p.shape}] is decayed`);
    }
    if (name.startsWith('cmt')) assert.ok(!exempt.has('relative_pos_a'), 'CMT decays relative_pos');
    if (name.startsWith('glnet')) {
      const slot = [...m.namedParameters()].find(([k]) => k.endsWith('slot_scale'));
      if (slot) assert.ok(!exempt.has(slot[0]), 'GLNet decays the 0-d slot_scale');
      for (const [k, p] of m.namedParameters()) if (k.endsWith('.gamma')) assert.ok(exempt.has(k), `GLNet exempts ${k} [${p.shape}]`);
    }
  }
});
