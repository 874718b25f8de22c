/** Weight loading: typed errors for missing, unexpected and mis-shaped keys; official-name mapping. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, ShapeError, Tensor, WeightsError, writeSafetensors } from '../../src/index.js';
import { officialToTimm } from '../../src/models/convnext.js';

const tiny = () => createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 5 });

function fullStateDict(): Map<string, Tensor> {
  return new Map(Object.entries(tiny().stateDict()).map(([k, t]) => [k, Tensor.zeros(t.shape)]));
}

const input = () => Tensor.from(Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.cos(i)), [1, 3, 32, 32]);

test('strict load of a complete state dict succeeds and changes the outputs', async () => {
  const m = tiny();
  m.eval();
  const before = [...(await m.run(input())).logits.data];
  assert.ok(before.some((v) => v !== 0), 'random init gives non-zero logits');
  await m.loadWeights(fullStateDict());
  assert.equal((m.stateDict()['head.fc.weight']!.data as Float32Array).every((v) => v === 0), true);
  // All-zero weights: the head's norm and linear layer output exactly 0 whatever the input.
  const after = [...(await m.run(input())).logits.data];
  assert.deepEqual(after, [0, 0, 0, 0, 0], 'the compiled graph uses the new weights, not the old ones');
});

test('missing keys → WeightsError listing them', async () => {
  const sd = fullStateDict();
  sd.delete('stages.2.blocks.0.mlp.grn.weight');
  sd.delete('head.fc.bias');
  const err = await tiny().loadWeights(sd).catch((e: unknown) => e);
  assert.ok(err instanceof WeightsError);
  assert.deepEqual(err.missing.sort(), ['head.fc.bias', 'stages.2.blocks.0.mlp.grn.weight']);
  assert.match(err.message, /missing keys \(2\): .*stages\.2\.blocks\.0\.mlp\.grn\.weight/);
});

test('unexpected keys → WeightsError listing them; non-strict loads the rest', async () => {
  const sd = fullStateDict();
  sd.set('decoder.0.dwconv.weight', Tensor.zeros([4]));
  const err = await tiny().loadWeights(sd).catch((e: unknown) => e);
  assert.ok(err instanceof WeightsError);
  assert.deepEqual(err.unexpected, ['decoder.0.dwconv.weight']);
  assert.match(err.message, /unexpected keys \(1\): decoder\.0\.dwconv\.weight/);
  // Not strict: the model's keys are loaded, the unexpected one is ignored.
  const m = tiny();
  await m.loadWeights(sd, { strict: false });
  const loaded = m.stateDict();
  assert.equal(loaded['decoder.0.dwconv.weight'], undefined);
  for (const [k, t] of Object.entries(loaded)) assert.ok((t.data as Float32Array).every((v) => v === 0), `${k} loaded`);
});

test('mis-shaped keys → WeightsError with expected and actual shapes (even when not strict)', async () => {
  const sd = fullStateDict();
  sd.set('stem.0.weight', Tensor.zeros([8, 3, 2, 2]));
  for (const strict of [true, false]) {
    const err = await tiny().loadWeights(sd, { strict }).catch((e: unknown) => e);
    assert.ok(err instanceof WeightsError);
    assert.deepEqual(err.misShaped, [{ key: 'stem.0.weight', expected: [8, 3, 4, 4], got: [8, 3, 2, 2] }]);
    assert.match(err.message, /mis-shaped keys \(1\): stem\.0\.weight expected \[8,3,4,4\] got \[8,3,2,2\]/);
  }
});

test('a weights file that does not exist → WeightsError naming it', async () => {
  await assert.rejects(tiny().loadWeights('/nonexistent/model.safetensors'), (e: unknown) => e instanceof WeightsError && /\/nonexistent\/model\.safetensors/.test(e.message));
});

test('loading from a safetensors file names the file in the error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-w-'));
  try {
    const sd = fullStateDict();
    sd.delete('head.fc.weight');
    const path = join(dir, 'w.safetensors');
    await writeSafetensors(path, sd);
    await assert.rejects(tiny().loadWeights(path), (e: unknown) => e instanceof WeightsError && e.message.includes(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('official ConvNeXt names map to timm names (spec §7.3)', () => {
  const cases: [string, string][] = [
    ['downsample_layers.0.0.weight', 'stem.0.weight'],
    ['downsample_layers.0.1.bias', 'stem.1.bias'],
    ['downsample_layers.2.0.weight', 'stages.2.downsample.0.weight'],
    ['downsample_layers.3.1.weight', 'stages.3.downsample.1.weight'],
    ['stages.1.2.dwconv.weight', 'stages.1.blocks.2.conv_dw.weight'],
    ['stages.0.0.pwconv1.bias', 'stages.0.blocks.0.mlp.fc1.bias'],
    ['stages.0.0.pwconv2.weight', 'stages.0.blocks.0.mlp.fc2.weight'],
    ['stages.3.1.grn.gamma', 'stages.3.blocks.1.mlp.grn.weight'],
    ['stages.3.1.grn.beta', 'stages.3.blocks.1.mlp.grn.bias'],
    ['stages.2.0.gamma', 'stages.2.blocks.0.gamma'],
    ['norm.weight', 'head.norm.weight'],
    ['head.weight', 'head.fc.weight'],
    ['head.bias', 'head.fc.bias'],
  ];
  for (const [official, timm] of cases) assert.equal(officialToTimm(official), timm);
});

test('conv-MLP checkpoints ([o,i,1,1]) load into Linear models and vice versa; GRN [1,1,1,C] loads as [C]', async () => {
  const src = fullStateDict();
  const reshaped = new Map([...src].map(([k, t]) => {
    if (/mlp\.fc[12]\.weight$/.test(k)) return [k, t.reshape([...t.shape, 1, 1])] as const;
    if (/grn\.(weight|bias)$/.test(k)) return [k, t.reshape([1, 1, 1, t.shape[0]!])] as const;
    return [k, t] as const;
  }));
  await tiny().loadWeights(reshaped);
  const convMlp = createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 5, conv_mlp: true });
  assert.deepEqual(convMlp.stateDict()['stages.0.blocks.0.mlp.fc1.weight']!.shape, [32, 8, 1, 1]);
  await convMlp.loadWeights(src);
});

test('trace-time ShapeError names the op, the module path and the shapes', async () => {
  const m = tiny();
  await assert.rejects(m.run(Tensor.zeros([1, 3, 16, 16])), (e: unknown) => {
    assert.ok(e instanceof ShapeError, String(e));
    assert.match(e.message, /^Conv at stages\.\d\.downsample\.1: output would be 0x0/);
    assert.match(e.message, /float32\[1,\d+,1,1\]/);
    return true;
  });
  await assert.rejects(m.run(Tensor.zeros([1, 4, 64, 64])), (e: unknown) => e instanceof ShapeError && /input must be \[N, 3, H, W\].*\[1,4,64,64\]/.test(e.message));
});

test('unknown model and bad config keys are ConfigErrors naming them', async () => {
  assert.throws(() => createModel('convnext_tinyy'), /unknown model 'convnext_tinyy'/);
  // @ts-expect-error no such key (a compile error in TypeScript; a ConfigError for a JavaScript caller)
  assert.throws(() => createModel({ family: 'convnext', depthz: [1, 1, 1, 1] }), /unknown config key 'depthz' for family 'convnext'/);
  assert.throws(() => createModel({ family: 'convnext', depths: [1, 1, 1] }), /config 'depths' of family 'convnext': has 3 stages but dims has 4/);
  assert.throws(() => createModel({ family: 'nope' }), /unknown model family 'nope'/);
});
