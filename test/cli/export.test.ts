/**
 * `visionmix export` and `visionmix bench --onnx` (issue 24, points 1 and 6): a training run exports
 * with its classes, transform and the sha256 of its weights, and the file gives the run's model's
 * logits in onnxruntime-node; a registry model or family config exports with fp16 weights and a
 * static batch; `bench --onnx` times any exported file; mistakes are one-line errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { defaultEngine, Tensor } from '../../src/index.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN } from '../../src/data/fashion_mnist.js';
import { readOnnxFile } from '../../src/io/onnx_file.js';
import { runClassifier } from '../../src/tasks/classify.js';
import { trainJob } from '../../src/tasks/train.js';
import { Rng } from '../../src/util/rng.js';
import { runCli, STACK_FRAME } from '../helpers.js';
import { TINY_RUN_JOB } from '../fixtures/train_job.js';

const engine = defaultEngine();
const root = mkdtempSync(join(tmpdir(), 'visionmix-export-cli-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
const TINY = '{"depths":[1,1,1,1],"dims":[8,16,24,32],"num_classes":4}';

test('export --run: the run\'s classes, transform and weights hash; onnxruntime gives its logits; bench --onnx times it', async () => {
  const dir = join(root, 'run');
  await trainJob(engine, { ...TINY_RUN_JOB, out: dir });
  const out = join(root, 'run.onnx');
  const r = runCli(['export', '--run', dir, '-o', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { batch: string; inputs: { dims: unknown[] }[]; weights: string };
  assert.equal(res.batch, 'dynamic');
  assert.deepEqual(res.inputs[0]!.dims, ['batch', 1, 32, 32]);

  const md = readOnnxFile(out).metadata;
  assert.deepEqual(JSON.parse(md.labels!), [...FASHION_MNIST_CLASSES]);
  assert.deepEqual(JSON.parse(md.input_size!), [1, 32, 32]);
  assert.deepEqual(JSON.parse(md.mean!), [FASHION_MNIST_MEAN]);
  assert.match(JSON.parse(md.transform!).description, /zero-padded to 32x32/);
  assert.equal(md.weights_sha256, createHash('sha256').update(readFileSync(join(dir, 'model.safetensors'))).digest('hex'));

  const clf = await runClassifier(engine, dir);
  const rng = new Rng(5);
  const x = Float32Array.from({ length: 3 * 32 * 32 }, () => rng.normal(0, 1));
  const ref = (await clf.model.run(new Tensor(x, [3, 1, 32, 32], 'float32'))).logits.data as Float32Array;
  const s = await ort.InferenceSession.create(out);
  const got = (await s.run({ pixel_values: new ort.Tensor('float32', x, [3, 1, 32, 32]) })).logits!.data as Float32Array;
  await s.release();
  assert.ok(ref.every((v, i) => Math.abs(v - got[i]!) <= 1e-5));

  const b = runCli(['bench', '--onnx', out, '-b', '3', '--iters', '1', '--warmup', '0', '--threads', '1', '--json']);
  assert.equal(b.status, 0, b.stderr);
  const bench = JSON.parse(b.stdout) as { inputShape: number[]; batch: number; model: string; timing: { samplesMs: number[] } };
  assert.deepEqual(bench.inputShape, [3, 1, 32, 32]);
  assert.equal(bench.timing.samplesMs.length, 1);
  assert.equal(bench.model, 'convnextv2');
});

test('export -m FAMILY --config: fp16 weights, a static batch, features; bench --onnx refuses another batch', () => {
  const out = join(root, 'fam.onnx');
  const r = runCli(['export', '-m', 'convnext', '--config', TINY, '-o', out, '--size', '32', '--batch', '2', '--dtype', 'fp16', '--outputs', 'logits,features']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /random weights/);
  assert.match(r.stdout, /weights float16, opset 17, batch 2/);
  const info = readOnnxFile(out);
  assert.equal(info.metadata.weights_dtype, 'float16');
  assert.deepEqual(info.inputs[0]!.dims, [2, 3, 32, 32]);
  assert.deepEqual(info.outputs.map((o) => o.name), ['logits', 'features.0', 'features.1', 'features.2', 'features.3']);
  const b = runCli(['bench', '--onnx', out, '-b', '3', '--iters', '1']);
  assert.equal(b.status, 1);
  // int8 (dynamic quantization) from the command line, timed by bench --onnx.
  const q = join(root, 'fam_int8.onnx');
  const r8 = runCli(['export', '-m', 'convnext', '--config', TINY, '-o', q, '--size', '32', '--dtype', 'int8']);
  assert.equal(r8.status, 0, r8.stderr);
  assert.ok(readOnnxFile(q).nodes.some((n) => n.opType === 'MatMulInteger'));
  const b8 = runCli(['bench', '--onnx', q, '-b', '2', '--iters', '1', '--warmup', '0', '--threads', '1', '--json']);
  assert.equal(b8.status, 0, b8.stderr);
  assert.deepEqual((JSON.parse(b8.stdout) as { inputShape: number[] }).inputShape, [2, 3, 32, 32]);
  assert.match(b.stderr, /static batch of 2; --batch 3 cannot be fed/);
  assert.doesNotMatch(b.stderr, STACK_FRAME);
});

test('export --dtype int8 --quantization static: calibrated on Fashion-MNIST, a JSON report of every quantized layer, the worst printed', () => {
  const out = join(root, 'static.onnx');
  const report = join(root, 'int8.json');
  const args = ['export', '-m', 'convnext', '--config', TINY, '-o', out, '--size', '32', '--dtype', 'int8', '--quantization', 'static'];
  const r = runCli([...args, '--calibration', 'fashion-mnist:bundled', '--calibration-images', '6', '--calibration-method', 'percentile', '--report', report]);
  assert.equal(r.status, 0, r.stderr);
  const q = JSON.parse(readFileSync(report, 'utf8')) as { method: string; images: number; layers: { name: string; sensitivity: { relL2: number } }[]; float32: { name: string }[] };
  assert.equal(q.method, 'percentile');
  assert.equal(q.images, 6);
  // 3 downsamples, 4 depthwise convs, fc1 and fc2 of 4 blocks; the stem and the classifier stay float32.
  assert.equal(q.layers.length, 3 + 4 + 2 * 4);
  assert.deepEqual(q.float32.map((l) => l.name), ['stem.0', 'head.fc']);
  // convnext's layer scale starts at 1e-6: a block's layers alone may not move the logits at all.
  assert.ok(q.layers.every((l) => Number.isFinite(l.sensitivity.relL2) && l.sensitivity.relL2 >= 0));
  assert.match(r.stdout, /int8 static \(percentile 99\.99%, 6 images\): 15 layers quantized, 2 float32 \(stem\.0, head\.fc\)/);
  assert.match(r.stdout, /most sensitive layers \(quantized alone\):\n(    \S+ \((Conv|MatMul)\): relative L2 .*\n){5}/);
  assert.equal(JSON.parse(readOnnxFile(out).metadata.quantization!).calibration.images, 6);
});

test('export and bench --onnx: mistakes are one-line errors', () => {
  const cases: [string[], RegExp][] = [
    [['export', '-m', 'convnext_atto', '-o', join(root, 'x.txt')], /--out must name a .onnx file/],
    [['export', '-m', 'convnext_atto', '-o', join(root, 'x.onnx'), '--batch', 'many'], /--batch must be 'dynamic' or a positive integer/],
    [['export', '--run', root, '-m', 'convnext_atto', '-o', join(root, 'x.onnx')], /give --run DIR alone/],
    [['export', '-o', join(root, 'x.onnx')], /give --run DIR, or --model NAME/],
    [['export', '-m', 'convnext_atto', '--weights', join(root, 'none.safetensors'), '-o', join(root, 'x.onnx')], /not found/],
    [['export', '-m', 'convnext', '--config', TINY, '--pretrained', '-o', join(root, 'x.onnx')], /--pretrained needs a registry model or weight tag/],
    [['export', '-m', 'convnext', '--config', TINY, '-o', join(root, 'x.onnx'), '--dtype', 'int8', '--quantization', 'static'], /--quantization static needs --calibration DATA/],
    [['export', '-m', 'convnext', '--config', TINY, '-o', join(root, 'x.onnx'), '--dtype', 'fp16', '--quantization', 'static'], /--quantization applies to --dtype int8, not fp16/],
    [['export', '-m', 'convnext', '--config', TINY, '-o', join(root, 'x.onnx'), '--dtype', 'int8', '--calibration', 'fashion-mnist:bundled'], /--calibration is for --dtype int8 --quantization static/],
    [['export', '-m', 'convnext', '--config', TINY, '-o', join(root, 'x.onnx'), '--dtype', 'int8', '--quantization', 'static', '--calibration', join(root, 'nowhere')], /--calibration .*nowhere is neither fashion-mnist/],
    [['export', '-m', 'convnext', '--config', TINY, '-o', join(root, 'x.onnx'), '--dtype', 'int8', '--quantization', 'static', '--calibration', 'fashion-mnist:bundled', '--keep-fp32', 'stages.7'], /keepFloat: 'stages\.7' names no layer/],
    [['bench', '--onnx', join(root, 'missing.onnx')], /cannot read .*missing\.onnx/],
    [['bench', '--onnx', join(root, 'missing.onnx'), '-m', 'convnext_atto'], /give --model NAME or --onnx FILE/],
  ];
  for (const [args, message] of cases) {
    const r = runCli(args);
    assert.ok(r.status === 1 || r.status === 2, `${args.join(' ')}: status ${r.status}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, STACK_FRAME);
  }
  assert.ok(!existsSync(join(root, 'x.onnx')));
});
