/**
 * Static int8 export (issue 24 §3): calibration reads the true activation ranges of a hand-built
 * graph; a percentile range is never wider than the min-max one; the int8 file has
 * QuantizeLinear/DequantizeLinear around every Conv and MatMul layer except the first conv and the
 * classifier, runs in onnxruntime-node (which fuses it into QLinearConv / MatMulIntegerToFloat), and
 * agrees with fp32; the report lists every quantized layer with its error alone; bad options are
 * ConfigErrors naming the option.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createModel, Tensor } from '../../src/index.js';
import { ConfigError } from '../../src/errors.js';
import { attr, emitModel, serializeModel, type OnnxModel, type OnnxNode } from '../../src/graph/emit.js';
import { foldLayerScales } from '../../src/graph/quantize.js';
import { traceModel } from '../../src/models/trace.js';
import { calibrationModel, findStaticLayers, observedTensors, RangeObserver, withStaticQdq } from '../../src/graph/quantize_static.js';
import { exportOnnx } from '../../src/io/onnx_export.js';
import { readOnnxFile } from '../../src/io/onnx_file.js';
import type { CalibrationOptions } from '../../src/io/static_int8.js';
import { Rng } from '../../src/util/rng.js';
import { calibrationImages } from '../../src/tasks/export.js';
import { DataError } from '../../src/errors.js';
import { repoRoot } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'visionmix-int8-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function normal(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal(0, 1));
}

async function ortRun(model: Uint8Array | string, feeds: Record<string, ort.Tensor>, opts: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession.ReturnType> {
  const s = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** x [batch, 4] → h = 2x + 1 → y = h · W (fc) → relu → Gemm(·, Gᵀ, b) (g): a MatMul and a Gemm layer. */
function handBuilt(w: Float32Array, g: Float32Array): OnnxModel {
  const f32 = (data: Float32Array, shape: number[]) => new Tensor(data, shape, 'float32');
  const node = (opType: string, inputs: string[], output: string, attrs: OnnxNode['attrs'] = {}): OnnxNode => ({ opType, domain: '', inputs, outputs: [output], attrs, name: `${output}/${opType}` });
  return {
    name: 'tiny',
    opset: 17,
    producer: 'test',
    nodes: [
      node('Mul', ['x', 'two'], 'a'),
      node('Add', ['a', 'one'], 'h'),
      node('MatMul', ['h', 'fc.weight'], 'y'),
      node('Relu', ['y'], 'r'),
      node('Gemm', ['r', 'g.weight', 'g.bias'], 'out', { transB: attr.int(1) }),
    ],
    initializers: [
      { name: 'two', tensor: f32(new Float32Array([2]), []), param: false },
      { name: 'one', tensor: f32(new Float32Array([1]), []), param: false },
      { name: 'fc.weight', tensor: f32(w, [4, 3]), param: true },
      { name: 'g.weight', tensor: f32(g, [2, 3]), param: true },
      { name: 'g.bias', tensor: f32(new Float32Array([0.5, -0.5]), [2]), param: true },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }],
    outputs: [{ name: 'out', dtype: 'float32', dims: ['batch', 2] }],
    metadata: [],
    domains: {},
  };
}

test('calibration reads the activation ranges of a hand-built graph; the QDQ file runs and agrees with float32', async () => {
  const w = normal(12, 1);
  const g = normal(6, 2);
  const m = handBuilt(w, g);
  const layers = findStaticLayers(m);
  assert.deepEqual(layers.map((l) => [l.name, l.op, l.input]), [['fc', 'MatMul', 'h'], ['g', 'Gemm', 'r']]);
  // x in [-1, 3], both ends present: h = 2x + 1 spans exactly [-1, 7].
  const x = Float32Array.from({ length: 4 * 16 }, (_, i) => -1 + (4 * ((i * 7) % 64)) / 63);
  const feeds = { x: new ort.Tensor('float32', x, [16, 4]) };
  const names = observedTensors(layers);
  const calib = await ortRun(serializeModel(calibrationModel(m, names)).model, feeds);
  const obs = new RangeObserver();
  for (const n of names) obs.observe(n, calib[n]!.data as Float32Array);
  assert.deepEqual(obs.range('h'), { min: -1, max: 7 });
  // r = relu(h · W), computed here.
  let rmin = Infinity;
  let rmax = -Infinity;
  for (let b = 0; b < 16; b++)
    for (let j = 0; j < 3; j++) {
      let y = 0;
      for (let k = 0; k < 4; k++) y += (2 * x[b * 4 + k]! + 1) * w[k * 3 + j]!;
      rmin = Math.min(rmin, Math.max(0, y));
      rmax = Math.max(rmax, Math.max(0, y));
    }
  assert.ok(Math.abs(obs.range('r').max - rmax) < 1e-5 && obs.range('r').min === rmin, JSON.stringify(obs.range('r')));

  const ranges = new Map(names.map((n) => [n, obs.range(n)]));
  const q = withStaticQdq(m, layers, { ranges, constants: new Map() });
  const producer = new Map(q.model.nodes.flatMap((n) => n.outputs.map((o) => [o, n.opType] as const)));
  for (const op of ['MatMul', 'Gemm']) {
    const n = q.model.nodes.find((x) => x.opType === op)!;
    assert.deepEqual([producer.get(n.inputs[0]!), producer.get(n.inputs[1]!)], ['DequantizeLinear', 'DequantizeLinear'], op);
  }
  assert.equal(q.model.nodes.filter((n) => n.opType === 'QuantizeLinear').length, 2);
  // The Gemm (transB) weight is per row of [N, K]: two scales.
  assert.deepEqual(q.model.initializers.find((i) => i.name === 'g.weight.scale')!.tensor.shape, [2]);
  const ref = (await ortRun(serializeModel(m).model, feeds)).out!.data as Float32Array;
  const got = (await ortRun(serializeModel(q.model).model, feeds)).out!.data as Float32Array;
  // uint8 activations over ranges of ~8 (step 0.03) and 7-bit weights (step max|w|/63): a few percent of the largest output.
  const scale = Math.max(...Array.from(ref, Math.abs));
  assert.ok(ref.every((v, i) => Math.abs(v - got[i]!) < 0.05 * scale), `${ref} vs ${got}`);
  assert.ok(ref.some((v, i) => v !== got[i]), 'the int8 file computes something else than float32');
});

test('percentile ranges clip outliers and are never wider than min-max', () => {
  const obs = new RangeObserver();
  const v = Float32Array.from({ length: 20000 }, (_, i) => (i % 1000) / 1000);
  v[5] = 100;
  v[6] = -50;
  obs.observe('t', v);
  obs.observeHistogram('t', v, 'percentile');
  const mm = obs.range('t');
  const p = obs.percentileRange('t', 99.9);
  assert.deepEqual(mm, { min: -50, max: 100 });
  assert.ok(p.min >= mm.min && p.max <= mm.max);
  // 0.1% of the values on each side are cut: the range is the bulk [0, 1), to a histogram bin (150/4096).
  assert.ok(Math.abs(p.max - 1) < 0.05 && Math.abs(p.min) < 0.05, JSON.stringify(p));
  assert.deepEqual(obs.percentileRange('t', 100), mm);
});

test('entropy ranges: a Gaussian is cut a few σ out whatever its outlier, a uniform bulk is kept whole', () => {
  const obs = new RangeObserver();
  // 200k standard normal values (σ = 1) and one outlier at 1000: min-max would spend the 256 levels on the outlier.
  const g = normal(200000, 7);
  g[0] = 1000;
  obs.observe('gauss', g);
  obs.observeHistogram('gauss', g, 'entropy');
  const e = obs.entropyRange('gauss');
  assert.equal(obs.range('gauss').max, 1000);
  assert.ok(e.max > 2 && e.max < 8 && e.min < -2 && e.min >= obs.range('gauss').min, JSON.stringify(e));
  // Without the outlier the histogram is finer, and the cut lands in the same place (a property of the data, not of the bins).
  const g2 = normal(200000, 7);
  const obs2 = new RangeObserver();
  obs2.observe('gauss', g2);
  obs2.observeHistogram('gauss', g2, 'entropy');
  assert.ok(Math.abs(obs2.entropyRange('gauss').max - e.max) < 1, `${obs2.entropyRange('gauss').max} vs ${e.max}`);
  // Uniform values in [0, 1): nothing to gain by clipping — the range stays the bulk's.
  const u = Float32Array.from({ length: 100000 }, (_, i) => (i % 1000) / 1000);
  const obs3 = new RangeObserver();
  obs3.observe('u', u);
  obs3.observeHistogram('u', u, 'entropy');
  const r = obs3.entropyRange('u');
  assert.ok(r.min === 0 && r.max > 0.9 && r.max <= obs3.range('u').max, JSON.stringify(r));
});

const TINY = { family: 'convnextv2', depths: [1, 1, 2, 1], dims: [16, 32, 48, 64], num_classes: 5 } as const;
const S = 32;
const N = 8;

test('export --dtype int8 static: QDQ around every Conv and MatMul layer but the stem and the classifier, fused by ORT, close to fp32; the report lists every quantized layer', async () => {
  const m = createModel(TINY);
  const x = normal(N * 3 * S * S, 3);
  const images = new Tensor(x, [N, 3, S, S], 'float32');
  await exportOnnx(m, { path: join(dir, 'f32.onnx'), size: S });
  const path = join(dir, 's8.onnx');
  const r = await exportOnnx(m, { path, size: S, dtype: 'int8', quantization: 'static', calibration: { images, sensitivity: true } });
  const q = r.quantization!;
  const info = readOnnxFile(path);
  const producer = new Map(info.nodes.flatMap((n) => n.outputs.map((o) => [o, n.opType] as const)));
  const viaDq = (n: { inputs: string[] }, i: number) => producer.get(n.inputs[i]!) === 'DequantizeLinear';
  const convs = info.nodes.filter((n) => n.opType === 'Conv');
  const matmuls = info.nodes.filter((n) => n.opType === 'MatMul');
  // Convs: stem, 3 downsamples, 5 depthwise; MatMuls: fc1, fc2 and GRN's spatial sum per block, the classifier.
  assert.equal(convs.length, 1 + 3 + 5);
  assert.equal(convs.filter((n) => viaDq(n, 0) && viaDq(n, 1) && viaDq(n, 2)).length, 3 + 5, 'every conv but the stem');
  assert.ok(!viaDq(convs[0]!, 0) && info.initializers.some((i) => i.name === 'stem.0.weight' && i.dtype === 'float32'));
  assert.equal(matmuls.filter((n) => viaDq(n, 0) && viaDq(n, 1)).length, 2 * 5, 'fc1 and fc2 of every block');
  assert.ok(info.initializers.some((i) => i.name === 'head.fc.weight' && i.dtype === 'float32'));
  assert.deepEqual(q.float32.map((l) => [l.name, l.reason]), [['stem.0', 'first conv'], ['head.fc', 'classifier']]);
  // The report lists exactly the layers whose weights the file holds as int8, each with its error alone.
  const int8 = info.initializers.filter((i) => i.dtype === 'int8').map((i) => i.name.replace(/\.weight\.(int8|zero_point)$/, ''));
  assert.deepEqual(q.layers.map((l) => l.name).sort(), [...new Set(int8)].sort());
  assert.equal(q.layers.length, 3 + 5 + 2 * 5);
  assert.ok(q.layers.every((l) => l.sensitivity && l.sensitivity.relL2 > 0 && l.sensitivity.relL2 < q.overall.relL2 * 1.5));
  assert.equal(JSON.parse(info.metadata.quantization!).method, 'static');

  // ONNX Runtime fuses the pattern: QLinearConv for the 8 convs, integer MatMuls for the 10 Linears.
  const optimized = join(dir, 's8.opt.onnx');
  const feeds = { pixel_values: new ort.Tensor('float32', x, [N, 3, S, S]) };
  const got = (await ortRun(path, feeds, { optimizedModelFilePath: optimized, logSeverityLevel: 3 })).logits!.data as Float32Array;
  const fused = readOnnxFile(optimized).nodes;
  assert.equal(fused.filter((n) => n.opType === 'QLinearConv').length, 8);
  assert.equal(fused.filter((n) => n.opType === 'MatMulIntegerToFloat').length, 10);

  // Against the fp32 file on the calibration images (random weights, measured: relative L2 0.02-0.05,
  // every top-1 the same): a bound with room, and the report says the same as this direct check.
  const ref = (await ortRun(join(dir, 'f32.onnx'), feeds)).logits!.data as Float32Array;
  let num = 0;
  let den = 0;
  let same = 0;
  for (let i = 0; i < ref.length; i++) (num += (ref[i]! - got[i]!) ** 2), (den += ref[i]! ** 2);
  const top1 = (a: Float32Array, b: number) => Array.from(a.subarray(b * 5, b * 5 + 5)).reduce((best, v, j, row) => (v > row[best]! ? j : best), 0);
  for (let b = 0; b < N; b++) if (top1(ref, b) === top1(got, b)) same++;
  const rel = Math.sqrt(num / den);
  assert.ok(rel > 0 && rel < 0.1, `relative L2 ${rel}`);
  assert.ok(same >= N - 1, `top-1 agreement ${same}/${N}`);
  assert.ok(Math.abs(q.overall.relL2 - rel) < 1e-3 * Math.max(1, rel) + 1e-4, `${q.overall.relL2} vs ${rel}`);
  assert.equal(q.overall.top1Agreement, same / N);
});

test('export static: percentile input ranges within the min-max ones; keepFloat [] quantizes the stem and the classifier too', async () => {
  const m = createModel(TINY);
  const images = new Tensor(normal(4 * 3 * S * S, 4), [4, 3, S, S], 'float32');
  const base = { size: S, dtype: 'int8', quantization: 'static' } as const;
  const mm = (await exportOnnx(m, { ...base, path: join(dir, 'mm.onnx'), calibration: { images } })).quantization!;
  const pc = (await exportOnnx(m, { ...base, path: join(dir, 'pc.onnx'), calibration: { images, method: 'percentile', percentile: 99 } })).quantization!;
  assert.equal(pc.method, 'percentile');
  assert.deepEqual(pc.layers.map((l) => l.name), mm.layers.map((l) => l.name));
  assert.ok(pc.layers.every((l, i) => l.input.scale <= mm.layers[i]!.input.scale * (1 + 1e-6)));
  assert.ok(pc.layers.some((l, i) => l.input.scale < 0.95 * mm.layers[i]!.input.scale), 'some range is clipped');
  const en = (await exportOnnx(m, { ...base, path: join(dir, 'en.onnx'), calibration: { images, method: 'entropy' } })).quantization!;
  assert.equal(en.method, 'entropy');
  assert.ok(en.layers.every((l, i) => l.input.scale <= mm.layers[i]!.input.scale * (1 + 1e-6)), 'entropy ranges lie within min-max');
  assert.ok(Number.isFinite(en.overall.relL2) && en.overall.relL2 < 0.5, JSON.stringify(en.overall));
  const all = (await exportOnnx(m, { ...base, path: join(dir, 'all.onnx'), calibration: { images, keepFloat: [] } })).quantization!;
  assert.deepEqual(all.float32, []);
  assert.deepEqual(all.layers.map((l) => l.name).filter((n) => n === 'stem.0' || n === 'head.fc'), ['stem.0', 'head.fc']);
  const stage = (await exportOnnx(m, { ...base, path: join(dir, 'st.onnx'), calibration: { images, keepFloat: ['stem', 'stages.0'] } })).quantization!;
  assert.deepEqual(stage.float32.map((l) => l.name), ['stem.0', 'stages.0.blocks.0.conv_dw', 'stages.0.blocks.0.mlp.fc1', 'stages.0.blocks.0.mlp.fc2']);
});

test('export static: bad options are ConfigErrors naming the option', async () => {
  const m = createModel(TINY);
  const images = new Tensor(normal(2 * 3 * S * S, 5), [2, 3, S, S], 'float32');
  const path = join(dir, 'bad.onnx');
  const cases: [Partial<Parameters<typeof exportOnnx>[1]>, RegExp][] = [
    [{ dtype: 'int8', quantization: 'static' }, /static int8 needs calibration images \(calibration\.images\)/],
    [{ dtype: 'float16', quantization: 'static', calibration: { images } }, /quantization applies to dtype 'int8'/],
    [{ dtype: 'int8', calibration: { images } }, /calibration is for quantization 'static'/],
    [{ dtype: 'int8', quantization: 'static', calibration: { images: new Tensor(normal(2 * 3 * 16 * 16, 1), [2, 3, 16, 16], 'float32') } }, /calibration\.images must be float32 \[N, 3, 32, 32\]/],
    [{ dtype: 'int8', quantization: 'static', calibration: { images, method: 'kl' } as unknown as CalibrationOptions }, /calibration\.method must be 'minmax', 'percentile' or 'entropy', got 'kl'/],
    [{ dtype: 'int8', quantization: 'static', calibration: { images, method: 'percentile', percentile: 40 } }, /calibration\.percentile must be in \(50, 100\]/],
    [{ dtype: 'int8', quantization: 'static', calibration: { images, keepFloat: ['stages.9'] } }, /calibration\.keepFloat: 'stages\.9' names no layer/],
    [{ dtype: 'int8', quantization: 'static', batch: 4, calibration: { images } }, /2 images, fewer than the file's static batch of 4/],
  ];
  for (const [o, message] of cases) await assert.rejects(exportOnnx(m, { path, size: S, ...o }), (e: Error) => e instanceof ConfigError && message.test(e.message), String(message));
});

test('calibration images: a folder of images through the eval transform, spread over it; Fashion-MNIST centre-padded', async () => {
  const folder = join(dir, 'calib');
  mkdirSync(folder);
  const names = ['fmnist_test_0_ankle_boot.png', 'fmnist_test_1_pullover.png', 'fmnist_test_2_trouser.png', 'fmnist_test_4_shirt.png'];
  for (const n of names) copyFileSync(join(repoRoot, 'assets', 'samples', n), join(folder, n));
  const seen: string[] = [];
  const load = async (path: string) => {
    seen.push(path);
    return new Float32Array(2 * 4 * 4).fill(seen.length);
  };
  const x = await calibrationImages(folder, 2, [2, 4, 4], load);
  assert.deepEqual(x.shape, [2, 2, 4, 4]);
  assert.deepEqual(seen, [join(folder, names[0]!), join(folder, names[2]!)], 'every other image of four');
  assert.deepEqual([(x.data as Float32Array)[0], (x.data as Float32Array)[32]], [1, 2]);
  await assert.rejects(calibrationImages(folder, 1, [3, 4, 4], load), (e: Error) => e instanceof ConfigError && /prepared as 32 values, not \[3, 4, 4\]/.test(e.message));
  await assert.rejects(calibrationImages(join(dir, 'none'), 1, [3, 4, 4], load), (e: Error) => e instanceof DataError && /--calibration .*none is neither/.test(e.message));
  // Fashion-MNIST's 28×28 images centre-padded to 32: the border is the normalised zero.
  const f = await calibrationImages('fashion-mnist:bundled', 3, [1, 32, 32], load);
  assert.deepEqual(f.shape, [3, 1, 32, 32]);
  const d = f.data as Float32Array;
  assert.ok(d[0] === d[31] && d[0]! < 0, 'padding is (0 - mean) / std');
});

test('static int8 with a fixed batch warns that ORT runs the Linear layers in float (Gemm fused before the QDQ pairs); a dynamic batch does not', async () => {
  const m = createModel(TINY);
  const images = new Tensor(normal(N * 3 * S * S, 5), [N, 3, S, S], 'float32');
  const warnings: string[] = [];
  const onWarning = (w: string) => void warnings.push(w);
  await exportOnnx(m, { path: join(dir, 'dyn8.onnx'), size: S, dtype: 'int8', quantization: 'static', calibration: { images }, onWarning });
  assert.deepEqual(warnings, []);
  await exportOnnx(m, { path: join(dir, 'b1s8.onnx'), size: S, batch: 1, dtype: 'int8', quantization: 'static', calibration: { images: new Tensor(images.data.slice(0, 3 * S * S), [1, 3, S, S], 'float32') }, onWarning });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^static int8 with a fixed batch \(1\): ONNX Runtime fuses the Linear layers into Gemm .*export with a dynamic batch/);
});

test("int8 files fold ConvNeXt's layer scale into the Linear before it: no Mul left, logits as before the fold, int8 files close to fp32", async () => {
  const m = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [16, 32, 48, 64], num_classes: 5 });
  // Layer scales as training leaves them: of both signs and far from their 1e-6 init.
  const sd = m.stateDict();
  const rng = new Rng(4);
  const gammas = Object.keys(sd).filter((k) => k.endsWith('.gamma'));
  assert.equal(gammas.length, 4);
  for (const k of gammas) sd[k] = new Tensor(Float32Array.from(sd[k]!.data as Float32Array, () => rng.normal(0, 0.5)), sd[k]!.shape, 'float32');
  m.loadStateDict(sd);
  const f32 = join(dir, 'ls_f32.onnx');
  await exportOnnx(m, { path: f32, size: S });
  m.eval();
  const g = traceModel(m, [N, 3, S, S]).graph;
  g.inputs[0]!.name = 'pixel_values';
  const emitted = emitModel(g, { opset: 17 });
  const { model: folded, folded: names } = foldLayerScales(emitted);
  assert.deepEqual(names.sort(), gammas.sort());
  const muls = (o: OnnxModel) => o.nodes.filter((n) => n.opType === 'Mul').length;
  assert.equal(muls(folded), muls(emitted) - 4);
  assert.ok(!folded.initializers.some((i) => i.name.endsWith('.gamma')));
  const x = normal(N * 3 * S * S, 9);
  const feeds = { pixel_values: new ort.Tensor('float32', x, [N, 3, S, S]) };
  const ref = (await ortRun(f32, feeds)).logits!.data as Float32Array;
  const got = (await ortRun(serializeModel(folded).model, feeds)).logits!.data as Float32Array;
  const scale = Math.max(...ref.map(Math.abs));
  assert.ok(ref.every((v, i) => Math.abs(v - got[i]!) <= 1e-5 * scale), 'the folded fp32 graph gives the same logits');
  // Per-channel symmetric int8: γ moves into the scales, the int8 weights stay those of the unfolded weight.
  for (const dtype of [{ dtype: 'int8' as const }, { dtype: 'int8' as const, quantization: 'static' as const, calibration: { images: new Tensor(x, [N, 3, S, S], 'float32') } }]) {
    const path = join(dir, `ls_${dtype.quantization ?? 'dynamic'}.onnx`);
    await exportOnnx(m, { path, size: S, ...dtype });
    const info = readOnnxFile(path);
    assert.equal(info.nodes.filter((n) => n.opType === 'Mul' && n.inputs.some((i) => i.endsWith('.gamma'))).length, 0);
    assert.equal(JSON.parse(info.metadata.quantization!).layer_scales_folded, 4);
    const q = (await ortRun(path, feeds)).logits!.data as Float32Array;
    let [num, den] = [0, 0];
    for (let i = 0; i < ref.length; i++) (num += (ref[i]! - q[i]!) ** 2), (den += ref[i]! ** 2);
    assert.ok(Math.sqrt(num / den) < 0.1, `${dtype.quantization ?? 'dynamic'}: relative L2 ${Math.sqrt(num / den)} against fp32`);
  }
});
