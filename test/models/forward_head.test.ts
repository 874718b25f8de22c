/**
 * timm's forward_features / forward_head split: the unpooled final map (numFeatures channels), and the
 * head on it, equal to run(x).logits; pre-logits equal to the pooled features of a headless model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ShapeError, Tensor, createFcmae, createModel, pretrainedConfig } from '../../src/index.js';
import type { ModelSpec, RawConfig, VisionModel } from '../../src/index.js';
import { TINY_G } from './glnet_configs.js';

const CASES: [string, ModelSpec, RawConfig, number][] = [
  ['convnextv2', { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 5, patch_size: 2 }, {}, 32],
  ['mobilevit', 'mobilevit_xxs', { num_classes: 5 }, 64],
  ['cmt', { family: 'cmt', embed_dims: [16, 32, 48, 64], stem_channel: 8, fc_dim: 128, mlp_ratios: [3.6, 3.6, 3.6, 3.6], depths: [1, 1, 1, 1], num_classes: 5, img_size: 64 }, {}, 64],
  ['glnet', TINY_G, { num_classes: 5 }, 64],
  ['glnet (token labelling)', { ...TINY_G, tklb: true }, { num_classes: 5 }, 64],
];

const input = (n: number, s: number) => new Tensor(Float32Array.from({ length: n * 3 * s * s }, (_, i) => Math.sin(i * 0.37)), [n, 3, s, s], 'float32');

function assertClose(a: Tensor, b: Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  const absmax = Math.max(...Array.from(b.data as Float32Array, Math.abs));
  const worst = Math.max(...Array.from(a.data as Float32Array, (v, i) => Math.abs(v - (b.data as Float32Array)[i]!)));
  assert.ok(worst <= 1e-5 * Math.max(1, absmax), `${what}: max difference ${worst} (absmax ${absmax})`);
}

for (const [label, spec, over, size] of CASES) {
  test(`${label}: forwardHead(forwardFeatures(x)) = run(x).logits; pre-logits = the pooled features`, async () => {
    const m: VisionModel = createModel(spec, over);
    const x = input(2, size);
    const final = await m.forwardFeatures(x);
    assert.equal(final.shape.length, 4, 'an unpooled NCHW map');
    assert.equal(final.shape[1], m.numFeatures, 'its channels are numFeatures');
    assertClose(await m.forwardHead(final), (await m.run(x)).logits, 'logits');
    const pre = await m.forwardHead(final, { preLogits: true });
    assert.deepEqual(pre.shape, [2, m.numFeatures]);
    m.resetClassifier(0); // the head's classifier becomes the identity: run returns the pooled features
    assertClose(pre, (await m.run(x)).logits, 'pre-logits');
  });
}

test('forwardHead checks its input; FCMAE (no head) has neither method', async () => {
  const m = createModel(CASES[0]![1], { num_classes: 5 });
  await assert.rejects(m.forwardHead(input(1, 32)), (e: unknown) => e instanceof ShapeError && /features must be the final map \[N, 64, H, W\]/.test(e.message));
  await assert.rejects(m.forwardHead(new Tensor(new Float32Array(64), [1, 64, 1, 1], 'float32'), { preLogits: 'yes' as unknown as boolean }), ConfigError);
  const f = createFcmae('convnextv2_atto');
  await assert.rejects(f.net.forwardFeatures(input(1, 224)), (e: unknown) => e instanceof ConfigError && /no final feature map/.test(e.message));
});

test("pretrainedConfig of an architecture name is its default tag's (timm's default_cfg)", () => {
  assert.equal(pretrainedConfig('convnext_tiny')?.tag, 'convnext_tiny.in12k_ft_in1k');
  assert.equal(pretrainedConfig('convnext_tiny.fb_in1k')?.tag, 'convnext_tiny.fb_in1k');
  assert.equal(pretrainedConfig('no_such_model'), undefined);
});
