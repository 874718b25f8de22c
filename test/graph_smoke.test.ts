import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, withGraph, F, toModelProto, gradients } from '../src/graph/index.js';
import { createNodeSession } from '../src/runtime/node.js';
import { Tensor } from '../src/tensor.js';
import { Rng } from '../src/util/rng.js';

test('trace → ONNX → ORT: matmul + gelu + layernorm', async () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [2, 3], 'float32');
    const w = g.constant(new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2], 'float32'));
    const y = F.gelu(F.matmul(x, w));
    const lw = g.constant(new Tensor(Float32Array.from([1, 1]), [2], 'float32'));
    const z = F.layerNorm(y, lw, null, -1, 1e-6);
    g.markOutput(y, 'y');
    g.markOutput(z, 'z');
  });
  const s = await createNodeSession(toModelProto(g));
  const out = await s.run({ x: new Tensor(Float32Array.from([1, 0, -1, 0.5, 0.5, 0.5]), [2, 3], 'float32') });
  const y = out.y!.toArray();
  // x·w = [1-5, 2-6] = [-4,-4], [4.5, 6]
  const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
  assert.ok(Math.abs(y[0]! - gelu(-4)) < 1e-6);
  assert.ok(Math.abs(y[3]! - gelu(6)) < 1e-5);
  const z = out.z!.toArray();
  assert.ok(Math.abs(z[2]! + 1) < 1e-3 && Math.abs(z[3]! - 1) < 1e-3);
});

test('gradients of a small float64 graph', async () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [2, 3], 'float64');
    const w = g.input('w', [3, 2], 'float64');
    const loss = F.reduceSum(F.mul(F.tanh(F.matmul(x, w)), F.matmul(x, w)));
    const [dx, dw] = gradients(loss, [x, w]);
    g.markOutput(loss, 'loss');
    g.markOutput(dx!, 'dx');
    g.markOutput(dw!, 'dw');
  });
  const s = await createNodeSession(toModelProto(g));
  const xv = Float64Array.from([1, 0, -1, 0.5, 0.5, 0.5]);
  const wv = Float64Array.from([0.1, 0.2, -0.3, 0.4, 0.5, -0.6]);
  const run = async (xx: Float64Array, ww: Float64Array) => await s.run({ x: new Tensor(xx, [2, 3], 'float64'), w: new Tensor(ww, [3, 2], 'float64') });
  const base = await run(xv, wv);
  const dx = base.dx!.toArray();
  const dw = base.dw!.toArray();
  const h = 1e-6;
  const nudge = (v: Float64Array, i: number, d: number) => {
    const c = Float64Array.from(v);
    c[i]! += d;
    return c;
  };
  for (let i = 0; i < 6; i++) {
    const fd = ((await run(nudge(xv, i, h), wv)).loss!.toArray()[0]! - (await run(nudge(xv, i, -h), wv)).loss!.toArray()[0]!) / (2 * h);
    assert.ok(Math.abs(fd - dx[i]!) < 1e-6, `dx[${i}] ${dx[i]} vs fd ${fd}`);
  }
  for (let i = 0; i < 6; i++) {
    const fd = ((await run(xv, nudge(wv, i, h))).loss!.toArray()[0]! - (await run(xv, nudge(wv, i, -h))).loss!.toArray()[0]!) / (2 * h);
    assert.ok(Math.abs(fd - dw[i]!) < 1e-6, `dw[${i}] ${dw[i]} vs fd ${fd}`);
  }
});

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for 1e-6; integrate the series instead.
  let sum = 0, term = x, n = 0;
  while (Math.abs(term) > 1e-17 && n < 200) { sum += term / (2 * n + 1); n++; term *= -x * x / n; }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

test('a reshape of a reshape traces as one Reshape of the original (and back to it when the shapes agree)', () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.input('x', [2, 3, 4]);
    const once = F.reshape(F.reshape(x, [6, 4]), [2, 12]);
    assert.equal(once.producer!.inputs[0], x);
    assert.equal(F.reshape(F.reshape(x, [24]), [2, 3, 4]), x);
  });
});

test('derived inputs are computed from their drawn or given source at every feed', () => {
  const g = new Graph('derived');
  const draw = { describe: 'counter', draw: (rng: Rng, shape: readonly number[]) => new Tensor(Float32Array.from({ length: shape[0]! }, () => rng.uniform(0, 1)), shape, 'float32') };
  const [src, twice] = withGraph(g, () => {
    const r = g.randomInput('r', [3], draw);
    return [r, g.derivedInput('r2', [3], 'float32', r, (t) => new Tensor((t.data as Float32Array).map((v) => 2 * v), t.shape, 'float32'))];
  });
  const drawn = g.drawRandomInputs(new Rng(4));
  assert.deepEqual([...drawn.r2!.data], [...(drawn.r!.data as Float32Array)].map((v) => Math.fround(2 * v)));
  const given = new Tensor(Float32Array.of(1, 2, 3), [3], 'float32');
  const fed = g.drawRandomInputs(new Rng(4), { [src!.name!]: given });
  assert.deepEqual(Object.keys(fed), ['r2'], 'a given source is not drawn again');
  assert.deepEqual([...fed.r2!.data], [2, 4, 6]);
  assert.equal(twice!.name, 'r2');
  // The derived tensor must match what the graph declared.
  withGraph(g, () => g.derivedInput('bad', [2], 'float32', src!, (t) => t));
  assert.throws(() => g.drawRandomInputs(new Rng(4)), /derived input bad: got float32 \[3\], the graph wants float32\[2\]/);
  assert.throws(() => withGraph(g, () => g.derivedInput('orphan', [3], 'float32', twice!.graph.constant(given), (t) => t)), /source must be a named graph input/);
});
