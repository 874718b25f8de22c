/**
 * The shared layers MobileViT, CMT and GLNet are built from, each against a float64 reference written
 * here from the layer's definition: Attention (timm), MultiheadAttention (PyTorch), Mlp and the
 * pre-norm TransformerBlock, ConvNormAct (BN folded into the conv in eval graphs), LayerScale,
 * ClassifierHead, Dropout — plus the rule that reading a sub-module's names renames nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Graph, toModelProto, withGraph, type Value } from '../../src/graph/index.js';
import { Attention, MultiheadAttention, multiHeadAttention } from '../../src/nn/attention.js';
import { ConvNormAct } from '../../src/nn/conv_norm_act.js';
import { ClassifierHead } from '../../src/nn/heads.js';
import { Dropout, LayerScale, Linear, Sequential, type KeepMask } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { TransformerBlock } from '../../src/nn/transformer.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor } from '../../src/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { repoRoot } from '../helpers.js';

type Fwd = Module & { forward(x: Value): Value };

/** Randomise every parameter (init values would hide swapped weights) and return the module bound. */
function randomised<M extends Module>(m: M, seed: number, scale = 0.5): M {
  m.bindKeys();
  const rng = new Rng(seed);
  for (const [, p] of m.namedParameters()) p.tensor = new Tensor(Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => rng.normal(0, scale)), p.shape, 'float32');
  return m;
}

function randomInput(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  return new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()), shape, 'float32');
}

/** Trace `m` on an input of x's shape (weights as initializers) and run it on ONNX Runtime. */
async function runModule(m: Fwd, x: Tensor): Promise<{ y: Float32Array; graph: Graph }> {
  const g = new Graph('layer');
  withGraph(g, () => g.markOutput(m.call(g.input('x', x.shape)), 'y'));
  const s = await createNodeSession(toModelProto(g), { label: 'layer' });
  const y = (await s.run({ x })).y!.data as Float32Array;
  await s.release();
  return { y, graph: g };
}

const w64 = (p: { tensor: Tensor }) => Float64Array.from(p.tensor.data as Float32Array);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

// ---- float64 references ---------------------------------------------------------------------------

/** y[r, o] = Σ_i x[r, i]·W[o, i] + b[o] over rows of x [R, I]. */
function linear(x: Float64Array, rows: number, w: Float64Array, b: Float64Array | null, out: number): Float64Array {
  const inn = x.length / rows;
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inn; i++) s += x[r * inn + i]! * w[o * inn + i]!;
      y[r * out + o] = s;
    }
  return y;
}

function layerNorm(x: Float64Array, rows: number, w: Float64Array, b: Float64Array, eps: number): Float64Array {
  const c = x.length / rows;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < c; i++) mean += x[r * c + i]! / c;
    let v = 0;
    for (let i = 0; i < c; i++) v += (x[r * c + i]! - mean) ** 2 / c;
    for (let i = 0; i < c; i++) y[r * c + i] = ((x[r * c + i]! - mean) / Math.sqrt(v + eps)) * w[i]! + b[i]!;
  }
  return y;
}

/** Self-attention of tokens q, k, v [B, N, C] (already projected), h heads, scale d^−½. */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, b: number, n: number, c: number, h: number): Float64Array {
  const d = c / h;
  const out = new Float64Array(b * n * c);
  for (let bi = 0; bi < b; bi++)
    for (let hi = 0; hi < h; hi++)
      for (let i = 0; i < n; i++) {
        const logits = Array.from({ length: n }, (_, j) => {
          let s = 0;
          for (let t = 0; t < d; t++) s += q[(bi * n + i) * c + hi * d + t]! * k[(bi * n + j) * c + hi * d + t]!;
          return s / Math.sqrt(d);
        });
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const z = e.reduce((a, x) => a + x, 0);
        for (let t = 0; t < d; t++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += (e[j]! / z) * v[(bi * n + j) * c + hi * d + t]!;
          out[(bi * n + i) * c + hi * d + t] = s;
        }
      }
  return out;
}

/** Split the last axis of [R, 3C] into three [R, C]. */
function thirds(x: Float64Array, rows: number, c: number): [Float64Array, Float64Array, Float64Array] {
  const parts = [0, 1, 2].map(() => new Float64Array(rows * c)) as [Float64Array, Float64Array, Float64Array];
  for (let r = 0; r < rows; r++) for (let p = 0; p < 3; p++) for (let i = 0; i < c; i++) parts[p][r * c + i] = x[r * 3 * c + p * c + i]!;
  return parts;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

// ---- tests ------------------------------------------------------------------------------------------

const [B, N, C, H] = [2, 5, 8, 2];

test('Attention (timm: fused qkv, proj) equals the float64 reference', async () => {
  const m = randomised(new Attention(C, H), 1);
  const x = randomInput([B, N, C], 2);
  const { y } = await runModule(m, x);
  const qkv = linear(Float64Array.from(x.data as Float32Array), B * N, w64(m.qkv.weight), w64(m.qkv.bias!), 3 * C);
  const [q, k, v] = thirds(qkv, B * N, C);
  const ref = linear(attention(q, k, v, B, N, C, H), B * N, w64(m.proj.weight), w64(m.proj.bias!), C);
  assert.ok(maxDiff(y, ref) < 1e-5, `max diff ${maxDiff(y, ref)}`);
  assert.deepEqual(Object.keys(m.stateDict()), ['qkv.weight', 'qkv.bias', 'proj.weight', 'proj.bias']);
});

test('MultiheadAttention (PyTorch names) equals the float64 reference', async () => {
  const m = randomised(new MultiheadAttention(C, H), 3);
  const x = randomInput([B, N, C], 4);
  const { y } = await runModule(m, x);
  const qkv = linear(Float64Array.from(x.data as Float32Array), B * N, w64(m.in_proj_weight), w64(m.in_proj_bias), 3 * C);
  const [q, k, v] = thirds(qkv, B * N, C);
  const ref = linear(attention(q, k, v, B, N, C, H), B * N, w64(m.out_proj.weight), w64(m.out_proj.bias!), C);
  assert.ok(maxDiff(y, ref) < 1e-5, `max diff ${maxDiff(y, ref)}`);
  assert.deepEqual(Object.keys(m.stateDict()), ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']);
});

test('multiHeadAttention: an additive bias goes on the scaled logits, unscaled; K/V may be shorter than Q', async () => {
  const [n, mLen, h, d] = [4, 2, 2, 3];
  const c = h * d;
  const g = new Graph('attn-bias');
  const q = randomInput([1, n, c], 5);
  const kv = randomInput([1, mLen, c], 6);
  const bias = randomInput([h, n, mLen], 7);
  withGraph(g, () => {
    const { out } = multiHeadAttention(g.input('q', q.shape), g.input('k', kv.shape), g.input('v', kv.shape), h, { bias: g.input('bias', bias.shape) });
    g.markOutput(out, 'y');
  });
  const s = await createNodeSession(toModelProto(g));
  const y = (await s.run({ q, k: kv, v: kv, bias })).y!.data as Float32Array;
  await s.release();
  const Q = q.data as Float32Array;
  const K = kv.data as Float32Array;
  const Bi = bias.data as Float32Array;
  for (let hi = 0; hi < h; hi++)
    for (let i = 0; i < n; i++) {
      const logits = Array.from({ length: mLen }, (_, j) => {
        let dot = 0;
        for (let t = 0; t < d; t++) dot += Q[i * c + hi * d + t]! * K[j * c + hi * d + t]!;
        return dot / Math.sqrt(d) + Bi[(hi * n + i) * mLen + j]!;
      });
      const e = logits.map(Math.exp);
      const z = e[0]! + e[1]!;
      for (let t = 0; t < d; t++) {
        const ref = (e[0]! * K[hi * d + t]! + e[1]! * K[c + hi * d + t]!) / z;
        assert.ok(Math.abs(y[i * c + hi * d + t]! - ref) < 1e-5);
      }
    }
});

test('TransformerBlock (pre-norm, SiLU MLP, layer scale) equals the float64 reference; timm key names', async () => {
  const hidden = 12;
  const m = randomised(new TransformerBlock(C, H, { mlpHidden: hidden, act: 'silu', normEps: 1e-5, layerScale: 0.5 }), 8);
  const x = randomInput([B, N, C], 9);
  const { y } = await runModule(m as Fwd, x);
  const rows = B * N;
  const x64 = Float64Array.from(x.data as Float32Array);
  const n1 = layerNorm(x64, rows, w64(m.norm1.weight), w64(m.norm1.bias), 1e-5);
  const [q, k, v] = thirds(linear(n1, rows, w64(m.attn.qkv.weight), w64(m.attn.qkv.bias!), 3 * C), rows, C);
  const a = linear(attention(q, k, v, B, N, C, H), rows, w64(m.attn.proj.weight), w64(m.attn.proj.bias!), C);
  const ls1 = w64((m.ls1 as LayerScale).gamma);
  const x1 = x64.map((val, i) => val + a[i]! * ls1[i % C]!);
  const n2 = layerNorm(x1, rows, w64(m.norm2.weight), w64(m.norm2.bias), 1e-5);
  const h1 = linear(n2, rows, w64(m.mlp.fc1.weight), w64(m.mlp.fc1.bias!), hidden).map(silu);
  const h2 = linear(h1, rows, w64(m.mlp.fc2.weight), w64(m.mlp.fc2.bias!), C);
  const ls2 = w64((m.ls2 as LayerScale).gamma);
  const ref = x1.map((val, i) => val + h2[i]! * ls2[i % C]!);
  assert.ok(maxDiff(y, ref) < 1e-5, `max diff ${maxDiff(y, ref)}`);
  assert.deepEqual(Object.keys(m.stateDict()), [
    'norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias', 'ls1.gamma',
    'norm2.weight', 'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias', 'ls2.gamma',
  ]);
});

test('ConvNormAct: eval graphs fold the BatchNorm into one Conv and equal conv → BN(running stats) → SiLU', async () => {
  const [cin, cout, hw] = [3, 4, 6];
  const m = randomised(new ConvNormAct(cin, cout, 3, { stride: 2, act: 'silu' }), 10);
  const rng = new Rng(11);
  m.bn.running_mean.tensor = new Tensor(Float32Array.from({ length: cout }, () => rng.normal(0, 0.5)), [cout], 'float32');
  m.bn.running_var.tensor = new Tensor(Float32Array.from({ length: cout }, () => rng.uniform(0.5, 2)), [cout], 'float32');
  const x = randomInput([1, cin, hw, hw], 12);
  const { y, graph } = await runModule(m, x);
  // One Conv; no op between it and the activation other than the activation itself (no per-channel Mul/Add on activations).
  const convs = graph.nodes.filter((n) => n.op.type === 'Conv');
  assert.equal(convs.length, 1);
  const readers = graph.nodes.filter((n) => n.inputs.includes(convs[0]!.outputs[0]!)).map((n) => n.op.type);
  assert.deepEqual(readers.sort(), ['Mul', 'Sigmoid'], `SiLU reads the conv output directly (${readers})`);
  // Reference: 3×3 conv, stride 2, padding 1, no bias; then BN eval; then SiLU.
  const W = w64(m.conv.weight);
  const X = x.data as Float32Array;
  const [g, b, rm, rv] = [w64(m.bn.weight), w64(m.bn.bias), w64(m.bn.running_mean), w64(m.bn.running_var)];
  const ho = 3;
  const ref: number[] = [];
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < ho; j++) {
        let s = 0;
        for (let c = 0; c < cin; c++)
          for (let p = 0; p < 3; p++)
            for (let q = 0; q < 3; q++) {
              const r = i * 2 + p - 1;
              const col = j * 2 + q - 1;
              if (r >= 0 && r < hw && col >= 0 && col < hw) s += X[(c * hw + r) * hw + col]! * W[((o * cin + c) * 3 + p) * 3 + q]!;
            }
        ref.push(silu(((s - rm[o]!) / Math.sqrt(rv[o]! + 1e-5)) * g[o]! + b[o]!));
      }
  assert.ok(maxDiff(y, ref) < 1e-5, `max diff ${maxDiff(y, ref)}`);
  assert.deepEqual(Object.keys(m.stateDict()), ['conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
});

test('LayerScale: [C] for tokens, [1, C, 1, 1] for NCHW; ClassifierHead: pool → LN → fc, or pooled features with 0 classes', async () => {
  assert.deepEqual(new LayerScale(6, 1e-4).gamma.shape, [6]);
  assert.deepEqual(new LayerScale(6, 1e-4, { channelsFirst: true }).gamma.shape, [1, 6, 1, 1]);
  assert.deepEqual(Array.from(new LayerScale(3, 0.25).bindKeys().gamma.tensor.data as Float32Array), [0.25, 0.25, 0.25]);

  const head = randomised(new ClassifierHead(4, 3, { normEps: 1e-6 }), 13);
  const x = randomInput([2, 4, 3, 3], 14);
  const { y } = await runModule(head, x);
  const X = x.data as Float32Array;
  const pooled = Float64Array.from({ length: 8 }, (_, i) => {
    let s = 0;
    for (let k = 0; k < 9; k++) s += X[i * 9 + k]!;
    return s / 9;
  });
  const ln = head.norm as unknown as { weight: { tensor: Tensor }; bias: { tensor: Tensor } };
  const ref = linear(layerNorm(pooled, 2, w64(ln.weight), w64(ln.bias), 1e-6), 2, w64((head.fc as Linear).weight), w64((head.fc as Linear).bias!), 3);
  assert.ok(maxDiff(y, ref) < 1e-5);
  const features = new ClassifierHead(4, 0).bindKeys();
  assert.deepEqual(Object.keys(features.stateDict()), []);
  const r = await runModule(features, x);
  assert.ok(maxDiff(r.y, pooled) < 1e-6, 'num_classes 0: the pooled features');
});

test('Dropout: nothing in eval; in train mode a per-element keep mask (random graph input) scaled by 1/(1−p)', () => {
  const d = new Dropout(0.25).bindKeys();
  const trace = () => {
    const g = new Graph('dropout');
    withGraph(g, () => g.markOutput(d.call(g.input('x', [2, 3])), 'y'));
    return g;
  };
  assert.equal(trace().randomInputs.length, 0);
  d.train();
  const g = trace();
  assert.equal(g.randomInputs.length, 1);
  assert.deepEqual(g.randomInputs[0]!.value.shape, [2, 3]);
  assert.equal((g.randomInputs[0]!.spec as KeepMask).keep, 0.75);
  const mask = g.drawRandomInputs(new Rng(1))[g.randomInputs[0]!.value.name!]!;
  for (const v of mask.data as Float32Array) assert.ok(v === 0 || v === Math.fround(1 / 0.75));
});

test("reading a sub-module's parameters or state dict renames nothing (keys and lazy init stay the root's)", () => {
  const root = new Sequential(new Linear(3, 4), new Sequential(new Linear(4, 2))).bindKeys();
  const inner = root.at(1) as Sequential;
  assert.deepEqual(inner.namedParameters().map(([k]) => k), ['0.weight', '0.bias'], 'names relative to the sub-module');
  assert.deepEqual(Object.keys(inner.stateDict()), ['0.weight', '0.bias']);
  // The root's keys are unchanged, and so is the lazily initialised tensor (seeded by the root key).
  assert.deepEqual(root.namedParameters().map(([, p]) => p.key), ['0.weight', '0.bias', '1.0.weight', '1.0.bias']);
  const viaRoot = new Sequential(new Linear(3, 4), new Sequential(new Linear(4, 2))).bindKeys();
  assert.deepEqual(Array.from(root.stateDict()['1.0.weight']!.data as Float32Array), Array.from(viaRoot.stateDict()['1.0.weight']!.data as Float32Array));
});

test('ops by family: no file under graph/ops/ exceeds ~400 lines; no VJP is attached by mutation', () => {
  const dir = join(repoRoot, 'src', 'graph', 'ops');
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), 'utf8');
    assert.ok(text.split('\n').length <= 400, `${f}: ${text.split('\n').length} lines`);
  }
  const src = join(repoRoot, 'src');
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  for (const f of walk(src).filter((p) => p.endsWith('.ts'))) assert.doesNotMatch(readFileSync(f, 'utf8'), /\.vjp\s*=[^=]/, f);
});
