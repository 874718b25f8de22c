/**
 * nn/tokens: the one NCHW ↔ tokens helper of CMT, GLNet and MobileViT. Checked against the index
 * formulas written out independently, and as exact inverses, run in ONNX Runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/index.js';
import { Graph, toModelProto, withGraph } from '../../src/graph/index.js';
import { toNCHW, toTokens } from '../../src/nn/tokens.js';
import { createNodeSession } from '../../src/runtime/node.js';

async function run(shape: [number, number, number, number], patch: number) {
  const [b, c, h, w] = shape;
  const x = Float32Array.from({ length: b * c * h * w }, (_, i) => i);
  const g = new Graph('tokens');
  withGraph(g, () => {
    const t = toTokens(g.input('x', shape), patch);
    g.markOutput(t, 'tokens');
    g.markOutput(toNCHW(t, h, w, patch), 'back');
  });
  const s = await createNodeSession(toModelProto(g));
  const out = await s.run({ x: new Tensor(x, shape, 'float32') });
  await s.release();
  return { x, tokens: out.tokens!, back: out.back! };
}

test('patch 1: [B, C, H, W] → [B, H·W, C], token y·W + x is pixel (y, x); toNCHW inverts it exactly', async () => {
  const [b, c, h, w] = [2, 3, 4, 5];
  const { x, tokens, back } = await run([b, c, h, w], 1);
  assert.deepEqual(tokens.shape, [b, h * w, c]);
  const t = tokens.data as Float32Array;
  for (let n = 0; n < b; n++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++) assert.equal(t[(n * h * w + y * w + xx) * c + ch], x[((n * c + ch) * h + y) * w + xx]);
  assert.deepEqual(back.shape, [b, c, h, w]);
  assert.deepEqual(back.data, x);
});

test('patch p: [B·p², N, C]; token a·(W/p) + q of sequence n·p² + i·p + j is pixel (a·p + i, q·p + j); inverted exactly', async () => {
  const [b, c, h, w, p] = [2, 3, 4, 6, 2];
  const { x, tokens, back } = await run([b, c, h, w], p);
  const [nh, nw] = [h / p, w / p];
  assert.deepEqual(tokens.shape, [b * p * p, nh * nw, c]);
  const t = tokens.data as Float32Array;
  for (let n = 0; n < b; n++)
    for (let i = 0; i < p; i++)
      for (let j = 0; j < p; j++)
        for (let a = 0; a < nh; a++)
          for (let q = 0; q < nw; q++)
            for (let ch = 0; ch < c; ch++) {
              const seq = n * p * p + i * p + j;
              const got = t[(seq * nh * nw + a * nw + q) * c + ch];
              assert.equal(got, x[((n * c + ch) * h + a * p + i) * w + q * p + j], `seq ${seq} token ${a * nw + q} ch ${ch}`);
            }
  assert.deepEqual(back.shape, [b, c, h, w]);
  assert.deepEqual(back.data, x);
});
