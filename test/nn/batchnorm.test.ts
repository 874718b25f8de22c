/**
 * BatchNorm2d against a hand-written float64 reference of torch.nn.BatchNorm2d:
 *   train: y = (x − μ_B)/√(σ²_B + eps)·w + b, σ²_B biased (÷n), n = N·H·W per channel;
 *          running_mean ← (1−m)·rm + m·μ_B, running_var ← (1−m)·rv + m·σ²_B·n/(n−1),
 *          num_batches_tracked ← +1;
 *   eval:  y = (x − rm)/√(rv + eps)·w + b.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, gradients, toModelProto, withGraph, F, type Value } from '../../src/graph/index.js';
import { BatchNorm2d, Conv2d, Linear, Sequential, batchNorm2dTrain } from '../../src/nn/index.js';
import { VisionModel, type TracedOutputs } from '../../src/models/base.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor } from '../../src/tensor.js';
import { TrainStep } from '../../src/train/step.js';
import { sgd } from '../../src/train/optim.js';
import { crossEntropy, smoothedTargets } from '../../src/train/losses.js';
import { Rng } from '../../src/util/rng.js';
import { gradcheck, formatReport } from '../graph/gradcheck.js';
import { LinearHeadTestModel } from '../fixtures/linear_head_model.js';

// ---- float64 reference --------------------------------------------------------------------------

interface RefStats {
  y: Float64Array;
  mean: Float64Array;
  varBiased: Float64Array;
  varUnbiased: Float64Array;
}

/** torch's train-mode BatchNorm2d forward on NCHW data, in float64. */
function refTrain(x: ArrayLike<number>, shape: readonly number[], w: ArrayLike<number>, b: ArrayLike<number>, eps: number): RefStats {
  const [n, c, h, wd] = shape as [number, number, number, number];
  const hw = h * wd;
  const count = n * hw;
  const mean = new Float64Array(c);
  const varBiased = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < hw; j++) s += x[(i * c + ch) * hw + j]!;
    mean[ch] = s / count;
    let ss = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < hw; j++) {
        const d = x[(i * c + ch) * hw + j]! - mean[ch]!;
        ss += d * d;
      }
    varBiased[ch] = ss / count;
  }
  const varUnbiased = varBiased.map((v) => (v * count) / (count - 1));
  const y = new Float64Array(x.length);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++)
      for (let j = 0; j < hw; j++) {
        const k = (i * c + ch) * hw + j;
        y[k] = ((x[k]! - mean[ch]!) / Math.sqrt(varBiased[ch]! + eps)) * w[ch]! + b[ch]!;
      }
  return { y, mean, varBiased, varUnbiased };
}

/** torch's eval-mode BatchNorm2d forward (running statistics), in float64. */
function refEval(
  x: ArrayLike<number>,
  shape: readonly number[],
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  rm: ArrayLike<number>,
  rv: ArrayLike<number>,
  eps: number,
): Float64Array {
  const [, c, h, wd] = shape as [number, number, number, number];
  const hw = h * wd;
  return Float64Array.from(x, (v, k) => {
    const ch = Math.floor(k / hw) % c;
    return ((v - rm[ch]!) / Math.sqrt(rv[ch]! + eps)) * w[ch]! + b[ch]!;
  });
}

// ---- helpers --------------------------------------------------------------------------------------

function randomTensor(shape: number[], rng: Rng, mean = 0, std = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: n }, () => rng.normal(mean, std)), shape, 'float32');
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function assertClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  const d = maxAbsDiff(got, want);
  assert.ok(d <= tol, `${what}: max |diff| ${d.toExponential(2)} > ${tol}`);
}

/**
 * A BatchNorm2d with non-trivial affine parameters (ones/zeros would hide a swapped weight/bias or
 * a missing scale). Keys are assigned as for a root module: `weight`, `running_mean`, ….
 */
function makeBn(c: number, rng: Rng, opts: { eps?: number; momentum?: number } = {}): BatchNorm2d {
  const bn = new BatchNorm2d(c, opts);
  bn.weight.tensor = new Tensor(Float32Array.from({ length: c }, () => rng.uniform(0.5, 1.5)), [c], 'float32');
  bn.bias.tensor = randomTensor([c], rng, 0, 0.5);
  bn.bindKeys();
  return bn;
}

/** Trace `bn` on an input named 'x' of `shape`; outputs 'y' and, in train mode, 'new.<buffer>'. */
function traceBn(bn: BatchNorm2d, shape: number[], paramsAsInputs: boolean): Graph {
  const g = new Graph('bn');
  g.paramsAsInputs = paramsAsInputs;
  withGraph(g, () => {
    const y = bn.call(g.input('x', shape));
    g.markOutput(y, 'y');
    for (const [key, v] of g.bufferUpdates) g.markOutput(v, `new.${key}`);
  });
  return g;
}

const SHAPE = [4, 3, 5, 6];

// ---- tests ------------------------------------------------------------------------------------------

test('BatchNorm2d (a): train-mode forward equals the float64 reference', async () => {
  const rng = new Rng(1);
  const bn = makeBn(3, rng).train();
  // A channel offset and scale, so that mean and variance both matter.
  const x = randomTensor(SHAPE, rng, 2, 3);
  const s = await createNodeSession(toModelProto(traceBn(bn, SHAPE, false)), { label: 'bn train' });
  const out = await s.run({ x });
  const ref = refTrain(x.data as Float32Array, SHAPE, bn.weight.tensor.toArray(), bn.bias.tensor.toArray(), bn.eps);
  assertClose('y', out.y!.data as Float32Array, ref.y, 2e-6);
  await s.release();
});

test('BatchNorm2d (b): running statistics after 2 steps equal the reference (unbiased running_var)', async () => {
  const rng = new Rng(2);
  const eps = 1e-3;
  const momentum = 0.25;
  const bn = makeBn(3, rng, { eps, momentum }).train();
  const g = traceBn(bn, SHAPE, true);
  assert.deepEqual([...g.bufferUpdates.keys()].sort(), ['num_batches_tracked', 'running_mean', 'running_var']);
  assert.equal(g.bufferUpdates.get('num_batches_tracked')!.dtype, 'int64');
  const s = await createNodeSession(toModelProto(g), { label: 'bn train step' });

  const w = bn.weight.tensor.toArray();
  const b = bn.bias.tensor.toArray();
  let buffers: Record<string, Tensor> = {
    running_mean: bn.running_mean.tensor,
    running_var: bn.running_var.tensor,
    num_batches_tracked: bn.num_batches_tracked.tensor,
  };
  let rm: number[] = [0, 0, 0];
  let rv: number[] = [1, 1, 1];
  for (let step = 1; step <= 2; step++) {
    const x = randomTensor(SHAPE, rng, step, 1 + step);
    const out = await s.run({ x, weight: bn.weight.tensor, bias: bn.bias.tensor, ...buffers });
    const ref = refTrain(x.data as Float32Array, SHAPE, w, b, eps);
    rm = rm.map((v, c) => (1 - momentum) * v + momentum * ref.mean[c]!);
    rv = rv.map((v, c) => (1 - momentum) * v + momentum * ref.varUnbiased[c]!);
    assertClose(`step ${step} y`, out.y!.data as Float32Array, ref.y, 2e-6);
    assertClose(`step ${step} running_mean`, out['new.running_mean']!.data as Float32Array, rm, 1e-5);
    assertClose(`step ${step} running_var`, out['new.running_var']!.data as Float32Array, rv, 1e-5);
    const nbt = out['new.num_batches_tracked']!;
    assert.equal(nbt.dtype, 'int64');
    assert.deepEqual(nbt.shape, []);
    assert.equal((nbt.data as BigInt64Array)[0], BigInt(step));
    // Feed the new state back, as the train step does.
    buffers = {
      running_mean: out['new.running_mean']!,
      running_var: out['new.running_var']!,
      num_batches_tracked: nbt,
    };
  }
  // The 1e-5 tolerance separates the unbiased running_var from the biased one: with n = 120 they
  // differ by σ²/119 ≈ 1e-2 here (times the momentum), three orders above it.
  await s.release();
});

test('BatchNorm2d (c): eval-mode forward uses the running statistics and updates nothing', async () => {
  const rng = new Rng(3);
  const bn = makeBn(3, rng);
  bn.running_mean.tensor = randomTensor([3], rng, 0, 1);
  bn.running_var.tensor = new Tensor(Float32Array.from({ length: 3 }, () => rng.uniform(0.2, 4)), [3], 'float32');
  bn.eval();
  const g = traceBn(bn, SHAPE, false);
  assert.equal(g.bufferUpdates.size, 0, 'eval mode registers no buffer updates');
  const x = randomTensor(SHAPE, rng, 1, 2);
  const s = await createNodeSession(toModelProto(g), { label: 'bn eval' });
  const out = await s.run({ x });
  const ref = refEval(
    x.data as Float32Array,
    SHAPE,
    bn.weight.tensor.toArray(),
    bn.bias.tensor.toArray(),
    bn.running_mean.tensor.toArray(),
    bn.running_var.tensor.toArray(),
    bn.eps,
  );
  assertClose('y', out.y!.data as Float32Array, ref, 5e-6);
  await s.release();
});

// ---- a minimal reader for the op types of an ONNX model (to inspect ORT's optimised graph) -------

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const byte = buf[pos++]!;
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return [v, pos];
    mul *= 128;
  }
}

/** Length-delimited fields `field` of a protobuf message, as sub-arrays. */
function messageFields(buf: Uint8Array, field: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < buf.length) {
    let key: number;
    [key, pos] = readVarint(buf, pos);
    const wire = key & 7;
    if (wire === 0) [, pos] = readVarint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(buf, pos);
      if (key >>> 3 === field) out.push(buf.subarray(pos, pos + len));
      pos += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return out;
}

/** op_type of every node of ModelProto.graph (graph = field 7, node = 1, op_type = 4). */
function opTypes(model: Uint8Array): string[] {
  const graph = messageFields(model, 7)[0]!;
  return messageFields(graph, 1).map((n) => new TextDecoder().decode(messageFields(n, 4)[0]));
}

test('BatchNorm2d (c): in eval mode ORT folds it into the preceding Conv', async () => {
  const rng = new Rng(4);
  const conv = new Conv2d(3, 4, 3, { padding: 1 });
  const bn = makeBn(4, rng);
  bn.running_mean.tensor = randomTensor([4], rng);
  bn.running_var.tensor = new Tensor(Float32Array.from({ length: 4 }, () => rng.uniform(0.5, 2)), [4], 'float32');
  const net = new Sequential(conv, bn).eval();
  net.bindKeys(); // keys 0.weight, 1.running_mean, …
  const g = new Graph('conv_bn');
  withGraph(g, () => g.markOutput(net.call(g.input('x', [2, 3, 6, 6])), 'y'));
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-bn-'));
  try {
    const path = join(dir, 'optimized.onnx');
    // 'basic' = ORT level 1: constant folding plus the Conv+Mul / Conv+Add fusions, without the
    // layout transforms of higher levels that would obscure the node list.
    const bytes = toModelProto(g);
    const folded = await createNodeSession(bytes, { optimization: 'basic', optimizedModelPath: path, label: 'conv+bn' });
    const ops = opTypes(readFileSync(path));
    assert.deepEqual(ops, ['Conv'], `optimised graph should be a single Conv, got [${ops.join(', ')}]`);
    // …and the folded Conv computes what the unoptimised Conv → Mul → Add does.
    const plain = await createNodeSession(bytes, { optimization: 'disabled', label: 'conv+bn unoptimised' });
    const x = randomTensor([2, 3, 6, 6], rng);
    const [a, b] = [(await folded.run({ x })).y!, (await plain.run({ x })).y!];
    assertClose('folded vs unfolded', a.data as Float32Array, b.data as Float32Array, 1e-5);
    await folded.release();
    await plain.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BatchNorm2d (d): numerical gradient w.r.t. x, weight and bias (train mode, float64)', async (t) => {
  const report = await gradcheck(
    'BatchNorm2d train',
    [{ shape: [3, 2, 3, 4], init: (r) => r.normal(1, 2) }, { shape: [2], init: (r) => r.uniform(0.5, 1.5) }, { shape: [2] }],
    (x, w, b) => batchNorm2dTrain(x!, w!, b!, 1e-5).y,
    { maxChecks: 72 },
  );
  t.diagnostic(formatReport(report));
});

test('BatchNorm2d (d): the module in a train graph is differentiable w.r.t. input, weight and bias', () => {
  const bn = makeBn(3, new Rng(5)).train();
  const g = new Graph('bn_grad');
  g.paramsAsInputs = true;
  withGraph(g, () => {
    const x = g.input('x', SHAPE);
    const y = bn.call(x);
    const loss = F.reduceSum(F.mul(y, y));
    const params = g.parameterValues();
    const grads = gradients(loss, [x, params.get('weight')!, params.get('bias')!]);
    grads.forEach((gv, i) => assert.ok(gv, `gradient ${['x', 'weight', 'bias'][i]} exists`));
  });
});

test('BatchNorm2d (e): state-dict keys, shapes and dtypes match torch', () => {
  const bn = new BatchNorm2d(7);
  const sd = bn.stateDict();
  assert.deepEqual(
    Object.entries(sd).map(([k, t]) => [k, t.shape, t.dtype]),
    [
      ['weight', [7], 'float32'],
      ['bias', [7], 'float32'],
      ['running_mean', [7], 'float32'],
      ['running_var', [7], 'float32'],
      ['num_batches_tracked', [], 'int64'],
    ],
  );
  assert.deepEqual(sd.weight!.toArray(), new Array(7).fill(1));
  assert.deepEqual(sd.bias!.toArray(), new Array(7).fill(0));
  assert.deepEqual(sd.running_mean!.toArray(), new Array(7).fill(0));
  assert.deepEqual(sd.running_var!.toArray(), new Array(7).fill(1));
  assert.deepEqual(sd.num_batches_tracked!.toArray(), [0]);
  // Only weight and bias are trainable, and (being 1-D) exempt from weight decay by default.
  assert.deepEqual(bn.namedParameters().map(([k, p]) => [k, p.noWeightDecay]), [['weight', true], ['bias', true]]);

  // A torch checkpoint loads strictly, num_batches_tracked as a 0-d int64 tensor.
  const loaded = new BatchNorm2d(7);
  loaded.loadStateDict({
    ...sd,
    running_var: new Tensor(new Float32Array(7).fill(2), [7], 'float32'),
    num_batches_tracked: new Tensor(BigInt64Array.of(42n), [], 'int64'),
  });
  assert.deepEqual(loaded.stateDict().num_batches_tracked!.toArray(), [42]);
  assert.equal(loaded.stateDict().num_batches_tracked!.dtype, 'int64');
  assert.deepEqual(loaded.stateDict().running_var!.toArray(), new Array(7).fill(2));

  // A checkpoint without num_batches_tracked (older torch, golden files) still loads strictly; the
  // counter keeps its value. Any other missing buffer is still an error.
  const { num_batches_tracked: _n, ...withoutCounter } = sd;
  const again = new BatchNorm2d(7);
  assert.deepEqual(again.loadStateDict(withoutCounter).missing, []);
  assert.deepEqual(again.stateDict().num_batches_tracked!.toArray(), [0]);
  const { running_mean: _m, ...withoutMean } = sd;
  assert.throws(() => new BatchNorm2d(7).loadStateDict(withoutMean), /missing keys \(1\): running_mean/);
});

test('BatchNorm2d: keys inside a model follow the module path', () => {
  const outer = new (class extends Linear {
    norm = new BatchNorm2d(4);
  })(4, 2);
  assert.deepEqual(Object.keys(outer.stateDict()), [
    'weight',
    'bias',
    'norm.weight',
    'norm.bias',
    'norm.running_mean',
    'norm.running_var',
    'norm.num_batches_tracked',
  ]);
});

// ---- BatchNorm inside a compiled train step ---------------------------------------------------------

/** BatchNorm2d on the raw input → global average pool → Linear: the smallest model with BN. */
class TinyBnNet extends LinearHeadTestModel {
  readonly family = 'tiny_bn';
  readonly numClasses = 3;
  readonly defaultInputSize: [number, number, number] = [2, 4, 4];
  bn = new BatchNorm2d(2);
  head = new Linear(2, 3);

  forwardTraced(x: Value): TracedOutputs {
    const y = this.bn.call(x);
    const pooled = F.reshape(F.globalAvgPool(y), [x.shape[0]!, 2]);
    return { logits: this.head.call(pooled), features: [y] };
  }
}

test('BatchNorm2d in a TrainStep: running statistics and their EMA are updated (int64 counter included)', async () => {
  const rng = new Rng(6);
  const model = new TinyBnNet();
  model.bn.weight.tensor = new Tensor(Float32Array.of(1.2, 0.8), [2], 'float32');
  model.train();
  const shape = [3, 2, 4, 4];
  const decay = 0.9;
  const step = await TrainStep.compile(model, crossEntropy(), { optimizer: sgd({ momentum: 0.9 }), batchShape: shape, emaDecay: decay }, (bytes, label) =>
    createNodeSession(bytes, { label }),
  );
  assert.deepEqual([...step.bufferKeys].sort(), ['bn.num_batches_tracked', 'bn.running_mean', 'bn.running_var']);
  const x = randomTensor(shape, rng, 0.5, 2);
  const labels = Int32Array.of(0, 2, 1);
  await step.step(x, new Tensor(smoothedTargets(labels, 3), [labels.length, 3], 'float32'), 0.1, rng);
  const st = step.getState();
  const ref = refTrain(x.data as Float32Array, shape, [1.2, 0.8], [0, 0], 1e-5);
  const rm = Array.from(ref.mean, (m) => 0.1 * m);
  const rv = Array.from(ref.varUnbiased, (v) => 0.9 + 0.1 * v);
  assertClose('running_mean', st.buffers.get('bn.running_mean')!.data as Float32Array, rm, 1e-6);
  assertClose('running_var', st.buffers.get('bn.running_var')!.data as Float32Array, rv, 1e-6);
  assert.deepEqual(st.buffers.get('bn.num_batches_tracked')!.toArray(), [1]);
  // EMA of the float buffers: decay·initial + (1 − decay)·new. The int64 counter is copied.
  assertClose('ema running_mean', st.ema.get('bn.running_mean')!.data as Float32Array, rm.map((v) => (1 - decay) * v), 1e-6);
  assertClose(
    'ema running_var',
    st.ema.get('bn.running_var')!.data as Float32Array,
    rv.map((v) => decay + (1 - decay) * v),
    1e-6,
  );
  const emaCount = st.ema.get('bn.num_batches_tracked')!;
  assert.equal(emaCount.dtype, 'int64');
  assert.deepEqual(emaCount.toArray(), [1]);
  // Syncing back puts the new statistics into the model's state dict.
  step.syncToModel();
  assert.deepEqual(model.stateDict()['bn.num_batches_tracked']!.toArray(), [1]);
  await step.release();
});
