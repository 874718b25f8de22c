/**
 * Multi-head attention against a float64 reference written out in plain loops: timm's layout (q | k | v
 * column blocks, head h = channels h·d … (h+1)·d − 1), the packed path (one Transpose for q, k and v)
 * equal to the separate one, on [B, N, 3C] and on the flat token stream [B·N, 3C], with and without a
 * logit bias; its gradient checked numerically; and the transformer block's drop path per sample.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, toModelProto, withGraph, F, type Value } from '../../src/graph/index.js';
import { multiHeadAttention, packedSelfAttention } from '../../src/nn/attention.js';
import { TransformerBlock } from '../../src/nn/transformer.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor } from '../../src/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { formatReport, gradcheck } from '../graph/gradcheck.js';

const B = 2;
const N = 5;
const HEADS = 3;
const D = 4;
const C = HEADS * D;

function random(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  return Tensor.from(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
}

/** out[b, n, h·D + e] = Σ_m softmax_m(q·k/√D + bias[h, n, m]) v[b, m, h·D + e], from packed qkv [B, N, 3C]. */
function reference(qkv: Float32Array, bias?: Float32Array): Float64Array {
  const at = (b: number, n: number, part: number, h: number, e: number) => qkv[(b * N + n) * 3 * C + part * C + h * D + e]!;
  const out = new Float64Array(B * N * C);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < HEADS; h++)
      for (let n = 0; n < N; n++) {
        const logits = Array.from({ length: N }, (_, m) => {
          let s = 0;
          for (let e = 0; e < D; e++) s += at(b, n, 0, h, e) * at(b, m, 1, h, e);
          return s / Math.sqrt(D) + (bias ? bias[(h * N + n) * N + m]! : 0);
        });
        const max = Math.max(...logits);
        const w = logits.map((l) => Math.exp(l - max));
        const z = w.reduce((a, c) => a + c, 0);
        for (let e = 0; e < D; e++) {
          let s = 0;
          for (let m = 0; m < N; m++) s += (w[m]! / z) * at(b, m, 2, h, e);
          out[(b * N + n) * C + h * D + e] = s;
        }
      }
  return out;
}

async function evaluate(build: (qkv: Value, bias: Value) => Value[], qkv: Tensor, bias: Tensor): Promise<Tensor[]> {
  const g = new Graph('attention');
  withGraph(g, () => build(g.input('qkv', qkv.shape), g.input('bias', bias.shape)).forEach((y, i) => g.markOutput(F.identity(y), `y${i}`)));
  const s = await createNodeSession(toModelProto(g), { threads: 1 });
  const out = await s.run({ qkv, bias });
  await s.release();
  return Object.keys(out).sort().map((k) => out[k]!);
}

test('packed and separate attention equal the reference, on [B, N, 3C] and on the flat stream, with and without a bias', async () => {
  const qkv = random([B, N, 3 * C], 1);
  const bias = random([HEADS, N, N], 2);
  const outs = await evaluate(
    (x, b) => {
      const [q, k, v] = F.split(x, [C, C, C], -1) as [Value, Value, Value];
      const flat = F.reshape(x, [B * N, 3 * C]);
      return [
        packedSelfAttention(x, HEADS),
        F.reshape(packedSelfAttention(flat, HEADS, {}, B), [B, N, C]),
        multiHeadAttention(q, k, v, HEADS).out,
        packedSelfAttention(x, HEADS, { bias: b }),
        F.reshape(packedSelfAttention(flat, HEADS, { bias: b }, B), [B, N, C]),
        multiHeadAttention(q, k, v, HEADS, { bias: b }).out,
      ];
    },
    qkv,
    bias,
  );
  const plain = reference(qkv.data as Float32Array);
  const biased = reference(qkv.data as Float32Array, bias.data as Float32Array);
  outs.forEach((o, i) => {
    assert.deepEqual(o.shape, [B, N, C]);
    const want = i < 3 ? plain : biased;
    (o.data as Float32Array).forEach((v, j) => assert.ok(Math.abs(v - want[j]!) < 1e-5, `output ${i} element ${j}: ${v} vs ${want[j]}`));
  });
});

test('packed attention: Transposes in the graph (one for q, k and v, one to merge the heads, kᵀ for the MatMul)', () => {
  const g = new Graph('attention');
  withGraph(g, () => g.markOutput(packedSelfAttention(g.input('qkv', [B * N, 3 * C]), HEADS, {}, B), 'y'));
  assert.equal(g.nodes.filter((n) => n.op.type === 'Transpose').length, 3);
  assert.equal(g.nodes.filter((n) => n.op.type === 'Split').length, 1);
});

test('packed attention: numerical gradient (float64), with a bias', async (t) => {
  const r = await gradcheck(
    'packedSelfAttention',
    [{ shape: [B * N, 3 * C] }, { shape: [HEADS, N, N] }],
    (qkv, bias) => packedSelfAttention(qkv!, HEADS, { bias: bias! }, B),
  );
  t.diagnostic(formatReport(r));
});

test('TransformerBlock on its flat stream: drop path draws one keep flag per sample', () => {
  const block = new TransformerBlock(C, HEADS, { dropPath: 0.5 }).bindKeys().train();
  const g = new Graph('block');
  withGraph(g, () => g.markOutput(block.call(g.input('x', [B, N, C])), 'y'));
  assert.deepEqual(g.randomInputs.map((r) => r.value.shape), [[B, 1, 1], [B, 1, 1]]);
  assert.deepEqual(g.outputs[0]!.shape, [B, N, C]);
});
