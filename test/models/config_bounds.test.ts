/**
 * Huge config values (issue 20, point 8): every count and size of a family's schema is bounded, and a
 * model whose parameters could not be held is refused from its shapes before any tensor is allocated —
 * ConfigErrors naming the key, the value and the bound or the estimate, never a V8 abort, a
 * `RangeError: Invalid typed array length` or minutes of building a million blocks. Each case here
 * must fail at once: none of them may build (let alone allocate) the huge model first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, createFcmae, createModel, describeSchema, Engine, familySchema, Tensor } from '../../src/index.js';
import { createModel as buildModel } from '../../src/models/registry.js';
import { LIMITS } from '../../src/models/config.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { engineWithoutRuntime } from '../fixtures/no_runtime_engine.js';

function configError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const MVIT_L5 = { out: 80, exp: 2, stride: 2, dim: 96, depth: 3 };

test("the issue's huge values are ConfigErrors naming the key, the value and the bound", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ family: 'convnext', depths: [1_000_000, 1, 1, 1] }, /config 'depths\[0\]' of family 'convnext' must be int in \[1, 256\], got 1000000/],
    [{ family: 'convnextv2', depths: [1_000_000, 1, 1, 1] }, /'depths\[0\]' of family 'convnextv2' must be int in \[1, 256\], got 1000000/],
    [{ family: 'mobilevit', layer5: { ...MVIT_L5, depth: 1_000_000 } }, /config 'layer5\.depth' of family 'mobilevit' must be int in \[1, 256\], got 1000000/],
    [{ family: 'cmt', depths: [100_000, 1, 1, 1] }, /config 'depths\[0\]' of family 'cmt' must be int in \[1, 256\], got 100000/],
    [{ family: 'glnet', depth: [100_000, 1, 1, 1] }, /config 'depth\[0\]' of family 'glnet' must be int in \[1, 256\], got 100000/],
    [{ family: 'convnext', num_classes: 1e9 }, /config 'num_classes' of family 'convnext' must be int in \[0, 1000000\], got 1000000000/],
    [{ family: 'glnet', numClasses: 1e9 }, /config 'num_classes' of family 'glnet' must be int in \[0, 1000000\], got 1000000000/],
    [{ family: 'convnext', dims: [1_000_000, 16, 32, 64] }, /config 'dims\[0\]' of family 'convnext' must be int in \[1, 16384\], got 1000000/],
    [{ family: 'cmt', embed_dims: [46, 1_000_000, 184, 368] }, /'embed_dims\[1\]' of family 'cmt' must be int in \[1, 16384\], got 1000000/],
    [{ family: 'cmt', img_size: 1_000_000 }, /config 'img_size' of family 'cmt' must be int in \[32, 1024\], got 1000000/],
    [{ family: 'mobilevit', stem: 1_000_000 }, /config 'stem' of family 'mobilevit' must be int in \[1, 16384\], got 1000000/],
    [{ family: 'cmt', stem_channel: 1_000_000 }, /config 'stem_channel' of family 'cmt' must be int in \[1, 16384\], got 1000000/],
    [{ family: 'glnet', num_slots: 1_000_000 }, /config 'num_slots' of family 'glnet' must be int in \[1, 4096\], got 1000000/],
    [{ family: 'glnet', local_dw_ks: 1001 }, /config 'local_dw_ks' of family 'glnet' must be int in \[0, 31\], got 1001/],
    [{ family: 'mobilevit', heads: 1_000_000 }, /config 'heads' of family 'mobilevit' must be int in \[1, 1024\], got 1000000/],
    [{ family: 'convnext', in_chans: 1_000_000 }, /config 'in_chans' of family 'convnext' must be int in \[1, 1024\], got 1000000/],
    // A stage list as long as a depth: the number of stages is bounded too.
    [{ family: 'convnext', depths: Array(1_000_000).fill(1), dims: Array(1_000_000).fill(8) }, /config 'depths' of family 'convnext' must be list of 1…8 \(int in \[1, 256\]\), got \[1,1,1/],
  ];
  for (const [spec, re] of cases) configError(() => createModel(spec as never), re);
  // Overrides of a registry variant are bounded alike.
  configError(() => createModel('mobilevit_xxs', { layer5: { ...MVIT_L5, depth: 1e6 } }), /'layer5\.depth'.*\[1, 256\], got 1000000/);
});

test('the bounds are documented in --config-help listings and leave the largest registered variants buildable', () => {
  const rows = describeSchema(familySchema('convnext'));
  assert.equal(rows.find((r) => r.key === 'depths')?.type, 'list of 1…8 (int in [1, 256])');
  assert.equal(rows.find((r) => r.key === 'num_classes')?.type, 'int in [0, 1000000]');
  for (const name of ['convnext_xlarge', 'convnextv2_huge', 'glnet_16g', 'cmt_b', 'mobilevit_s']) assert.doesNotThrow(() => buildModel(name), name);
  // The largest published variants are well inside: ConvNeXt-XXLarge's widest stage and deepest stage.
  assert.ok(LIMITS.channels >= 4 * 3072 && LIMITS.blocksPerStage >= 8 * 30 && LIMITS.slots >= 64 * 64);
  assert.doesNotThrow(() => buildModel({ family: 'convnext', depths: [3, 4, 30, 3], dims: [384, 768, 1536, 3072] }));
});

test('sizes within the bounds whose parameters could not be held: the estimate and the key most responsible', () => {
  // 8 · 16384² weights in one block: ~2.15G parameters, more than 2^31 elements.
  configError(
    () => createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [16384, 16, 32, 64] }),
    /this convnext config has ~2\.15G parameters \(8\.6\d GB as float32\)/,
    /most of them come from 'dims\[0\]' = 16384 \(with dims\[0\] = 96: ~/,
  );
  // A variant with a user override: the override is to blame, not the variant's own keys.
  configError(() => createModel('convnext_xlarge', { num_classes: 1_000_000 }), /~2\.40G parameters/, /from 'num_classes' = 1000000 \(with num_classes = 1000: ~350M\)/);
  // Inside a nested table (MobileViT's layer5).
  configError(() => createModel({ family: 'mobilevit', layer5: { ...MVIT_L5, out: 16384, exp: 64 } }), /from 'layer5\.out' = 16384/);
  // A fifth stage longer than the default's four compares with the default's last stage.
  configError(() => createModel({ family: 'convnext', depths: [1, 1, 1, 1, 1], dims: [16, 32, 64, 128, 16384] }), /from 'dims\[4\]' = 16384 \(with dims\[4\] = 768/);
});


test("an engine refuses a model whose weights its machine's memory cannot hold twice", () => {
  // convnext_tiny: 28.6M parameters, 229 MB held twice; a 200 MB machine allows 22.5M elements.
  const engine = engineWithoutRuntime(200e6);
  configError(() => engine.createModel('convnext_tiny'), /this convnext config has ~28\.6M parameters/, /this machine's 200 MB of memory/);
  configError(() => engine.createModel('convnext_atto', { dims: [40, 80, 160, 1280] }), /from 'dims\[3\]' = 1280 \(with dims\[3\] = 320/);
  assert.equal(engine.createModel('convnext_atto').numClasses, 1000);
});

test('run and lossAndGrads refuse a batch whose activations would not fit, before ONNX Runtime allocates anything', async () => {
  // 4 · (6.3M input values + 9.4M activations alive at once) = 63 MB > 90% of 50 MB.
  const engine = engineWithoutRuntime(50e6);
  const m = engine.createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 10 });
  const x = Tensor.zeros([8, 3, 512, 512]);
  await assert.rejects(m.run(x), (e: unknown) => e instanceof ConfigError && /a forward pass on a \[8, 3, 512, 512\] batch would need about [\d.]+ MB .*more than this machine's 50\.0 MB allow/.test(e.message));
  await assert.rejects(m.lossAndGrads(x, [0, 1, 2, 3, 4, 5, 6, 7]), (e: unknown) => e instanceof ConfigError && /the loss and its gradients on a \[8, 3, 512, 512\] batch/.test(e.message));
});

test("FCMAE's decoder options are bounded and its size is checked like a model's", () => {
  const encoder = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64] };
  configError(() => createFcmae(encoder, { decoder_depth: 1_000_000 }), /config 'decoder_depth' of family 'fcmae' must be int in \[1, 256\], got 1000000/);
  configError(() => createFcmae(encoder, { decoderEmbedDim: 1e6 }), /config 'decoder_embed_dim' of family 'fcmae' must be int in \[1, 16384\]/);
  configError(() => createFcmae(encoder, { decoder_embed_dim: 16384 }), /this fcmae config has ~2\.20G parameters/, /from 'decoder_embed_dim' = 16384 \(with decoder_embed_dim = 512/);
});

test('resetClassifier is bounded like num_classes, and refuses a head whose parameters could not be held', () => {
  const m = createModel('convnext_atto');
  configError(() => m.resetClassifier(1e9), /resetClassifier: numClasses must be an integer in \[0, 1000000\], got 1000000000/);
  const wide = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 32, 4096] });
  configError(() => wide.resetClassifier(1_000_000), /resetClassifier\(1000000\): a 4096×1000000 classifier gives convnext ~4\.23G parameters, more than the 2\.15G visionmix builds/);
  assert.equal(wide.numClasses, 1000, 'unchanged');
  assert.equal(m.resetClassifier(10).numClasses, 10);
});
