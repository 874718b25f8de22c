/**
 * Export-time emission (graph/emit.ts, graph/fp16.ts, graph/onnx_read.ts): the symbolic batch —
 * Reshape targets written with 0/-1, other batch-dependent shapes computed from the input's Shape,
 * a batch baked into a constant refused with StaticBatchError — float16 rounding, and reading back
 * what the serialiser wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, withGraph, F } from '../../src/graph/index.js';
import { emitModel, serializeModel, StaticBatchError, SYMBOLIC_BATCH } from '../../src/graph/emit.js';
import { fromHalfBits, toHalfBits } from '../../src/graph/fp16.js';
import { readOnnxInfo } from '../../src/graph/onnx_read.js';
import { quantizePerChannel } from '../../src/graph/quantize.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor } from '../../src/tensor.js';

const P = SYMBOLIC_BATCH;

/** x [N, 2, 3] → reshape to [N·2, 3] → expand a [N·2, 1, 3] to [N·2, 4, 3] → reshape back to [N, 24]. */
function batchGraph(): Graph {
  const g = new Graph('t');
  withGraph(g, () => {
    const x = g.input('x', [P, 2, 3]);
    const merged = F.reshape(x, [2 * P, 3]); // folded into the next reshape: [N·2, 1, 3] (-1, 1, 3)
    const wide = F.expand(F.reshape(merged, [2 * P, 1, 3]), [2 * P, 4, 3]); // Expand: a computed shape
    g.markOutput(F.reshape(wide, [P, 24]), 'y');
  });
  return g;
}

test('symbolic batch: Reshape uses -1/0, Expand a computed shape, and one file runs at any batch', async () => {
  const m = emitModel(batchGraph(), { symbolicBatch: P });
  assert.deepEqual(m.inputs, [{ name: 'x', dtype: 'float32', dims: ['batch', 2, 3] }]);
  assert.deepEqual(m.outputs, [{ name: 'y', dtype: 'float32', dims: ['batch', 24] }]);
  const ints = m.initializers.filter((i) => i.tensor.dtype === 'int64').map((i) => Array.from(i.tensor.data as BigInt64Array, Number));
  assert.ok(ints.some((v) => v.join() === '-1,1,3') && ints.some((v) => v.join() === '-1,24'), `reshapes to [-1, 1, 3] and [-1, 24]: ${JSON.stringify(ints)}`);
  assert.ok(ints.every((v) => v.every((d) => d % P !== 0 || d === 0)), 'no baked batch');
  assert.ok(m.nodes.some((n) => n.opType === 'Shape'), 'the Expand shape is read from the input');
  const session = await createNodeSession(serializeModel(m).model);
  for (const n of [1, 2, 5]) {
    const x = Float32Array.from({ length: n * 6 }, (_, i) => i);
    const { y } = await session.run({ x: new Tensor(x, [n, 2, 3], 'float32') });
    assert.deepEqual(y!.shape, [n, 24]);
    // Row r of y repeats each 3-vector of x's row r four times.
    const want = Array.from({ length: n * 24 }, (_, i) => {
      const r = Math.floor(i / 24), j = i % 24, pair = Math.floor(j / 12), k = j % 3;
      return x[r * 6 + pair * 3 + k]!;
    });
    assert.deepEqual(Array.from(y!.data as Float32Array), want);
  }
  await session.release();
});

test('symbolic batch: a graph that bakes the batch into a constant is refused with StaticBatchError', () => {
  const g = new Graph('baked');
  withGraph(g, () => {
    const x = g.input('x', [P, 4]);
    // A "mean over the batch" written as a division by its size: only right at the traced batch.
    g.markOutput(F.div(F.reduceSum(x, [0], false), P), 'y');
  });
  assert.throws(() => emitModel(g, { symbolicBatch: P }), (e: unknown) => e instanceof StaticBatchError && /bakes the batch size into the constant/.test(e.message));
  // Without a symbolic batch the same graph emits (static).
  assert.doesNotThrow(() => emitModel(g));
});

test('float16 rounding: exact values, round half to even, subnormals, overflow', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00], // halfway to the next (2^16): rounds to even → Inf
    [0.1, 0x2e66],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to it: even → 0
    [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal steps: even → 2
    [1 + 2 ** -11, 0x3c00], // halfway above 1: even → 1
    [1 + 3 * 2 ** -11, 0x3c02], // halfway above 1 + 2^-10: even → 1 + 2·2^-10
    [Infinity, 0x7c00],
  ];
  for (const [v, bits] of cases) assert.equal(toHalfBits(v), bits, `${v}`);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  for (const v of [1, -2, 65504, 0.0999755859375, 2 ** -24, 6.103515625e-5]) assert.equal(fromHalfBits(toHalfBits(v)), v);
});

test('readOnnxInfo reads back the signature, metadata and initializers the serialiser wrote', () => {
  const m = emitModel(batchGraph(), { symbolicBatch: P });
  m.metadata = [['k', 'v'], ['json', '{"a":[1,2]}']];
  const info = readOnnxInfo(serializeModel(m).model);
  assert.deepEqual(info.metadata, { k: 'v', json: '{"a":[1,2]}' });
  assert.deepEqual(info.inputs, m.inputs);
  assert.deepEqual(info.outputs, m.outputs);
  assert.equal(info.opsets[''], 17);
  assert.deepEqual(info.nodes.map((n) => n.opType), m.nodes.map((n) => n.opType));
  assert.deepEqual(info.initializers.map((i) => [i.name, i.dims]), m.initializers.map((i) => [i.name, i.tensor.shape]));
  assert.throws(() => readOnnxInfo(Uint8Array.of(0x0a, 0x05, 1), 'junk.onnx'), /junk.onnx is not a readable ONNX model/);
});

test('quantizePerChannel: symmetric int8 per output channel (rows of [O, …] or columns of [K, N])', () => {
  // [K=2, N=3]: columns have max |w| 2, 0.5 and 0 (an all-zero channel gets scale 1, not a division by zero).
  const w = new Tensor(Float32Array.of(1, -0.5, 0, -2, 0.25, 0), [2, 3], 'float32');
  const cols = quantizePerChannel(w, 1);
  assert.deepEqual(Array.from(cols.scales), [2 / 127, 0.5 / 127, 1].map(Math.fround));
  assert.deepEqual(Array.from(new Int8Array(cols.q.data.buffer)), [64, -127, 0, -127, 64, 0]);
  const rows = quantizePerChannel(w, 0);
  assert.deepEqual(Array.from(rows.scales), [1 / 127, 2 / 127].map(Math.fround));
  assert.deepEqual(Array.from(new Int8Array(rows.q.data.buffer)), [127, -64, 0, -127, 16, 0]);
});
