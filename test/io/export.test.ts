/**
 * `exportOnnx` (issue 24, points 1 and 4): every family's small config exports with a symbolic batch,
 * and a plain onnxruntime-node InferenceSession (not our engine) loading the file gives `run`'s
 * logits and features within 1e-5 at batch 1 and 3 — the same file; metadata_props round-trip
 * through our own reader; fp16 weights halve the file within a documented tolerance; the external
 * data path (forced by a small threshold) loads; a static batch is static.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createModel, Tensor, writeSafetensors, type ModelSpec, type VisionModel } from '../../src/index.js';
import { exportOnnx } from '../../src/io/onnx_export.js';
import { readOnnxFile } from '../../src/io/onnx_file.js';
import { ConfigError } from '../../src/errors.js';
import { F } from '../../src/graph/index.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_G, TINY_STL } from '../models/glnet_configs.js';

const dir = mkdtempSync(join(tmpdir(), 'visionmix-export-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 64;
/** One small config per family (GLNet: both stage layouts). */
const FAMILIES: Record<string, ModelSpec> = {
  convnext: { family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 },
  convnextv2: { family: 'convnextv2', depths: [1, 1, 2, 1], dims: [8, 16, 24, 32], num_classes: 5 },
  mobilevit: { family: 'mobilevit', num_classes: 6 },
  cmt: { family: 'cmt', embed_dims: [16, 32, 48, 64], stem_channel: 8, fc_dim: 128, mlp_ratios: [3.6, 3.6, 3.6, 3.6], depths: [1, 1, 1, 1], num_classes: 10, img_size: SIZE },
  glnet: TINY_G,
  glnet_stl: TINY_STL,
};

function batch(n: number, seed: number, c = 3, size = SIZE): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * c * size * size }, () => rng.normal(0, 1));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function ortRun(path: string, x: Float32Array, shape: number[]): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(path);
  try {
    return await s.run({ pixel_values: new ort.Tensor('float32', x, shape) });
  } finally {
    await s.release();
  }
}

for (const [name, config] of Object.entries(FAMILIES)) {
  test(`export ${name}: one dynamic-batch file matches run() at batch 1 and 3 (logits and features)`, async () => {
    const m = createModel(config);
    const path = join(dir, `${name}.onnx`);
    const r = await exportOnnx(m, { path, size: SIZE, outputs: ['logits', 'features'] });
    assert.equal(r.batch, 'dynamic');
    assert.deepEqual(r.inputs, [{ name: 'pixel_values', dtype: 'float32', dims: ['batch', 3, SIZE, SIZE] }]);
    assert.deepEqual(r.outputs.map((o) => o.name), ['logits', ...m.featureInfo.map((_, i) => `features.${i}`)]);
    assert.ok(r.outputs.every((o) => o.dims[0] === 'batch'));
    for (const n of [1, 3]) {
      const x = batch(n, n);
      const ref = await m.run(new Tensor(x, [n, 3, SIZE, SIZE], 'float32'), { features: true });
      const out = await ortRun(path, x, [n, 3, SIZE, SIZE]);
      assert.deepEqual(out.logits!.dims, [n, m.numClasses]);
      assert.ok(maxAbsDiff(out.logits!.data as Float32Array, ref.logits.data as Float32Array) <= 1e-5, `logits at batch ${n}`);
      ref.features.forEach((f, i) => {
        const o = out[`features.${i}`]!;
        assert.deepEqual(o.dims, f.shape);
        assert.ok(maxAbsDiff(o.data as Float32Array, f.data as Float32Array) <= 1e-5, `features.${i} at batch ${n}`);
      });
    }
  });
}

test('export: metadata_props round-trip (model, config, transform, labels, sha256 of the weights file)', async () => {
  const m = createModel('convnextv2_atto', { num_classes: 3 });
  const weightsFile = join(dir, 'w.safetensors');
  await writeSafetensors(weightsFile, new Map(Object.entries(m.stateDict())));
  const sha = createHash('sha256').update(readFileSync(weightsFile)).digest('hex');
  const path = join(dir, 'meta.onnx');
  await exportOnnx(m, { path, size: 32, labels: ['cat', 'dog', 'eel'], weightsFile, metadata: { note: 'x' } });
  const info = readOnnxFile(path);
  const md = info.metadata;
  assert.equal(md.model_name, 'convnextv2_atto');
  assert.equal(md.family, 'convnextv2');
  assert.deepEqual(JSON.parse(md.model_config!), JSON.parse(JSON.stringify((m as unknown as { config: unknown }).config)));
  assert.deepEqual(JSON.parse(md.labels!), ['cat', 'dog', 'eel']);
  assert.equal(md.weights_sha256, sha);
  assert.equal(md.weights_dtype, 'float32');
  assert.equal(md.note, 'x');
  // The transform is the weights' pretrained config, at the exported size.
  const pc = m.pretrainedConfig!;
  assert.deepEqual(JSON.parse(md.input_size!), [3, 32, 32]);
  assert.equal(Number(md.crop_pct), pc.cropPct);
  assert.equal(md.interpolation, pc.interpolation);
  assert.deepEqual(JSON.parse(md.mean!), [...pc.mean]);
  assert.deepEqual(JSON.parse(md.std!), [...pc.std]);
  assert.equal(JSON.parse(md.transform!).cropPct, pc.cropPct);
  // The declared signature and opset.
  assert.equal(info.opsets[''], 17);
  assert.equal(info.irVersion, 8);
  assert.deepEqual(info.inputs, [{ name: 'pixel_values', dtype: 'float32', dims: ['batch', 3, 32, 32] }]);
  assert.deepEqual(info.outputs, [{ name: 'logits', dtype: 'float32', dims: ['batch', 3] }]);
});

test('export --dtype fp16: float16 weights + Cast, about half the file, logits within 1e-2 relative of fp32', async () => {
  const m = createModel('convnextv2_atto', { num_classes: 10 });
  const f32 = await exportOnnx(m, { path: join(dir, 'f32.onnx'), size: 32 });
  const f16 = await exportOnnx(m, { path: join(dir, 'f16.onnx'), size: 32, dtype: 'float16' });
  const ratio = f16.modelBytes / f32.modelBytes;
  assert.ok(ratio > 0.45 && ratio < 0.55, `size ratio ${ratio}`);
  const info = readOnnxFile(join(dir, 'f16.onnx'));
  assert.equal(info.metadata.weights_dtype, 'float16');
  const weights = info.initializers.filter((i) => i.name.endsWith('.fp16'));
  assert.equal(weights.length, Object.keys(m.stateDict()).length, 'every weight stored as float16');
  assert.ok(weights.every((w) => w.dtype === 'float16'));
  assert.equal(info.nodes.filter((n) => n.opType === 'Cast').length, weights.length);
  const x = batch(2, 7, 3, 32);
  const a = (await ortRun(join(dir, 'f32.onnx'), x, [2, 3, 32, 32])).logits!.data as Float32Array;
  const b = (await ortRun(join(dir, 'f16.onnx'), x, [2, 3, 32, 32])).logits!.data as Float32Array;
  const scale = Math.max(...Array.from(a, Math.abs));
  const rel = maxAbsDiff(a, b) / scale;
  assert.ok(rel > 0, 'fp16 weights change the logits a little (the weights really are rounded)');
  assert.ok(rel <= 1e-2, `relative difference ${rel}`);
});

test('export: weights above the threshold go to an external data file that onnxruntime finds', async () => {
  const m = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 });
  const path = join(dir, 'ext.onnx');
  const r = await exportOnnx(m, { path, size: 32, externalDataThreshold: 1000 });
  assert.equal(r.dataPath, `${path}.data`);
  assert.ok(existsSync(r.dataPath!) && statSync(r.dataPath!).size === r.dataBytes);
  const info = readOnnxFile(path);
  const ext = info.initializers.filter((i) => i.external);
  assert.ok(ext.length > 0);
  for (const i of ext) {
    assert.equal(i.external!.location, 'ext.onnx.data');
    assert.equal(i.inlineBytes, 0);
    assert.equal(i.external!.offset % 64, 0, 'aligned offsets');
    assert.ok(i.external!.offset + i.external!.length <= r.dataBytes);
  }
  // Small tensors (under 1 KiB) stay inline.
  assert.ok(info.initializers.some((i) => !i.external && i.inlineBytes > 0));
  assert.ok(r.modelBytes < r.dataBytes);
  const x = batch(2, 3, 3, 32);
  const ref = await m.run(new Tensor(x, [2, 3, 32, 32], 'float32'));
  const out = await ortRun(path, x, [2, 3, 32, 32]);
  assert.ok(maxAbsDiff(out.logits!.data as Float32Array, ref.logits.data as Float32Array) <= 1e-5);
});

test('export --batch N: a static batch dimension', async () => {
  const m = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 });
  const path = join(dir, 'static.onnx');
  const r = await exportOnnx(m, { path, size: 32, batch: 2 });
  assert.equal(r.batch, 2);
  assert.deepEqual(readOnnxFile(path).inputs[0]!.dims, [2, 3, 32, 32]);
  const x = batch(2, 1, 3, 32);
  const ref = await m.run(new Tensor(x, [2, 3, 32, 32], 'float32'));
  assert.ok(maxAbsDiff((await ortRun(path, x, [2, 3, 32, 32])).logits!.data as Float32Array, ref.logits.data as Float32Array) <= 1e-5);
  await assert.rejects(ortRun(path, batch(3, 1, 3, 32), [3, 3, 32, 32]));
});

test('export: bad options are ConfigErrors naming the option', async () => {
  const m: VisionModel = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 });
  const path = join(dir, 'bad.onnx');
  await assert.rejects(exportOnnx(m, { path, batch: 0 }), (e: unknown) => e instanceof ConfigError && /batch/.test(e.message));
  await assert.rejects(exportOnnx(m, { path, labels: ['a'] }), (e: unknown) => e instanceof ConfigError && /1 labels for a model with 5 classes/.test(e.message));
  await assert.rejects(exportOnnx(m, { path, dtype: 'int4' as 'float16' }), (e: unknown) => e instanceof ConfigError && /dtype/.test(e.message));
  await assert.rejects(exportOnnx(m, { path, outputs: [] }), (e: unknown) => e instanceof ConfigError && /outputs/.test(e.message));
  assert.ok(!existsSync(path));
});

test('export: a model whose graph bakes the batch size falls back to a static batch of 1, and says why', async () => {
  const m: VisionModel = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 });
  // Logits divided by the batch size: a constant that is only right at the traced batch.
  const forward = m.forwardTraced.bind(m);
  m.forwardTraced = (x, o) => {
    const out = forward(x, o);
    return { ...out, logits: F.div(out.logits!, x.shape[0]!) };
  };
  const warnings: string[] = [];
  const path = join(dir, 'baked.onnx');
  const r = await exportOnnx(m, { path, size: 32, onWarning: (w) => warnings.push(w) });
  assert.equal(r.batch, 1);
  assert.match(r.staticBatchReason ?? '', /bakes the batch size/);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /exported with a static batch of 1/);
  assert.deepEqual(readOnnxFile(path).inputs[0]!.dims, [1, 3, 32, 32]);
  const x = batch(1, 4, 3, 32);
  const ref = await m.run(new Tensor(x, [1, 3, 32, 32], 'float32'));
  assert.ok(maxAbsDiff((await ortRun(path, x, [1, 3, 32, 32])).logits!.data as Float32Array, ref.logits.data as Float32Array) <= 1e-5);
});

test('export --dtype int8 (dynamic): Linear weights as per-channel int8 MatMulInteger, classifier float32, a smaller file, logits close to fp32', async () => {
  const m = createModel({ family: 'convnextv2', depths: [1, 1, 2, 1], dims: [16, 32, 48, 64], num_classes: 5 });
  const f32 = await exportOnnx(m, { path: join(dir, 'q_f32.onnx'), size: 64 });
  const i8 = await exportOnnx(m, { path: join(dir, 'q_i8.onnx'), size: 64, dtype: 'int8' });
  const info = readOnnxFile(join(dir, 'q_i8.onnx'));
  // Every block's two pointwise Linears (fc1, fc2) are integer GEMMs; the classifier is not.
  const blocks = 1 + 1 + 2 + 1;
  assert.equal(info.nodes.filter((n) => n.opType === 'MatMulInteger').length, 2 * blocks);
  assert.equal(info.nodes.filter((n) => n.opType === 'DynamicQuantizeLinear').length, 2 * blocks);
  const int8 = info.initializers.filter((i) => i.dtype === 'int8');
  assert.equal(int8.filter((i) => i.name.endsWith('.weight.int8')).length, 2 * blocks);
  assert.ok(int8.every((i) => /mlp\.fc[12]\.weight\./.test(i.name)));
  assert.ok(!info.initializers.some((i) => /mlp\.fc[12]\.weight$/.test(i.name)), 'the float weights are gone');
  assert.ok(info.initializers.some((i) => i.name === 'head.fc.weight' && i.dtype === 'float32'));
  assert.deepEqual(JSON.parse(info.metadata.quantization!).float32, ['head.fc.weight']);
  assert.equal(info.metadata.weights_dtype, 'int8');
  assert.ok(i8.modelBytes < 0.6 * f32.modelBytes, `${i8.modelBytes} vs ${f32.modelBytes}`);
  for (const n of [1, 3]) {
    const x = batch(n, 11, 3, 64);
    const a = (await ortRun(join(dir, 'q_f32.onnx'), x, [n, 3, 64, 64])).logits!.data as Float32Array;
    const b = (await ortRun(join(dir, 'q_i8.onnx'), x, [n, 3, 64, 64])).logits!.data as Float32Array;
    const rel = maxAbsDiff(a, b) / Math.max(...Array.from(a, Math.abs));
    // Random weights, uint8 activations per tensor: a few percent (measured 3% on ConvNeXt V2-atto at 224²).
    assert.ok(rel > 0 && rel < 0.1, `batch ${n}: relative difference ${rel}`);
  }
});

test('export: fp16 and int8 files run on onnxruntime-web (wasm, the browser runtime) as on onnxruntime-node', async () => {
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.logLevel = 'error';
  const m = createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [16, 32, 48, 64], num_classes: 5 });
  const x = batch(2, 13, 3, 32);
  for (const dtype of ['float16', 'int8'] as const) {
    const path = join(dir, `web_${dtype}.onnx`);
    await exportOnnx(m, { path, size: 32, dtype });
    const s = await ortWeb.InferenceSession.create(readFileSync(path), { executionProviders: ['wasm'] });
    const web = (await s.run({ pixel_values: new ortWeb.Tensor('float32', x, [2, 3, 32, 32]) })).logits!.data as Float32Array;
    await s.release();
    const native = (await ortRun(path, x, [2, 3, 32, 32])).logits!.data as Float32Array;
    const rel = maxAbsDiff(web, native) / Math.max(...Array.from(native, Math.abs));
    // fp16: the same float32 compute; int8: integer GEMM kernels differ a little between builds.
    assert.ok(rel <= (dtype === 'float16' ? 1e-5 : 5e-2), `${dtype}: wasm vs native relative difference ${rel}`);
  }
});

test('export --outputs features: the stage maps alone (no classifier in the graph)', async () => {
  const m = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 });
  const path = join(dir, 'features.onnx');
  const r = await exportOnnx(m, { path, size: 32, outputs: ['features'] });
  assert.deepEqual(r.outputs.map((o) => [o.name, o.dims]), [
    ['features.0', ['batch', 8, 8, 8]],
    ['features.1', ['batch', 16, 4, 4]],
    ['features.2', ['batch', 24, 2, 2]],
    ['features.3', ['batch', 32, 1, 1]],
  ]);
  assert.ok(!readOnnxFile(path).initializers.some((i) => i.name.startsWith('head.')), 'no head weights');
  const x = batch(2, 2, 3, 32);
  const ref = await m.run(new Tensor(x, [2, 3, 32, 32], 'float32'), { features: true, logits: false });
  const out = await ortRun(path, x, [2, 3, 32, 32]);
  ref.features.forEach((f, i) => assert.ok(maxAbsDiff(out[`features.${i}`]!.data as Float32Array, f.data as Float32Array) <= 1e-5));
});

test('export: the weights\' transform is not recorded for a model built with another channel count', async () => {
  const m = createModel('convnext_atto', { in_chans: 1, num_classes: 3 });
  const path = join(dir, 'gray.onnx');
  const r = await exportOnnx(m, { path, size: 32 });
  assert.equal(r.metadata.input_size, undefined);
  assert.equal(r.metadata.mean, undefined);
  assert.deepEqual(readOnnxFile(path).inputs[0]!.dims, ['batch', 1, 32, 32]);
  // Given explicitly, it is recorded as given.
  const t = { inputSize: [1, 32, 32], mean: [0.5], std: [0.25], description: 'grayscale' };
  assert.deepEqual(JSON.parse((await exportOnnx(m, { path, size: 32, transform: t })).metadata.transform!), t);
});
