/**
 * Broadcasting Add/Sub/Mul/Div are emitted on merged shapes where ONNX Runtime's broadcast loop would
 * run element by element (graph/ops/broadcast_emit.ts): the same values, other nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, F, toModelProto, withGraph, type Value } from '../../src/graph/index.js';
import { emitModel, emittedNodes, SYMBOLIC_BATCH } from '../../src/graph/emit.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor } from '../../src/tensor.js';
import { Rng } from '../../src/util/rng.js';

const size = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

function random(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  return new Tensor(Float32Array.from({ length: size(shape) }, () => rng.normal()), shape, 'float32');
}

/** The element of a broadcast operand that output index `i` reads. */
function broadcastIndex(i: number, out: readonly number[], shape: readonly number[]): number {
  const padded = [...new Array<number>(out.length - shape.length).fill(1), ...shape];
  let j = 0;
  let rest = i;
  const coords = out.map(() => 0);
  for (let k = out.length - 1; k >= 0; k--) {
    coords[k] = rest % out[k]!;
    rest = Math.floor(rest / out[k]!);
  }
  for (let k = 0; k < out.length; k++) j = j * padded[k]! + (padded[k] === 1 ? 0 : coords[k]!);
  return j;
}

const ops = {
  add: [F.add, (x: number, y: number) => x + y],
  sub: [F.sub, (x: number, y: number) => x - y],
  mul: [F.mul, (x: number, y: number) => x * y],
  div: [F.div, (x: number, y: number) => x / y],
} as const;

async function checkCase(op: keyof typeof ops, aShape: number[], bShape: number[], expectMerged: boolean, expectExpand = false): Promise<void> {
  const g = new Graph();
  const out = withGraph(g, () => {
    const a = g.input('a', aShape, 'float32');
    const b = g.input('b', bShape, 'float32');
    const y: Value = ops[op][0](a, b);
    g.markOutput(y, 'y');
    return y.shape;
  });
  const nodes = emittedNodes(g);
  const label = `${op} ${aShape} · ${bShape}`;
  assert.equal(nodes.some((n) => n.opType === 'Reshape'), expectMerged, `${label}: ${nodes.map((n) => n.opType)}`);
  assert.equal(nodes.some((n) => n.opType === 'Expand'), expectExpand, `${label}: ${nodes.map((n) => n.opType)}`);
  const [a, b] = [random(aShape, 1), random(bShape, 2)];
  const y = (await (await createNodeSession(toModelProto(g), { threads: 1 })).run({ a, b })).y!;
  assert.deepEqual(y.shape, out);
  const [ad, bd, yd] = [a.data as Float32Array, b.data as Float32Array, y.data as Float32Array];
  for (let i = 0; i < yd.length; i++) {
    const want = Math.fround(ops[op][1](ad[broadcastIndex(i, out, aShape)]!, bd[broadcastIndex(i, out, bShape)]!));
    if (yd[i] !== want) assert.fail(`${label}: element ${i} is ${yd[i]}, want ${want}`);
  }
}

test('trailing 1×1 dims times a scalar, a per-channel or a per-image operand: merged, the same values', async () => {
  await checkCase('mul', [64, 128, 1, 1], [], true);
  await checkCase('add', [64, 128, 1, 1], [1], true);
  await checkCase('sub', [1, 128, 1, 1], [64, 128, 1, 1], true);
  await checkCase('div', [64, 128, 1, 1], [64, 1, 1, 1], true);
});

test('a short innermost run (2×2 and 3×3 maps against per-channel values): the small operand expanded, the same values', async () => {
  await checkCase('mul', [32, 64, 2, 2], [1, 64, 1, 1], true, true);
  await checkCase('sub', [1, 64, 1, 1], [32, 64, 3, 3], true, true);
  await checkCase('add', [32, 64, 3, 3], [32, 64, 1, 1], true, true);
  // NHWC statistics of a narrow layer norm ([N, H, W, 1] against C = 8).
  await checkCase('div', [4, 16, 16, 8], [4, 16, 16, 1], true, true);
});

test('long runs, equal shapes and small tensors are emitted as one node', async () => {
  await checkCase('mul', [32, 64, 8, 8], [1, 64, 1, 1], false);
  await checkCase('add', [32, 64, 2, 2], [32, 64, 2, 2], false);
  await checkCase('sub', [64, 128, 1, 1], [64, 128, 1, 1], false);
  await checkCase('mul', [2, 8, 2, 2], [1, 8, 1, 1], false);
  await checkCase('mul', [32, 2, 2, 64], [1, 1, 1, 64], false);
  // Broadcast dims alternating between the operands (a stride-2 depthwise conv's input gradient): a
  // full-size Expand would be as slow, so it stays as written.
  await checkCase('mul', [16, 8, 4, 1, 4, 1], [1, 8, 1, 2, 1, 2], false);
});

test('a per-channel constant stays as written (ORT folds it into the Conv before it); a symbolic batch is left alone', () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [32, 64, 2, 2], 'float32');
    const scale = F.constant(random([1, 64, 1, 1], 3));
    g.markOutput(F.mul(F.mul(x, scale), 0.5), 'y');
  });
  // (The scalar is one long run already: every dim of the product is read alike.)
  assert.deepEqual(emittedNodes(g).map((n) => n.opType), ['Mul', 'Mul']);
  const h = new Graph();
  withGraph(h, () => {
    const x = h.input('x', [SYMBOLIC_BATCH, 64, 1, 1], 'float32');
    h.markOutput(F.mul(x, 0.5), 'y');
  });
  assert.deepEqual(emitModel(h, { symbolicBatch: SYMBOLIC_BATCH }).nodes.map((n) => n.opType), ['Mul']);
});

test("train-mode batch norm's per-channel products on a 2×2 map are merged too, with batch norm's values", async () => {
  const shape = [64, 32, 2, 2];
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', shape, 'float32');
    const [y] = F.batchNormTrain(x, g.input('w', [32], 'float32'), g.input('b', [32], 'float32'), 1e-5);
    g.markOutput(y, 'y');
  });
  const nodes = emittedNodes(g);
  // x − μ, ·scale and +bias each read the channel values expanded over the 2×2 map.
  assert.equal(nodes.filter((n) => n.opType === 'Expand').length, 3, `${nodes.map((n) => n.opType)}`);
  const [x, w, b] = [random(shape, 1), random([32], 2), random([32], 3)];
  const y = (await (await createNodeSession(toModelProto(g), { threads: 1 })).run({ x, w, b })).y!.data as Float32Array;
  const [xd, wd, bd] = [x.data as Float32Array, w.data as Float32Array, b.data as Float32Array];
  for (const c of [0, 13, 31]) {
    const at = (n: number, p: number) => n * 128 + c * 4 + p;
    let mean = 0;
    for (let n = 0; n < 64; n++) for (let p = 0; p < 4; p++) mean += xd[at(n, p)]! / 256;
    let variance = 0;
    for (let n = 0; n < 64; n++) for (let p = 0; p < 4; p++) variance += (xd[at(n, p)]! - mean) ** 2 / 256;
    for (const [n, p] of [[0, 0], [63, 3], [17, 2]] as const) {
      const want = ((xd[at(n, p)]! - mean) / Math.sqrt(variance + 1e-5)) * wd[c]! + bd[c]!;
      assert.ok(Math.abs(y[at(n, p)]! - want) < 1e-5, `channel ${c}, image ${n}, pixel ${p}`);
    }
  }
});
