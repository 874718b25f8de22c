/**
 * PyTorch's adaptive average pooling written as matrices (GLNet pools its initial slots from the
 * block input this way): unequal, overlapping bins when the output size does not divide the input.
 */
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { Tensor } from '../tensor.js';

/**
 * PyTorch's adaptive average pooling as a matrix: row i averages inputs floor(i·n/p) … ceil((i+1)·n/p)−1
 * ([p, n]). Bins are unequal and overlap when p does not divide n.
 */
export function adaptivePoolWeights(n: number, p: number): number[][] {
  return Array.from({ length: p }, (_, i) => {
    const start = Math.floor((i * n) / p);
    const end = Math.ceil(((i + 1) * n) / p);
    return Array.from({ length: n }, (_, j) => (j >= start && j < end ? 1 / (end - start) : 0));
  });
}

/**
 * The slots × pixels matrix M of a P×P adaptive average pool of an H×W map ([P², H·W], row-major on
 * both sides): slots = M · pixels. Each entry is the product of a row-bin and a column-bin weight
 * (M = Ph ⊗ Pw), which is how `adaptivePoolSlots` applies it: two MatMuls with Pw and Ph
 * (C·H·W·P + C·H·P² multiply-adds instead of C·H·W·P²), the same numbers.
 */
export function slotPoolMatrix(h: number, w: number, p: number): Tensor {
  const rows = adaptivePoolWeights(h, p);
  const cols = adaptivePoolWeights(w, p);
  const m = new Float32Array(p * p * h * w);
  for (let i = 0; i < p; i++)
    for (let j = 0; j < p; j++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[(i * p + j) * h * w + y * w + x] = rows[i]![y]! * cols[j]![x]!;
  return new Tensor(m, [p * p, h * w], 'float32');
}

/** Pᵀ as a constant [n, p]: x · Pᵀ averages the last axis (length n) into p adaptive bins. */
function poolWeightsT(n: number, p: number): Value {
  const w = adaptivePoolWeights(n, p);
  const t = new Float32Array(n * p);
  for (let i = 0; i < p; i++) for (let j = 0; j < n; j++) t[j * p + i] = w[i]![j]!;
  return F.constant(new Tensor(t, [n, p], 'float32'));
}

/**
 * Adaptive average pool of x [B, C, H, W] to P×P, as slots [B, P², C] (slot i·P + j = bin (i, j)):
 * the slots × pixels pooling matrix applied in its two factors.
 */
export function adaptivePoolSlots(x: Value, p: number): Value {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const cols = F.matmul(x, poolWeightsT(w, p)); // [B, C, H, Pj]
  const rows = F.matmul(F.transpose(cols, [0, 3, 1, 2]), poolWeightsT(h, p)); // [B, Pj, C, Pi]
  return F.reshape(F.transpose(rows, [0, 3, 1, 2]), [b, p * p, c]); // [B, Pi, Pj, C] → [B, S, C]
}
