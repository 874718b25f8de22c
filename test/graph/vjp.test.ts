/**
 * Numerical gradient checks of every differentiable op (see gradcheck.ts), plus forward checks of the
 * Resize interpolation matrices, of the GEMV form of large reductions, and of which formulation each
 * conv shape gets. Each check declares the op types it covers (gradcheck fails if its graph does not
 * reach them); the last tests require a check for every op in the registry that has a VJP rule.
 *
 * ORT's CPU provider has no float64 kernel for Erf (so Gelu), Conv, ConvTranspose, AveragePool or
 * Resize: those are checked in float32. Conv, ConvTranspose, AveragePool and Resize are linear in
 * each input, so central differences are exact for any step and a large step (0.5) keeps float32
 * rounding small; Erf/Gelu use a 3e-3 step.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError } from '../../src/errors.js';
import { Emitter, Graph, defineOp, gradients, registeredOps, toModelProto, withGraph, F, type Value } from '../../src/graph/index.js';
import { emitModel, onnxOpCounts } from '../../src/graph/emit.js';
import { resizeMatrix } from '../../src/graph/ops/index.js';
import type { ConvAttrs, PoolAttrs, ResizeAttrs } from '../../src/graph/ops/index.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor } from '../../src/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { formatReport, gradcheck, type GradcheckOptions, type GradInput } from './gradcheck.js';

/** The ops (registry names) whose VJP a check below passed on; the last test compares them with the registry. */
const checkedOps = new Set<string>();

/**
 * Check the VJP rule of `ops` (the op types the check is for: gradcheck fails unless `build` traces
 * each of them on the way to its outputs) on the case `name`.
 */
async function check(
  t: TestContext,
  ops: string | readonly string[],
  name: string,
  inputs: GradInput[],
  build: (...xs: Value[]) => Value | Value[],
  opts?: GradcheckOptions,
): Promise<void> {
  const declared = typeof ops === 'string' ? [ops] : ops;
  const r = await gradcheck(name, inputs, build, { ...opts, ops: declared });
  t.diagnostic(formatReport(r));
  for (const o of declared) checkedOps.add(o);
}

const positive = (rng: Rng): number => rng.uniform(0.5, 2);
const awayFromZero = (rng: Rng): number => (rng.random() < 0.5 ? -1 : 1) * rng.uniform(0.5, 2);
/** Linear-in-each-input float32 ops: exact central differences with a big step. */
const LIN32: GradcheckOptions = { dtype: 'float32', eps: 0.5, tol: 1e-4 };
/** Smooth nonlinear float32 ops. */
const SMOOTH32: GradcheckOptions = { dtype: 'float32', eps: 3e-3, tol: 2e-3 };

const s = (...shape: number[]): GradInput => ({ shape });

// ---- elementwise binary (with broadcasting) ------------------------------------------------------

test('Add/Sub/Mul/Div with broadcasting', async (t) => {
  await check(t, 'Add', 'Add', [s(2, 3, 4), s(3, 1)], (a, b) => F.add(a!, b!));
  await check(t, 'Sub', 'Sub', [s(4), s(2, 3, 4)], (a, b) => F.sub(a!, b!));
  await check(t, 'Mul', 'Mul', [s(2, 1, 4), s(3, 1)], (a, b) => F.mul(a!, b!));
  await check(t, 'Div', 'Div', [s(2, 3, 4), { shape: [1, 3, 1], init: awayFromZero }], (a, b) => F.div(a!, b!));
  await check(t, 'Div', 'Div (scalar numerator)', [{ shape: [5], init: awayFromZero }], (b) => F.div(2, b!));
  // x·x (a squared error): its own VJP form, one product with 2x.
  await check(t, 'Mul', 'Mul (square)', [s(3, 4)], (a) => F.mul(a!, a!));
});

test('the gradient of x·x is one product with 2x (no sum of two equal products)', () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [3, 4], 'float32');
    const start = g.nodes.length;
    gradients(F.reduceSum(F.mul(F.mul(x, x), g.input('w', [3, 4], 'float32'))), [x]);
    const ops = g.nodes.slice(start).map((n) => n.op.type);
    assert.ok(!g.nodes.slice(start).some((n) => n.op.type === 'Add' && n.inputs[0] === n.inputs[1]), `${ops}`);
    assert.equal(ops.filter((o) => o === 'Add').length, 0, `${ops}`);
  });
});

test('an Expand feeding Add/Sub/Mul/Div is read at its source (broadcast), with the same values; Sub negates a broadcast gradient after summing it', async () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [2, 3, 4, 4], 'float32');
    const y = g.input('y', [2, 3, 4, 4], 'float32');
    const b = g.input('b', [1, 3, 1, 1], 'float32');
    // A reduction's gradient is an Expand; here it meets Add (two uses of x) and then Mul.
    const loss = F.add(F.reduceSum(F.mul(F.reduceMean(x, [2, 3], true), y)), F.reduceSum(F.mul(F.sub(x, b), y)));
    const [dx, db] = gradients(loss, [x, b]);
    g.markOutput(F.mul(F.expand(b, [2, 3, 4, 4]), y), 'scaled');
    g.markOutput(dx!, 'dx');
    g.markOutput(db!, 'db');
    const negs = g.nodes.filter((n) => n.op.type === 'Neg');
    assert.deepEqual(negs.map((n) => n.outputs[0]!.shape), [[1, 3, 1, 1]], 'Neg on the summed gradient of b, not on dy');
  });
  assert.ok(!onnxOpCounts(g).has('Expand'), `no Expand emitted: ${[...onnxOpCounts(g).keys()]}`);
  const rng = new Rng(3);
  const feed = (shape: number[]) => new Tensor(Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => rng.normal()), shape, 'float32');
  const [x, y, b] = [feed([2, 3, 4, 4]), feed([2, 3, 4, 4]), feed([1, 3, 1, 1])];
  const out = await (await createNodeSession(toModelProto(g))).run({ x, y, b });
  const [yd, bd] = [y.data as Float32Array, b.data as Float32Array];
  const scaled = out.scaled!.data as Float32Array;
  const dx = out.dx!.data as Float32Array;
  for (let i = 0; i < 96; i++) {
    const c = Math.floor(i / 16) % 3;
    const img = Math.floor(i / 48);
    assert.equal(scaled[i], Math.fround(bd[c]! * yd[i]!));
    // dx = mean over the map of y (per image and channel) / 16 … plus y itself.
    let sumY = 0;
    for (let j = 0; j < 16; j++) sumY += yd[img * 48 + c * 16 + j]!;
    assert.ok(Math.abs(dx[i]! - (sumY / 16 + yd[i]!)) < 1e-5);
  }
  const db = out.db!.data as Float32Array;
  for (let c = 0; c < 3; c++) {
    let sumY = 0;
    for (let i = 0; i < 96; i++) if (Math.floor(i / 16) % 3 === c) sumY += yd[i]!;
    assert.ok(Math.abs(db[c]! + sumY) < 1e-4, `db[${c}]`);
  }
});

test('Max/Min with broadcasting', async (t) => {
  await check(t, 'Max', 'Max', [s(2, 3, 4), s(3, 1)], (a, b) => F.maximum(a!, b!));
  await check(t, 'Min', 'Min', [s(4), s(2, 3, 4)], (a, b) => F.minimum(a!, b!));
  await check(t, 'Max', 'Max (scalar)', [s(3, 4)], (a) => F.maximum(a!, 0.1));
});

test('Where with broadcasting', async (t) => {
  const cond: GradInput = { shape: [3, 1], dtype: 'bool', values: [1, 0, 1] };
  await check(t, 'Where', 'Where', [cond, s(2, 3, 4), s(4)], (c, a, b) => F.where(c!, a!, b!));
});

// ---- elementwise unary ----------------------------------------------------------------------------

test('unary ops', async (t) => {
  await check(t, 'Neg', 'Neg', [s(3, 4)], (x) => F.neg(x!));
  await check(t, 'Exp', 'Exp', [s(3, 4)], (x) => F.exp(x!));
  await check(t, 'Log', 'Log', [{ shape: [3, 4], init: positive }], (x) => F.log(x!));
  await check(t, 'Sqrt', 'Sqrt', [{ shape: [3, 4], init: positive }], (x) => F.sqrt(x!));
  await check(t, 'Reciprocal', 'Reciprocal', [{ shape: [3, 4], init: awayFromZero }], (x) => F.reciprocal(x!));
  await check(t, 'Sigmoid', 'Sigmoid', [s(3, 4)], (x) => F.sigmoid(x!));
  await check(t, 'Tanh', 'Tanh', [s(3, 4)], (x) => F.tanh(x!));
  await check(t, 'Relu', 'Relu', [s(3, 4)], (x) => F.relu(x!));
  await check(t, 'Abs', 'Abs', [s(3, 4)], (x) => F.abs(x!));
  await check(t, 'Identity', 'Identity', [s(3, 4)], (x) => F.identity(x!));
});

test('Pow with constant exponents', async (t) => {
  await check(t, 'Pow', 'Pow 3', [s(3, 4)], (x) => F.pow(x!, 3));
  await check(t, 'Pow', 'Pow 2', [s(3, 4)], (x) => F.pow(x!, 2));
  await check(t, 'Pow', 'Pow 0.5', [{ shape: [3, 4], init: positive }], (x) => F.pow(x!, 0.5));
  await check(t, 'Pow', 'Pow -1.5', [{ shape: [3, 4], init: positive }], (x) => F.pow(x!, -1.5));
});

test('Erf and Gelu (float32: ORT has no double Erf)', async (t) => {
  await check(t, 'Erf', 'Erf', [s(3, 5)], (x) => F.erf(x!), SMOOTH32);
  await check(t, 'Gelu', 'Gelu', [{ shape: [3, 5], init: (r) => r.normal(0, 2) }], (x) => F.gelu(x!), SMOOTH32);
  // Far tails: the backward's exp(x²/2) overflows to ∞ beyond |x| ≈ 13.3; the gradient must be 0 / 1.
  const tails = [-40, -20, -13.5, -13, -8, 8, 13, 13.5, 20, 40];
  await check(t, 'Gelu', 'Gelu tails', [{ shape: [tails.length], values: tails }], (x) => F.gelu(x!), SMOOTH32);
});

test('Cast both ways', async (t) => {
  // float32 → float64: the nonlinear part runs in double.
  await check(t, 'Cast', 'Cast f32→f64', [{ shape: [3, 4], dtype: 'float32' }], (x) => F.tanh(F.cast(x!, 'float64')), {
    eps: 1e-3,
    tol: 1e-5,
  });
  // float64 → float32: linear afterwards, so a big step is exact up to float32 output rounding.
  await check(t, 'Cast', 'Cast f64→f32', [s(3, 4)], (x) => F.mul(F.cast(x!, 'float32'), 3), { eps: 0.25, tol: 1e-5 });
});

// ---- softmax & reductions -------------------------------------------------------------------------

test('Softmax and LogSoftmax', async (t) => {
  await check(t, 'Softmax', 'Softmax axis -1', [s(2, 3, 5)], (x) => F.softmax(x!, -1));
  await check(t, 'Softmax', 'Softmax axis 1', [s(2, 3, 5)], (x) => F.softmax(x!, 1));
  await check(t, 'LogSoftmax', 'LogSoftmax axis -1', [s(2, 3, 5)], (x) => F.logSoftmax(x!, -1));
  await check(t, 'LogSoftmax', 'LogSoftmax axis 0', [s(4, 3)], (x) => F.logSoftmax(x!, 0));
});

test('ReduceSum/Mean/Max/SumSquare, keepdims both ways', async (t) => {
  for (const keep of [true, false]) {
    await check(t, 'ReduceSum', `ReduceSum [1] keep=${keep}`, [s(2, 3, 4)], (x) => F.reduceSum(x!, [1], keep));
    await check(t, 'ReduceSum', `ReduceSum all keep=${keep}`, [s(2, 3, 4)], (x) => F.reduceSum(x!, undefined, keep));
    await check(t, 'ReduceMean', `ReduceMean [0,2] keep=${keep}`, [s(2, 3, 4)], (x) => F.reduceMean(x!, [0, 2], keep));
    await check(t, 'ReduceMax', `ReduceMax [-1] keep=${keep}`, [s(2, 3, 4)], (x) => F.reduceMax(x!, [-1], keep));
    await check(t, 'ReduceSumSquare', `ReduceSumSquare [1,2] keep=${keep}`, [s(2, 3, 4)], (x) => F.reduceSumSquare(x!, [1, 2], keep));
  }
  // Large tensors summed over middle axes are emitted as a ones-GEMV instead (≥ 65536 elements).
  for (const keep of [true, false]) {
    await check(t, 'ReduceSum', `ReduceSum [1,2] as GEMV keep=${keep}`, [s(2, 64, 64, 9)], (x) => F.reduceSum(x!, [1, 2], keep));
    await check(t, 'ReduceMean', `ReduceMean [0,1] as GEMV keep=${keep}`, [s(2, 64, 64, 9)], (x) => F.reduceMean(x!, [0, 1], keep));
    await check(t, 'ReduceSumSquare', `ReduceSumSquare [1,2] as GEMV keep=${keep}`, [s(2, 64, 64, 9)], (x) =>
      F.reduceSumSquare(x!, [1, 2], keep),
    );
  }
  // An empty axis list reduces nothing (ONNX would reduce everything).
  await check(t, 'ReduceSum', 'ReduceSum []', [s(2, 3)], (x) => F.reduceSum(x!, []));
  await check(t, 'ReduceSumSquare', 'ReduceSumSquare []', [s(2, 3)], (x) => F.reduceSumSquare(x!, []));
});

test('sums over middle axes of large tensors are emitted as a ones-GEMV', () => {
  // The ONNX node types one traced reduction emits.
  const emitted = (shape: number[], reduce: (x: Value) => Value): string[] => {
    const g = new Graph();
    return withGraph(g, () => {
      reduce(g.input('x', shape, 'float32'));
      const n = g.nodes[g.nodes.length - 1]!;
      const e = new Emitter(17);
      n.op.emit(e, n);
      return e.nodes.map((x) => x.opType);
    });
  };
  const big = [2, 64, 64, 9];
  assert.deepEqual(emitted(big, (x) => F.reduceSum(x, [1, 2], true)), ['Reshape', 'MatMul', 'Reshape']);
  assert.deepEqual(emitted(big, (x) => F.reduceMean(x, [0, 1])), ['Reshape', 'MatMul', 'Reshape']);
  assert.deepEqual(emitted(big, (x) => F.reduceSumSquare(x, [1, 2], true)), ['Mul', 'Reshape', 'MatMul', 'Reshape']);
  // Innermost axis, small tensors and maxima keep the plain reduction.
  assert.deepEqual(emitted(big, (x) => F.reduceSum(x, [3])), ['ReduceSum']);
  assert.deepEqual(emitted([2, 3, 4, 5], (x) => F.reduceSumSquare(x, [1, 2], true)), ['ReduceSumSquare']);
  assert.deepEqual(emitted(big, (x) => F.reduceMax(x, [1, 2])), ['ReduceMax']);
});

test('a sum or mean over size-1 axes and others is taken over the others ([N, C, 1, 1] summed over N: a GEMV), shapes kept', async () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [256, 512, 1, 1], 'float64');
    const keep = F.reduceSum(x, [0, 2, 3], true);
    const drop = F.reduceMean(x, [0, 3]);
    assert.deepEqual([keep.shape, drop.shape], [[1, 512, 1, 1], [512, 1]]);
    g.markOutput(keep, 'keep');
    g.markOutput(drop, 'drop');
  });
  const ops = [...onnxOpCounts(g).keys()];
  assert.ok(ops.includes('MatMul') && !ops.some((o) => o.startsWith('Reduce')), `${ops}`);
  const rng = new Rng(5);
  const x = new Tensor(Float64Array.from({ length: 256 * 512 }, () => rng.normal()), [256, 512, 1, 1], 'float64');
  const out = await (await createNodeSession(toModelProto(g))).run({ x });
  const xd = x.data as Float64Array;
  for (const c of [0, 7, 511]) {
    let sum = 0;
    for (let n = 0; n < 256; n++) sum += xd[n * 512 + c]!;
    assert.ok(Math.abs((out.keep!.data as Float64Array)[c]! - sum) < 1e-9);
    assert.ok(Math.abs((out.drop!.data as Float64Array)[c]! - sum / 256) < 1e-12);
  }
});

test('sums over middle axes as a ones-GEMV equal the plain reduction on large inputs (float32 and float64)', async () => {
  // [2, 64, 64, 9] = 73,728 elements (the GEMV threshold is 65,536); the reference is a plain float64 sum in JS.
  const shape = [2, 64, 64, 9];
  const rng = new Rng(11);
  const data = Float64Array.from({ length: 2 * 64 * 64 * 9 }, () => rng.normal());
  const cases: { name: string; axes: number[]; keep: boolean; reduce: (x: Value, axes: number[], keep: boolean) => Value; square?: boolean; mean?: boolean }[] = [
    { name: 'ReduceSum [1,2]', axes: [1, 2], keep: true, reduce: F.reduceSum },
    { name: 'ReduceSum [0,1,2]', axes: [0, 1, 2], keep: false, reduce: F.reduceSum },
    { name: 'ReduceMean [0,1]', axes: [0, 1], keep: false, reduce: F.reduceMean, mean: true },
    { name: 'ReduceSumSquare [1,2]', axes: [1, 2], keep: true, reduce: F.reduceSumSquare, square: true },
  ];
  for (const dtype of ['float32', 'float64'] as const) {
    for (const c of cases) {
      const g = new Graph();
      withGraph(g, () => g.markOutput(c.reduce(g.input('x', shape, dtype), c.axes, c.keep), 'y'));
      assert.ok(onnxOpCounts(g).has('MatMul') && !onnxOpCounts(g).has('ReduceSum'), `${c.name} ${dtype} is emitted as a GEMV`);
      const sess = await createNodeSession(toModelProto(g));
      const x = dtype === 'float64' ? new Tensor(data, shape, 'float64') : new Tensor(Float32Array.from(data), shape, 'float32');
      const y = (await sess.run({ x })).y!;
      await sess.release();
      // Reference: out[kept index] = Σ over the reduced axes, kept axes in order.
      const strides = [64 * 64 * 9, 64 * 9, 9, 1];
      const kept = [0, 1, 2, 3].filter((a) => !c.axes.includes(a));
      const outSize = kept.reduce((p, a) => p * shape[a]!, 1);
      const want = new Float64Array(outSize);
      const count = c.axes.reduce((p, a) => p * shape[a]!, 1);
      for (let i = 0; i < data.length; i++) {
        let o = 0;
        for (const a of kept) o = o * shape[a]! + (Math.floor(i / strides[a]!) % shape[a]!);
        const v = dtype === 'float32' ? Math.fround(data[i]!) : data[i]!;
        want[o] += c.square ? v * v : v;
      }
      if (c.mean) for (let o = 0; o < outSize; o++) want[o] /= count;
      assert.equal(y.size, outSize);
      const got = y.toArray();
      const tol = dtype === 'float64' ? 1e-9 : 1e-3;
      for (let o = 0; o < outSize; o++) assert.ok(Math.abs(got[o]! - want[o]!) <= tol * Math.max(1, Math.abs(want[o]!)), `${c.name} ${dtype} [${o}]: ${got[o]} vs ${want[o]}`);
    }
  }
});

test('a bias gradient summed over a large batch of maps (the GEMV in a backward) checks numerically', async (t) => {
  // Add's VJP unbroadcasts dy [2, 64, 64, 9] to the bias [9]: a sum over axes 0..2, emitted as a ones-GEMV.
  const g = new Graph();
  withGraph(g, () => {
    const [x, b] = [g.input('x', [2, 64, 64, 9], 'float64'), g.input('b', [9], 'float64')];
    const [db] = gradients(F.reduceSum(F.mul(F.add(x, b), x)), [b]);
    g.markOutput(db!, 'db');
  });
  assert.ok(onnxOpCounts(g).has('MatMul') && !onnxOpCounts(g).has('ReduceSum'), `${[...onnxOpCounts(g).keys()]}`);
  await check(t, 'Add', 'Add large, bias gradient as GEMV', [s(2, 64, 64, 9), s(9)], (x, b) => F.add(x!, b!));
  await check(t, 'ReduceSum', 'ReduceSum [0,1,2] large (GEMV forward)', [s(2, 64, 64, 9)], (x) => F.mul(F.reduceSum(x!, [0, 1, 2]), F.reduceSum(x!, [0, 1, 2])));
});

test('a shared MatMul weight gradient is computed in its wider orientation', () => {
  // y = x[N,H,W,K]·w[K,M]: dW folds the batch into one GEMM whose small product has ≥ as many
  // columns as rows (ORT's GEMM is faster that way round), transposed afterwards if needed.
  const productShapes = (k: number, m: number): number[][] => {
    const g = new Graph();
    return withGraph(g, () => {
      const x = g.input('x', [2, 4, 4, k], 'float32');
      const w = g.input('w', [k, m], 'float32');
      const y = F.matmul(x, w);
      const start = g.nodes.length;
      gradients(F.reduceSum(y), [w]);
      return g.nodes.slice(start + 1).filter((n) => n.op.type === 'MatMul').map((n) => [...n.outputs[0]!.shape]);
    });
  };
  assert.deepEqual(productShapes(40, 160), [[40, 160]]);
  assert.deepEqual(productShapes(160, 40), [[40, 160]]);
});

test('ReduceMax splits the gradient among ties', async (t) => {
  // Ties are not differentiable, so compare with the documented rule instead of finite differences.
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [1, 4], 'float64');
    const [dx] = gradients(F.reduceMax(x, [1]), [x]);
    g.markOutput(dx!, 'dx');
  });
  const sess = await createNodeSession(toModelProto(g));
  const out = await sess.run({ x: new Tensor(Float64Array.from([1, 3, 3, 2]), [1, 4], 'float64') });
  assert.deepEqual(out.dx!.toArray(), [0, 0.5, 0.5, 0]);
  t.diagnostic('ReduceMax ties: [0, 0.5, 0.5, 0]');
});

// ---- matmul & layout ------------------------------------------------------------------------------

test('MatMul with batch broadcasting', async (t) => {
  await check(t, 'MatMul', 'MatMul 2D', [s(3, 4), s(4, 2)], (a, b) => F.matmul(a!, b!));
  await check(t, 'MatMul', 'MatMul [2,3,4,5]@[5,2]', [s(2, 3, 4, 5), s(5, 2)], (a, b) => F.matmul(a!, b!));
  await check(t, 'MatMul', 'MatMul [4,5]@[2,1,5,3]', [s(4, 5), s(2, 1, 5, 3)], (a, b) => F.matmul(a!, b!));
  await check(t, 'MatMul', 'MatMul [2,1,3,4]@[1,3,4,2]', [s(2, 1, 3, 4), s(1, 3, 4, 2)], (a, b) => F.matmul(a!, b!));
});

test('Transpose, Reshape, Expand', async (t) => {
  await check(t, 'Transpose', 'Transpose', [s(2, 3, 4)], (x) => F.transpose(x!, [2, 0, 1]));
  await check(t, 'Reshape', 'Reshape', [s(2, 3, 4)], (x) => F.mul(F.reshape(x!, [4, -1]), F.reshape(x!, [4, 6])));
  await check(t, 'Expand', 'Expand', [s(3, 1)], (x) => F.expand(x!, [2, 3, 4]));
});

test('Concat and Split', async (t) => {
  await check(t, 'Concat', 'Concat axis 1', [s(2, 1, 3), s(2, 3, 3), s(2, 2, 3)], (a, b, c) => F.concat([a!, b!, c!], 1));
  await check(t, 'Split', 'Split (all outputs)', [s(2, 6)], (x) => F.split(x!, [1, 2, 3], -1));
  // Only the middle piece reaches the loss: the others contribute zeros.
  await check(t, 'Split', 'Split (one output)', [s(5, 2)], (x) => F.split(x!, [2, 2, 1], 0)[1]!);
});

test('Slice: steps 1, 2, -1, -2 and negative starts', async (t) => {
  await check(t, 'Slice', 'Slice step 1', [s(5, 6)], (x) => F.slice(x!, [1, 2], [4, 5]));
  await check(t, 'Slice', 'Slice step 2', [s(5, 7)], (x) => F.slice(x!, [0, 1], [5, 7], [0, 1], [2, 2]));
  await check(t, 'Slice', 'Slice step -1 (reverse)', [s(4, 5)], (x) => F.slice(x!, [-1], [-6], [1], [-1]));
  await check(t, 'Slice', 'Slice step -2', [s(4, 7)], (x) => F.slice(x!, [5, 3], [0, 0], [1, 0], [-2, -1]));
  await check(t, 'Slice', 'Slice negative start', [s(4, 6)], (x) => F.slice(x!, [-3], [100], [-1]));
  await check(t, 'Slice', 'Slice mixed axes', [s(3, 8, 5)], (x) => F.slice(x!, [-2, 6, 1], [0, -9, 5], [0, 1, 2], [-1, -3, 2]));
});

test('Pad: positive, asymmetric and negative (cropping) pads', async (t) => {
  await check(t, 'Pad', 'Pad', [s(2, 3, 4)], (x) => F.pad(x!, [0, 1, 2, 1, 0, 3]));
  await check(t, 'Pad', 'Pad with value', [s(2, 3)], (x) => F.pad(x!, [1, 0, 0, 2], 1.5));
  await check(t, 'Pad', 'Pad negative (crop)', [s(3, 6)], (x) => F.pad(x!, [-1, 2, 0, -2]));
});

// ---- normalisation --------------------------------------------------------------------------------

test('LayerNormalization (input, weight, bias)', async (t) => {
  const opts: GradcheckOptions = { tol: 1e-6 };
  await check(t, 'LayerNormalization', 'LayerNorm last axis', [s(2, 3, 5), s(5), s(5)], (x, w, b) => F.layerNorm(x!, w!, b!, -1, 1e-5), opts);
  await check(t, 'LayerNormalization', 'LayerNorm axes [1..3)', [s(2, 3, 4), s(3, 4), s(3, 4)], (x, w, b) => F.layerNorm(x!, w!, b!, 1, 1e-5), opts);
  await check(t, 'LayerNormalization', 'LayerNorm no bias', [s(4, 6), s(6)], (x, w) => F.layerNorm(x!, w!, null, -1, 1e-6), opts);
  // axis 0: no outer axes, so the weight gradient is a reduction over an empty axis list.
  await check(t, 'LayerNormalization', 'LayerNorm axis 0', [s(3, 4), s(3, 4), s(3, 4)], (x, w, b) => F.layerNorm(x!, w!, b!, 0, 1e-5), opts);
  // float32 (the training dtype) reuses the op's saved Mean/InvStdDev outputs instead of recomputing.
  await check(t, 'LayerNormalization', 'LayerNorm float32', [s(2, 3, 8), s(8), s(8)], (x, w, b) => F.layerNorm(x!, w!, b!, -1, 1e-5), SMOOTH32);
});

test('BatchNormTrain (input, weight, bias; through y and through the batch statistics)', async (t) => {
  const opts: GradcheckOptions = { tol: 1e-6 };
  const input = [s(3, 2, 3, 4), s(2), s(2)];
  await check(t, 'BatchNormTrain', 'BatchNorm y', input, (x, w, b) => F.batchNormTrain(x!, w!, b!, 1e-5)[0], opts);
  // The running-statistic outputs carry their own gradients (∂μ/∂x, ∂σ²/∂x), alone and with y's.
  await check(t, 'BatchNormTrain', 'BatchNorm mean and variance', input, (x, w, b) => F.batchNormTrain(x!, w!, b!, 1e-5).slice(1), opts);
  await check(t, 'BatchNormTrain', 'BatchNorm all outputs', input, (x, w, b) => F.batchNormTrain(x!, w!, b!, 1e-3), opts);
  await check(t, 'BatchNormTrain', 'BatchNorm float32', [s(4, 3, 2, 2), s(3), s(3)], (x, w, b) => F.batchNormTrain(x!, w!, b!, 1e-5)[0], SMOOTH32);
});

// ---- convolution ----------------------------------------------------------------------------------

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  o: F.ConvOptions;
}

const convCases: ConvCase[] = [
  { name: 'dense 3×3 s1 p1 +bias', x: [2, 3, 6, 6], w: [4, 3, 3, 3], bias: true, o: { padding: 1 } },
  { name: 'dense 3×3 s2 p1', x: [2, 3, 7, 8], w: [4, 3, 3, 3], o: { stride: 2, padding: 1 } },
  { name: 'depthwise 7×7 s1 p3 +bias', x: [2, 4, 9, 9], w: [4, 1, 7, 7], bias: true, o: { padding: 3, groups: 4 } },
  // Maps no larger than the kernel: the MatMul formulation (weights are graph inputs here).
  { name: 'depthwise 7×7 p3 on a 7×7 map +bias (as MatMul)', x: [2, 4, 7, 7], w: [4, 1, 7, 7], bias: true, o: { padding: 3, groups: 4 } },
  { name: 'depthwise 5×5 asymmetric pads on a 4×5 map (as MatMul)', x: [2, 3, 4, 5], w: [3, 1, 5, 5], o: { padding: [2, 1, 1, 3], groups: 3 } },
  { name: 'dense 2×2 s2 +bias (odd width)', x: [2, 3, 8, 7], w: [5, 3, 2, 2], bias: true, o: { stride: 2 } },
  { name: 'dense 4×4 s4 (remainder rows)', x: [1, 3, 9, 8], w: [6, 3, 4, 4], o: { stride: 4 } },
  { name: 'depthwise 2×2 s2 (odd size)', x: [2, 4, 7, 6], w: [4, 1, 2, 2], o: { stride: 2, groups: 4 } },
  { name: 'depthwise 4×4 s4 +bias', x: [1, 3, 8, 8], w: [3, 1, 4, 4], bias: true, o: { stride: 4, groups: 3 } },
  { name: '1×1 +bias', x: [2, 5, 4, 3], w: [6, 5, 1, 1], bias: true, o: {} },
  { name: '1×1 grouped g=2', x: [2, 4, 3, 3], w: [6, 2, 1, 1], o: { groups: 2 } },
  { name: '1×1 s2', x: [1, 3, 5, 5], w: [4, 3, 1, 1], o: { stride: 2 } },
  { name: 'grouped g=2 3×3 p1', x: [2, 4, 5, 5], w: [6, 2, 3, 3], o: { padding: 1, groups: 2 } },
  { name: 'grouped g=2 3×3 s2 +bias', x: [1, 4, 6, 5], w: [4, 2, 3, 3], bias: true, o: { stride: 2, groups: 2 } },
  { name: 'dilation 2 3×3 p2', x: [1, 3, 8, 8], w: [2, 3, 3, 3], o: { padding: 2, dilation: 2 } },
  { name: 'dilation 2 stride 2 3×3 p1', x: [1, 2, 9, 8], w: [3, 2, 3, 3], o: { stride: 2, padding: 1, dilation: 2 } },
  { name: 'asymmetric pads s1', x: [1, 3, 6, 5], w: [2, 3, 3, 3], o: { padding: [1, 0, 2, 1] } },
  { name: 'asymmetric pads s2', x: [1, 3, 7, 6], w: [2, 3, 3, 3], o: { stride: 2, padding: [0, 1, 1, 0] } },
  { name: 'depthwise 3×3 s2 p1', x: [2, 4, 7, 7], w: [4, 1, 3, 3], o: { stride: 2, padding: 1, groups: 4 } },
  { name: 'depthwise ×2 multiplier 3×3 p1', x: [1, 3, 6, 6], w: [6, 1, 3, 3], o: { padding: 1, groups: 3 } },
  { name: 'depthwise 5×5 s1 asymmetric pads', x: [1, 2, 6, 7], w: [2, 1, 5, 5], o: { padding: [2, 1, 1, 3], groups: 2 } },
  { name: 'stride (2,1) 3×3 p1', x: [1, 2, 7, 6], w: [3, 2, 3, 3], o: { stride: [2, 1], padding: 1 } },
  { name: 'pad beyond reach 3×3 p3', x: [1, 2, 4, 4], w: [3, 2, 3, 3], o: { padding: 3 } },
  { name: '2×2 s2 p1 (not tiling)', x: [1, 2, 6, 6], w: [3, 2, 2, 2], o: { stride: 2, padding: 1 } },
  { name: 'one input channel 4×4 s4 (grayscale stem)', x: [2, 1, 9, 8], w: [5, 1, 4, 4], bias: true, o: { stride: 4 } },
  { name: 'one input channel 3×3 s1 p1', x: [2, 1, 5, 6], w: [3, 1, 3, 3], o: { padding: 1 } },
  { name: 'one input channel 3×3 s2', x: [2, 1, 7, 7], w: [4, 1, 3, 3], o: { stride: 2 } },
];

test('Conv: input, weight and bias gradients (float32)', async (t) => {
  for (const c of convCases) {
    const inputs = [s(...c.x), s(...c.w), ...(c.bias ? [s(c.w[0]!)] : [])];
    await check(t, 'Conv', `Conv ${c.name}`, inputs, (x, w, b) => F.conv2d(x!, w!, b ?? null, c.o), LIN32);
  }
});

test('Conv: a depthwise conv on a small map with fed weights is emitted without Conv, so it checks in float64', async (t) => {
  // Forward, dx (the flipped-kernel conv) and dW are all MatMul forms: ORT runs them in double.
  await check(t, 'Conv', 'depthwise 5×5 asymmetric pads on a 4×5 map +bias (float64)', [s(2, 3, 4, 5), s(3, 1, 5, 5), s(3)], (x, w, b) =>
    F.conv2d(x!, w!, b!, { padding: [2, 1, 1, 3], groups: 3 }),
  );
  await check(t, 'Conv', 'depthwise 3×3 p1 on a 3×3 map (float64)', [s(2, 4, 3, 3), s(4, 1, 3, 3)], (x, w) => F.conv2d(x!, w!, null, { padding: 1, groups: 4 }));
  await check(t, 'Conv', 'depthwise 3×3 p1 on an 8×7 map at batch 6, 6.2× the kernel (float64)', [s(6, 3, 8, 7), s(3, 1, 3, 3), s(3)], (x, w, b) =>
    F.conv2d(x!, w!, b!, { padding: 1, groups: 3 }),
  );
});

test('TiledDepthwiseConv: read on tiles only, its gradients equal the conv\'s (weight gradient summed over the tiles)', async (t) => {
  // Maps [2, 3, 20, 20] (above the small-map bound, where the op would be a plain conv) of 4×4 tiles;
  // 7×7 windows reach past the map (the zero pixel) and into the other tiles.
  const side = 20;
  const tiles = [[0, 0, 1], [1, 1, 0], [1, 0, 0]] as const;
  const geometry = { n: 2, h: side, w: side, tile: 4, kh: 7, kw: 7, padTop: 3, padLeft: 3 };
  const { window, pixels } = F.tileIndices(tiles, geometry);
  const keep = new Float32Array(2 * side * side);
  for (const [n, ty, tx] of tiles) for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) keep[n * side * side + (ty * 4 + a) * side + tx * 4 + b] = 1;
  // The first tile's window: row −3 is outside (the zero pixel, 2·20·20), its row 3 starts at image 0, column 4 − 3 = 1.
  assert.equal(window[0], BigInt(2 * side * side));
  assert.equal(window[3 * 10], 1n);
  assert.deepEqual(Array.from(pixels.subarray(0, 5), Number), [4, 5, 6, 7, side + 4]);
  const o = { padding: 3, groups: 3 };
  await check(t, 'TiledDepthwiseConv', 'TiledDepthwiseConv', [s(2, 3, side, side), s(3, 1, 7, 7), s(3)], (x, w, b) => {
    const tileSet = { tile: 4, window: F.constant(new Tensor(window, [window.length], 'int64')), pixels: F.constant(new Tensor(pixels, [pixels.length], 'int64')) };
    const y = F.tiledDepthwiseConv2d(x!, w!, b!, o, tileSet);
    // Read on the tiles only (the op's contract): elsewhere the output is multiplied by zero.
    return F.mul(y, F.constant(new Tensor(keep, [2, 1, side, side], 'float32')));
  }, LIN32);
});

test('depthwise conv on a small map: MatMul with weights fed at run time, the same numbers as Conv', async () => {
  const [xs, ws] = [[3, 8, 7, 7], [8, 1, 7, 7]];
  const rng = new Rng(3);
  const random = (shape: number[]) => new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()), shape, 'float32');
  const [x, w, b] = [random(xs), random(ws), random([8])];
  const o = { padding: 3, groups: 8 };
  const build = (weightsAsInputs: boolean) => {
    const g = new Graph();
    const traced = withGraph(g, () => {
      const xv = g.input('x', xs, 'float32');
      const [wv, bv] = weightsAsInputs ? [g.input('w', ws, 'float32'), g.input('b', [8], 'float32')] : [F.constant(w), F.constant(b)];
      g.markOutput(F.conv2d(xv, wv, bv, o), 'y');
      return g.nodes.map((n) => n.op.type);
    });
    // The choice is made when emitting: the traced graph is the same Conv node either way.
    assert.deepEqual(traced, ['Conv']);
    return { g, ops: [...onnxOpCounts(g).keys()] };
  };
  const viaMatMul = build(true);
  const viaConv = build(false);
  assert.deepEqual(viaMatMul.ops.sort(), ['Add', 'MatMul', 'Reshape', 'Transpose'], `weights as inputs: ${viaMatMul.ops}`);
  assert.deepEqual(viaConv.ops, ['Conv'], `constant weights keep the Conv: ${viaConv.ops}`);
  const y1 = (await (await createNodeSession(toModelProto(viaMatMul.g))).run({ x, w, b })).y!.data as Float32Array;
  const y2 = (await (await createNodeSession(toModelProto(viaConv.g))).run({ x })).y!.data as Float32Array;
  const worst = y1.reduce((m, v, i) => Math.max(m, Math.abs(v - y2[i]!)), 0);
  assert.ok(worst < 1e-5, `max |MatMul − Conv| = ${worst}`);
});

test('depthwise conv on a small map with fed weights: forward, dx and dW are emitted without any Conv', () => {
  // A train step's graph: parameters are inputs, so every conv of the forward and backward is a MatMul form.
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [2, 8, 7, 7], 'float32');
    const w = g.param('w', { shape: [8, 1, 7, 7], dtype: 'float32', tensor: new Tensor(new Float32Array(8 * 49), [8, 1, 7, 7], 'float32') }, true);
    const [dx, dw] = gradients(F.reduceSum(F.mul(F.conv2d(x, w, null, { padding: 3, groups: 8 }), F.conv2d(x, w, null, { padding: 3, groups: 8 }))), [x, w]);
    g.markOutput(dx!, 'dx');
    g.markOutput(dw!, 'dw');
  });
  const ops = [...onnxOpCounts(g).keys()];
  assert.ok(ops.includes('MatMul') && !ops.some((o) => o.startsWith('Conv')), `${ops}`);
  // Both convs' weight gradients read one copy of the taps matrix [H·W·Ho·Wo, kh·kw] (keyed by shape, not per conv).
  const tapsCopies = emitModel(g).initializers.filter((i) => i.tensor.shape.join() === `${49 * 49},49`);
  assert.equal(tapsCopies.length, 1);
  // The same parameter as an initializer (inference graph): the forward stays a Conv.
  const h = new Graph();
  withGraph(h, () => {
    const x = h.input('x', [2, 8, 7, 7], 'float32');
    const w = h.param('w', { shape: [8, 1, 7, 7], dtype: 'float32', tensor: new Tensor(new Float32Array(8 * 49), [8, 1, 7, 7], 'float32') }, false);
    h.markOutput(F.conv2d(x, w, null, { padding: 3, groups: 8 }), 'y');
  });
  assert.deepEqual([...onnxOpCounts(h).keys()], ['Conv']);
});

test('a keyed constant given as a function is built once per graph and per emitter, on its first use', () => {
  // The small-map convs' taps matrices (megabytes each) are made this way: a second conv of the same shape reuses the first.
  let built = 0;
  const make = (): Tensor => (built++, new Tensor(new Float32Array(4).fill(1), [4], 'float32'));
  const g = new Graph();
  const [a, b] = withGraph(g, () => [F.constant(make, 'k'), F.constant(make, 'k')]);
  assert.equal(a, b);
  assert.equal(built, 1);
  const e = new Emitter(17);
  assert.equal(e.constant(make, 'k2'), e.constant(make, 'k2'));
  assert.equal(built, 2);
});

test('Conv VJPs use the fast formulations', () => {
  // Which ONNX op types each backward emits (ENGINE.md's measured choices).
  const backwardOps = (xs: number[], ws: number[], o: F.ConvOptions, wrt: 'x' | 'w'): string[] => {
    const g = new Graph();
    return withGraph(g, () => {
      const x = g.input('x', xs, 'float32');
      const w = g.input('w', ws, 'float32');
      const y = F.conv2d(x, w, null, o);
      const start = g.nodes.length;
      gradients(F.reduceSum(y), [wrt === 'x' ? x : w]);
      return g.nodes.slice(start + 1).map((n) => n.op.type);
    });
  };
  const has = (ops: string[], t: string) => ops.includes(t);
  // Depthwise 7×7 s1 on a map above the small-map bound (20² > 8·7²): dx = flipped depthwise Conv; dW = one grouped Conv.
  let ops = backwardOps([2, 8, 20, 20], [8, 1, 7, 7], { padding: 3, groups: 8 }, 'x');
  assert.ok(has(ops, 'Conv') && has(ops, 'Slice') && !has(ops, 'ConvTranspose'), `depthwise dx: ${ops}`);
  ops = backwardOps([2, 8, 20, 20], [8, 1, 7, 7], { padding: 3, groups: 8 }, 'w');
  assert.ok(has(ops, 'Conv') && !has(ops, 'MatMul') && !has(ops, 'Concat'), `depthwise dW: ${ops}`);
  // Small maps are MatMuls while their MACs are worth it (conv_small_map.ts's bound, which grows with the batch):
  // at batch 128 up to 23² for 7×7 kernels and 11² for 3×3 ones, at batch 8 up to 10² and 8².
  const bounds = [[128, 7, 23], [128, 3, 11], [8, 7, 10], [8, 3, 8]] as const;
  for (const [n, k, side] of bounds)
    for (const s of [side, side + 1]) {
      ops = backwardOps([n, 4, s, s], [4, 1, k, k], { padding: (k - 1) / 2, groups: 4 }, 'w');
      assert.equal(has(ops, 'MatMul') && !has(ops, 'Conv'), s === side, `depthwise ${k}×${k} dW on ${s}² at batch ${n}: ${ops}`);
    }
  // Dense 3×3 s1: dx = Conv; dW = im2col + MatMul.
  ops = backwardOps([2, 4, 8, 8], [6, 4, 3, 3], { padding: 1 }, 'x');
  assert.ok(has(ops, 'Conv') && !has(ops, 'ConvTranspose'), `dense s1 dx: ${ops}`);
  ops = backwardOps([2, 4, 8, 8], [6, 4, 3, 3], { padding: 1 }, 'w');
  assert.ok(has(ops, 'Concat') && has(ops, 'MatMul') && !has(ops, 'Conv'), `dense s1 dW: ${ops}`);
  // Dense 3×3 s2: dx = ConvTranspose; dW = strided-Slice im2col + MatMul.
  ops = backwardOps([2, 4, 8, 8], [6, 4, 3, 3], { stride: 2, padding: 1 }, 'x');
  assert.ok(has(ops, 'ConvTranspose'), `dense s2 dx: ${ops}`);
  // Patchify 4×4 s4: dx = ConvTranspose; dW = space-to-depth + one MatMul (no im2col).
  ops = backwardOps([2, 3, 16, 16], [8, 3, 4, 4], { stride: 4 }, 'x');
  assert.deepEqual(ops.filter((o) => o.startsWith('Conv')), ['ConvTranspose'], `patchify dx: ${ops}`);
  ops = backwardOps([2, 3, 16, 16], [8, 3, 4, 4], { stride: 4 }, 'w');
  assert.ok(has(ops, 'MatMul') && !has(ops, 'Concat') && !has(ops, 'Slice'), `patchify dW: ${ops}`);
  // Depthwise 2×2 s2: broadcast Mul both ways, no conv at all.
  for (const wrt of ['x', 'w'] as const) {
    ops = backwardOps([2, 8, 8, 8], [8, 1, 2, 2], { stride: 2, groups: 8 }, wrt);
    assert.ok(has(ops, 'Mul') && !ops.some((o) => o.startsWith('Conv')), `depthwise k=s d${wrt}: ${ops}`);
  }
  // 1×1: MatMul only.
  for (const wrt of ['x', 'w'] as const) {
    ops = backwardOps([2, 8, 5, 5], [4, 8, 1, 1], {}, wrt);
    assert.ok(has(ops, 'MatMul') && !ops.some((o) => o.startsWith('Conv')), `1×1 d${wrt}: ${ops}`);
  }
});

test('ConvTranspose: input, weight and bias gradients (float32)', async (t) => {
  const cases: { name: string; x: number[]; w: number[]; bias?: boolean; o: F.ConvOptions & { outputPadding?: number } }[] = [
    { name: '2×2 s2 +bias', x: [2, 4, 3, 3], w: [4, 3, 2, 2], bias: true, o: { stride: 2 } },
    { name: '3×3 s2 p1 output_padding 1', x: [1, 3, 4, 4], w: [3, 2, 3, 3], o: { stride: 2, padding: 1, outputPadding: 1 } },
    { name: 'grouped g=2 3×3 p1', x: [1, 4, 4, 4], w: [4, 3, 3, 3], o: { padding: 1, groups: 2 } },
    { name: 'depthwise 3×3 s2', x: [1, 3, 3, 4], w: [3, 1, 3, 3], bias: true, o: { stride: 2, groups: 3 } },
    { name: 'dilation 2 s2 p1', x: [1, 2, 3, 3], w: [2, 3, 3, 3], o: { stride: 2, padding: 1, dilation: 2 } },
    { name: 'asymmetric pads s2', x: [1, 2, 4, 3], w: [2, 2, 3, 3], o: { stride: 2, padding: [0, 1, 1, 0] } },
    { name: '1×1', x: [2, 3, 3, 3], w: [3, 5, 1, 1], o: {} },
  ];
  for (const c of cases) {
    const inputs = [s(...c.x), s(...c.w), ...(c.bias ? [s(c.w[1]! * (c.o.groups ?? 1))] : [])];
    await check(t, 'ConvTranspose', `ConvTranspose ${c.name}`, inputs, (x, w, b) => F.convTranspose2d(x!, w!, b ?? null, c.o), LIN32);
  }
});

// ---- pooling, gather, resize ----------------------------------------------------------------------

test('AveragePool: count_include_pad both ways, padding, stride ≠ kernel (float32)', async (t) => {
  const pool = (x: Value, a: PoolAttrs) => x.graph.apply(F.AveragePool, [x], a)[0]!;
  await check(t, 'AveragePool', 'AveragePool 2×2 s2 (odd width)', [s(2, 3, 6, 7)], (x) => F.avgPool2d(x!, 2), LIN32);
  await check(t, 'AveragePool', 'AveragePool 3×3 s2 no pad', [s(1, 2, 7, 7)], (x) => F.avgPool2d(x!, 3, { stride: 2 }), LIN32);
  for (const include of [true, false]) {
    await check(t, 'AveragePool', `AveragePool 3×3 s1 p1 include=${include}`, [s(2, 2, 5, 6)], (x) => F.avgPool2d(x!, 3, { stride: 1, padding: 1, countIncludePad: include }), LIN32);
    await check(t, 'AveragePool', `AveragePool 3×3 s2 p1 include=${include}`, [s(1, 2, 7, 6)], (x) => F.avgPool2d(x!, 3, { stride: 2, padding: 1, countIncludePad: include }), LIN32);
    await check(t, 'AveragePool', `AveragePool 2×3 s(2,1) asymmetric pads include=${include}`, [s(1, 2, 6, 5)], (x) => pool(x!, { kernel: [2, 3], strides: [2, 1], pads: [1, 0, 0, 2], countIncludePad: include }), LIN32);
  }
});

test('Gather: relative-position table, other axes, negative/int32/scalar indices', async (t) => {
  // Swin-style relative position index for a 3×3 window: a [9, 9] map into a [25, heads] table.
  const m = 3;
  const rel: number[] = [];
  for (let a = 0; a < m * m; a++)
    for (let b = 0; b < m * m; b++) {
      const dy = Math.floor(a / m) - Math.floor(b / m) + m - 1;
      const dx = (a % m) - (b % m) + m - 1;
      rel.push(dy * (2 * m - 1) + dx);
    }
  await check(t, 'Gather', 'Gather rel-pos bias', [s((2 * m - 1) ** 2, 2), { shape: [9, 9], dtype: 'int64', values: rel }], (tb, idx) => F.gather(tb!, idx!, 0));
  await check(t, 'Gather', 'Gather axis 1, int32 negative duplicates', [s(3, 5, 2), { shape: [4], dtype: 'int32', values: [0, -1, 2, 0] }], (x, idx) => F.gather(x!, idx!, 1));
  await check(t, 'Gather', 'Gather last axis, 2-D indices', [s(2, 3, 4), { shape: [2, 2], dtype: 'int64', values: [3, 0, 3, 1] }], (x, idx) => F.gather(x!, idx!, -1));
  await check(t, 'Gather', 'Gather scalar index', [s(4, 3), { shape: [], dtype: 'int64', values: [2] }], (x, idx) => F.gather(x!, idx!, 0));
});

test("ScatterAdd (Gather's adjoint): duplicates accumulate, 2-D indices; positions of NCHW maps", async (t) => {
  await check(t, 'ScatterAdd', 'ScatterAdd duplicates', [s(4, 3), { shape: [4], dtype: 'int64', values: [2, 0, 2, 4] }], (u, idx) => F.scatterAdd(u!, idx!, 5));
  await check(t, 'ScatterAdd', 'ScatterAdd 2-D indices', [s(2, 2, 3), { shape: [2, 2], dtype: 'int64', values: [1, 3, 0, 2] }], (u, idx) => F.scatterAdd(u!, idx!, 4));
  // FCMAE's sparse encoder: an NCHW map → rows at some positions → a map again (zero elsewhere).
  const positions: GradInput = { shape: [5], dtype: 'int64', values: [0, 4, 5, 7, 11] };
  await check(t, 'Gather', 'gatherPositions', [s(2, 3, 2, 3), positions], (x, p) => F.gatherPositions(x!, p!));
  await check(t, 'ScatterAdd', 'scatterPositions', [s(5, 3), positions], (r, p) => F.scatterPositions(r!, p!, [2, 3, 2, 3]));
});

test('gatherPositions reads the channel vector at n·H·W + y·W + x; scatterPositions puts it back, zero elsewhere', async () => {
  const [n, c, h, w] = [2, 3, 2, 3];
  const at = [1, 6, 11];
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [n, c, h, w]);
    const p = g.input('p', [at.length], 'int64');
    const rows = F.gatherPositions(x, p);
    g.markOutput(rows, 'rows');
    g.markOutput(F.scatterPositions(rows, p, x.shape), 'map');
    assert.throws(() => F.scatterAdd(rows, F.cast(p, 'int32'), 4), (e: unknown) => e instanceof ShapeError && /indices must be int64/.test(e.message));
    assert.throws(() => F.scatterAdd(rows, p, 0), (e: unknown) => e instanceof ShapeError && /rows must be a positive integer/.test(e.message));
  });
  const xs = Float32Array.from({ length: n * c * h * w }, (_, i) => i + 1);
  const sess = await createNodeSession(toModelProto(g));
  const out = await sess.run({ x: new Tensor(xs, [n, c, h, w], 'float32'), p: new Tensor(BigInt64Array.from(at.map(BigInt)), [at.length], 'int64') });
  await sess.release();
  const want = (pos: number, ch: number) => xs[(Math.floor(pos / (h * w)) * c + ch) * h * w + (pos % (h * w))]!;
  assert.deepEqual([...out.rows!.data], at.flatMap((pos) => [0, 1, 2].map((ch) => want(pos, ch))));
  const map = out.map!.data as Float32Array;
  for (let i = 0; i < map.length; i++) {
    const [img, ch, pix] = [Math.floor(i / (c * h * w)), Math.floor(i / (h * w)) % c, i % (h * w)];
    const pos = img * h * w + pix;
    assert.equal(map[i], at.includes(pos) ? want(pos, ch) : 0, `map[${i}]`);
  }
});

const resizeModes: [ResizeAttrs['mode'], ResizeAttrs['coordinateMode']][] = [
  ['linear', 'half_pixel'],
  ['linear', 'pytorch_half_pixel'],
  ['linear', 'align_corners'],
  ['linear', 'asymmetric'],
  ['nearest', 'asymmetric'],
  ['nearest', 'half_pixel'],
  ['nearest', 'align_corners'],
  ['nearest', 'pytorch_half_pixel'],
  ['cubic', 'half_pixel'],
  ['cubic', 'align_corners'],
];
const resizeSizes: { name: string; x: number[]; size: [number, number] }[] = [
  { name: 'upsample', x: [1, 2, 4, 5], size: [8, 7] },
  { name: 'downsample', x: [1, 2, 9, 8], size: [4, 3] },
  { name: 'mixed', x: [1, 1, 6, 4], size: [6, 9] },
  { name: 'to 1 row', x: [1, 1, 5, 4], size: [1, 3] },
];

test('Resize interpolation matrices reproduce ORT forward exactly', async (t) => {
  // Besides the gradient-check sizes, typical model sizes and awkward ratios (where float32
  // coordinate rounding decides the nearest pixel).
  const sizes = [
    ...resizeSizes,
    { name: '7→14', x: [1, 1, 7, 7], size: [14, 14] as [number, number] },
    { name: '14→7', x: [1, 1, 14, 14], size: [7, 7] as [number, number] },
    { name: '56→224', x: [1, 1, 56, 56], size: [224, 224] as [number, number] },
    { name: '224→56', x: [1, 1, 224, 224], size: [56, 56] as [number, number] },
    { name: '3→10, 13→6', x: [1, 1, 3, 13], size: [10, 6] as [number, number] },
    { name: '17→40, 10→3', x: [1, 1, 17, 10], size: [40, 3] as [number, number] },
  ];
  const rng = new Rng(7);
  let worst = 0;
  for (const [mode, cm] of resizeModes) {
    for (const sz of sizes) {
      const g = new Graph();
      withGraph(g, () => g.markOutput(F.resize(g.input('x', sz.x, 'float32'), sz.size, mode, cm), 'y'));
      const sess = await createNodeSession(toModelProto(g));
      const [n, c, h, w] = sz.x as [number, number, number, number];
      const [ho, wo] = sz.size;
      const x = Float32Array.from({ length: n * c * h * w }, () => rng.normal());
      const y = (await sess.run({ x: new Tensor(x, sz.x, 'float32') })).y!.data as Float32Array;
      const rh = resizeMatrix(h, ho, mode, cm);
      const rw = resizeMatrix(w, wo, mode, cm);
      for (let p = 0; p < n * c; p++) {
        // Separably: t = X · Rwᵀ, then Rh · t.
        const tmp = new Float64Array(h * wo);
        for (let a = 0; a < h; a++)
          for (let j = 0; j < wo; j++) {
            let v = 0;
            for (let b = 0; b < w; b++) v += rw[j * w + b]! * x[p * h * w + a * w + b]!;
            tmp[a * wo + j] = v;
          }
        for (let i = 0; i < ho; i++)
          for (let j = 0; j < wo; j++) {
            let v = 0;
            for (let a = 0; a < h; a++) v += rh[i * h + a]! * tmp[a * wo + j]!;
            const got = y[p * ho * wo + i * wo + j]!;
            const err = Math.abs(v - got);
            worst = Math.max(worst, err);
            assert.ok(err < 1e-5, `Resize ${mode}/${cm} ${sz.name} at (${p},${i},${j}): ORT ${got} vs matrices ${v}`);
          }
      }
      await sess.release();
    }
  }
  t.diagnostic(`max |ORT − Rh·X·Rwᵀ| = ${worst.toExponential(2)}`);
});

test('Resize: upsample and downsample in each mode (float32)', async (t) => {
  for (const [mode, cm] of resizeModes) {
    for (const sz of resizeSizes) {
      await check(t, 'Resize', `Resize ${mode}/${cm} ${sz.name}`, [s(...sz.x)], (x) => F.resize(x!, sz.size, mode, cm), LIN32);
    }
  }
});

// ---- composition & errors -------------------------------------------------------------------------

test('a small conv block end to end (conv → layernorm-free gelu → pool)', async (t) => {
  // Exercise several rules chained, in float32 (Conv/Erf/AveragePool have no double kernels).
  const attrs: ConvAttrs = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], groups: 2 };
  await check(
    t,
    ['Conv', 'Gelu', 'AveragePool', 'Resize'],
    'Conv→Gelu→AveragePool→Resize',
    [s(1, 4, 6, 6), s(4, 2, 3, 3), s(4)],
    (x, w, b) => {
      const y = x!.graph.apply(F.Conv, [x!, w!, b!], attrs)[0]!;
      return F.resize(F.avgPool2d(F.gelu(y), 2), [5, 5]);
    },
    { dtype: 'float32', eps: 1e-2, tol: 3e-3 },
  );
});

test('a loss reaching an op without a VJP throws a ShapeError naming the op', () => {
  const Floor = defineOp<null>({
    type: 'Floor',
    infer: ([x]) => [{ shape: x!.shape, dtype: x!.dtype }],
    emit: (e, n) => {
      e.node('Floor', n.inputs, n.outputs);
    },
  });
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [3], 'float64');
    const floored = g.inScope('head', () => g.apply(Floor, [F.exp(x)], null)[0]!);
    const loss = F.reduceSum(F.mul(floored, x));
    assert.throws(
      () => gradients(loss, [x]),
      (err: unknown) => err instanceof ShapeError && /Floor at head/.test(err.message) && /no gradient rule/.test(err.message),
    );
  });
});

// Last: the coverage of the checks above (node's test runner runs a file's tests in order).
test('every registered op with a VJP rule has a numerical gradient check above', () => {
  const withVjp = registeredOps().filter((o) => o.hasVjp).map((o) => o.type);
  assert.ok(withVjp.length >= 40, `the op set is registered (${withVjp.length} ops with a VJP)`);
  assert.deepEqual(withVjp.filter((o) => !checkedOps.has(o)), [], 'ops with a VJP but no passing gradient check in this file');
  // A declared op must exist: a check naming a type that is not registered counts for nothing.
  const known = new Set(registeredOps().map((o) => o.type));
  assert.deepEqual([...checkedOps].filter((o) => !known.has(o)), []);
});

test('a gradient check fails when the op it declares is not on the way to its outputs', async () => {
  await assert.rejects(gradcheck('exp', [s(3)], (x) => F.exp(x!), { ops: ['Log'] }), /declares ops its graph does not reach/);
  // Traced but not reaching the outputs does not count either.
  await assert.rejects(gradcheck('exp', [s(3)], (x) => (F.log(F.abs(x!)), F.exp(x!)), { ops: ['Log'] }), /declares ops/);
});

test('defineOp registers each op once, by type', () => {
  const types = registeredOps().map((o) => o.type);
  assert.equal(new Set(types).size, types.length);
  for (const o of ['Conv', 'MatMul', 'TiledDepthwiseConv', 'ReduceSum']) assert.ok(types.includes(o), o);
  assert.equal(registeredOps().find((o) => o.type === 'ArgMax')?.hasVjp, false);
  assert.throws(
    () => defineOp({ type: 'MatMul', infer: () => [], emit: () => undefined }),
    /already defined/,
  );
});
