/**
 * Convs on ONNX Runtime's NCHWc kernels (graph/ops/conv_nchwc.ts): what train steps on
 * onnxruntime-node's CPU EP emit for depthwise and dense k×k convs with fed weights — the forward,
 * the input gradient (a conv with the flipped kernel) and, for depthwise convs, the weight gradient
 * (a depthwise conv over the (image, channel) pairs). Each is checked against the same graph emitted
 * as standard ONNX.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, gradients, withGraph, F } from '../../src/graph/index.js';
import { emitModel, NCHWC_DOMAIN, serializeModel } from '../../src/graph/emit.js';
import { createNodeSession, nchwcBlockSize } from '../../src/runtime/node.js';
import { Tensor } from '../../src/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { createModel } from '../../src/index.js';
import { compileTrainStep } from '../../src/train_entry.js';
import type { TrainStepCompileOptions } from '../../src/tasks/engine.js';
import { adamw } from '../../src/train/optim.js';
import { crossEntropy } from '../../src/train/losses.js';

const cases = [
  // Channels not a multiple of the block (padded), bias, a 7×7 kernel as in ConvNeXt.
  { name: 'depthwise 7×7 p3, 20 channels, bias', x: [3, 20, 12, 12], w: [20, 1, 7, 7], o: { padding: 3, groups: 20 }, bias: true, nchwcConvs: 3 },
  // Stride 2 (MobileNetV2's downsampling blocks): only the forward — dx is a ConvTranspose, and the
  // weight gradient's conv is dilated by the stride.
  { name: 'depthwise 3×3 s2 p1, 24 channels', x: [2, 24, 9, 9], w: [24, 1, 3, 3], o: { padding: 1, stride: 2, groups: 24 }, bias: false, nchwcConvs: 1 },
  { name: 'depthwise 5×5 asymmetric pads, 8 channels, bias', x: [2, 8, 11, 10], w: [8, 1, 5, 5], o: { padding: [2, 1, 1, 3] as [number, number, number, number], groups: 8 }, bias: true, nchwcConvs: 3 },
  // Dense k×k: the forward and dx (a conv with the flipped, transposed kernel); dW is an im2col MatMul.
  { name: 'dense 3×3 p1, 12 → 20 channels, bias', x: [2, 12, 6, 6], w: [20, 12, 3, 3], o: { padding: 1 }, bias: true, nchwcConvs: 2 },
  { name: 'dense 3×2 asymmetric pads, 8 → 8 channels', x: [2, 8, 7, 6], w: [8, 8, 3, 2], o: { padding: [1, 0, 1, 1] as [number, number, number, number] }, bias: false, nchwcConvs: 2 },
  // A graph traced for NCHWc kernels (Graph.nchwcBlock) takes dense dW on maps up to 8² at batches of
  // 4k as a conv with the images as channels: compared with the im2col dW of the graph traced without.
  { name: 'dense 3×3 p1 on a 4×4 map, batch 4, 12 → 20 channels, bias', x: [4, 12, 4, 4], w: [20, 12, 3, 3], o: { padding: 1 }, bias: true, nchwcConvs: 3 },
  // 1×1 convs stay ONNX Convs (no gain measured).
  { name: 'dense 1×1, 8 → 16 channels', x: [2, 8, 5, 5], w: [16, 8, 1, 1], o: {}, bias: true, nchwcConvs: 0 },
];

test('convs with fed weights on the NCHWc kernels: forward, dx, dW and db equal the standard ONNX graph\'s', async (t) => {
  const block = await nchwcBlockSize();
  if (block === 0) return t.skip('ONNX Runtime has no NCHWc kernels on this CPU: the emission is never chosen here');
  const rng = new Rng(5);
  const random = (shape: readonly number[]) => new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()), shape, 'float32');
  for (const c of cases) {
    const wShape = c.w;
    const o1 = c.w[0]!;
    const build = (nchwcBlock: number): Graph => {
      const g = new Graph();
      g.nchwcBlock = nchwcBlock;
      const zeros = (shape: readonly number[]) => new Tensor(new Float32Array(shape.reduce((a, b) => a * b)), shape, 'float32');
      withGraph(g, () => {
        const x = g.input('x', c.x, 'float32');
        const w = g.param('w', { shape: wShape, dtype: 'float32', tensor: zeros(wShape) }, true);
        const b = c.bias ? g.param('b', { shape: [o1], dtype: 'float32', tensor: zeros([o1]) }, true) : null;
        const y = F.conv2d(x, w, b, c.o);
        const r = g.input('r', y.shape, 'float32');
        const grads = gradients(F.reduceSum(F.mul(y, r)), [x, w, ...(b ? [b] : [])]);
        g.markOutput(y, 'y');
        for (const [i, name] of ['dx', 'dw', 'db'].slice(0, grads.length).entries()) g.markOutput(grads[i]!, name);
      });
      return g;
    };
    const g = build(0);
    const blocked = emitModel(build(block), { nchwcBlock: block });
    const nchwcConvs = blocked.nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv').length;
    assert.equal(nchwcConvs, c.nchwcConvs, `${c.name}: NCHWc convs emitted`);
    assert.equal(blocked.domains[NCHWC_DOMAIN], c.nchwcConvs > 0 ? 1 : undefined);
    const standard = emitModel(g);
    assert.ok(!standard.nodes.some((n) => n.domain === NCHWC_DOMAIN) && !(NCHWC_DOMAIN in standard.domains), 'standard ONNX without the option');

    const feeds: Record<string, Tensor> = { x: random(c.x), w: random(wShape), r: random(g.outputs[0]!.shape) };
    if (c.bias) feeds.b = random([o1]);
    const [a, s] = await Promise.all([blocked, standard].map(async (m) => (await createNodeSession(serializeModel(m).model)).run(feeds)));
    for (const name of Object.keys(a!)) {
      const [p, q] = [a![name]!.data as Float32Array, s![name]!.data as Float32Array];
      const scale = q.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
      const worst = p.reduce((m, v, i) => Math.max(m, Math.abs(v - q[i]!)), 0);
      assert.ok(worst <= 1e-5 * scale, `${c.name}: ${name} differs by ${worst} (scale ${scale})`);
    }
  }
});

test('the NCHWc block probe reads a block of at least 8 channels, or 0 where ORT has no NCHWc kernels', async () => {
  const block = await nchwcBlockSize();
  assert.ok(block === 0 || (block >= 8 && block % 8 === 0), `block ${block}`);
  assert.equal(await nchwcBlockSize(), block, 'read once per process');
});

test('convs whose weights ORT folds from initializers (inference graphs) keep ONNX Conv: ORT\'s own NCHWc rewrite takes them', () => {
  // A kernel scaled per output channel, as inference graphs fold BatchNorm into convs: known at build time.
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [2, 16, 12, 12], 'float32');
    const w = g.param('w', { shape: [16, 1, 3, 3], dtype: 'float32', tensor: new Tensor(new Float32Array(144), [16, 1, 3, 3], 'float32') }, false);
    const scale = F.constant(new Tensor(new Float32Array(16).fill(2), [16, 1, 1, 1], 'float32'));
    g.markOutput(F.conv2d(x, F.mul(w, scale), null, { padding: 1, groups: 16 }), 'y');
  });
  assert.ok(!emitModel(g, { nchwcBlock: 16 }).nodes.some((n) => n.domain === NCHWC_DOMAIN));
});

test('compileTrainStep takes the NCHWc block from the engine\'s runtime: a caller\'s value cannot reach the step', async () => {
  // A wrong block lays the weights out for other kernels (wrong numbers) or names kernels ORT lacks.
  const block = await nchwcBlockSize();
  const wrong = block > 0 ? 2 * block : 16;
  const spec = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [16, 32, 64, 128], in_chans: 1, num_classes: 10 } as const;
  const x = new Tensor(Float32Array.from({ length: 4 * 64 * 64 }, (_, i) => Math.sin(i)), [4, 1, 64, 64], 'float32');
  const labels = Int32Array.from([0, 1, 2, 3]);
  const results = [];
  for (const extra of [{}, { nchwcBlock: wrong }]) {
    const step = await compileTrainStep(createModel(spec), crossEntropy(), { optimizer: adamw(), batchShape: [4, 1, 64, 64], ...extra } as TrainStepCompileOptions);
    results.push(await step.step(x, labels, 1e-3, new Rng(0)));
    await step.release();
  }
  assert.equal(results[1]!.loss, results[0]!.loss);
  assert.equal(results[1]!.gradNorm, results[0]!.gradNorm);
});
