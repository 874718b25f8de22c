/** Public API edges (issue 8.10): typed errors instead of TypeErrors, and no silently mistyped data. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, createModel, listModels, ShapeError, Tensor, WeightsError } from '../src/index.js';

test('Tensor.from infers float32 from JS numbers and int64 from bigints; unsupported arrays are ShapeErrors', () => {
  const t = Tensor.from([0.5, 1.7], [2]);
  assert.equal(t.dtype, 'float32');
  assert.ok(t.data instanceof Float32Array);
  assert.deepEqual([...t.data], [0.5, Math.fround(1.7)]);
  assert.deepEqual(Tensor.from([1, 2, 3]).shape, [3], 'the shape defaults to the length');
  const i = Tensor.from([1n, -2n], [2, 1]);
  assert.equal(i.dtype, 'int64');
  assert.deepEqual(i.toArray(), [1, -2]);
  assert.equal(Tensor.from(new Uint8Array([1, 2]), [2]).dtype, 'uint8', 'typed arrays keep their type');
  assert.throws(() => Tensor.from(new Int8Array([1, 2]) as never, [2]), (e: unknown) => e instanceof ShapeError && /unsupported data type Int8Array/.test(e.message));
  assert.throws(() => Tensor.from([1, 'a'] as never, [2]), ShapeError);
});

test('lossAndGrads takes int64 (BigInt64Array) labels like int32 ones', async () => {
  const m = createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 5 });
  m.eval();
  const x = Tensor.from(Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i)), [2, 3, 32, 32]);
  const a = await m.lossAndGrads(x, Int32Array.from([1, 4]));
  const b = await m.lossAndGrads(x, BigInt64Array.from([1n, 4n]) as never);
  assert.equal(b.loss, a.loss);
  await assert.rejects(m.lossAndGrads(x, BigInt64Array.from([1n, 5n]) as never), (e: unknown) => e instanceof ConfigError && /label 5 at index 1 is outside \[0, 5\)/.test(e.message));
});

test('listModels with a non-string pattern is a ConfigError', () => {
  assert.throws(() => listModels(123 as never), (e: unknown) => e instanceof ConfigError && /pattern must be a string/.test(e.message));
});

test('a URL that is not downloaded, or a hub id not written hf:…, says so and how to name the hub repository', async () => {
  const m = createModel('convnext_atto');
  const cases: [string, RegExp][] = [
    ['s3://bucket/convnext_atto/model.safetensors', /is a URL of a kind not downloaded: give an https:\/\/ URL, a local \.safetensors or \.pth file, or a hub repository as hf:org\/name/],
    ['http://example.com/model.safetensors', /only https:\/\/ is accepted \(http:\/\/ only for 127\.0\.0\.1 or localhost\)/],
    ['timm/convnext_atto.d2_in1k', /'timm\/convnext_atto\.d2_in1k' is not a local file; for the hub repository write hf:timm\/convnext_atto\.d2_in1k/],
    ['hf-hub:timm/convnext_atto.d2_in1k', /is not a local file; for the hub repository write hf:timm\/convnext_atto\.d2_in1k/],
    ['hf:not-a-reference', /a hub reference is hf:org\/name\[@revision\]\[:file\]/],
    ['/no/such/model.safetensors', /weights file not found: \/no\/such\/model\.safetensors \(expected a local \.safetensors or PyTorch \.pth\/\.pt file, or hf:org\/repo\)/],
  ];
  for (const [source, re] of cases) await assert.rejects(m.loadWeights(source), (e: unknown) => e instanceof WeightsError && re.test(e.message));
});
