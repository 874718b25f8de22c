/**
 * NCHW maps ↔ token sequences, the one layout change every attention family makes (CMT's and GLNet's
 * blocks, MobileViT's patch unfolding). Transposes and reshapes only: exact, no arithmetic.
 */
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';

/**
 * NCHW [B, C, H, W] → tokens, channels last.
 *
 * - `patch` 1 (default): [B, H·W, C], row-major pixels (the reference's `flatten(2).transpose(1, 2)`).
 * - `patch` p > 1: [B·p², N, C] with N = (H/p)·(W/p) (MobileViT's unfolding): token n = a·(W/p) + b of
 *   sequence bi·p² + i·p + j is pixel (a·p + i, b·p + j), so attention runs among the pixels at the same
 *   place in their patches, p² sequences per image. einops: `b c (nh ph) (nw pw) -> (b ph pw) (nh nw) c`.
 *   H and W must be multiples of p.
 */
export function toTokens(x: Value, patch = 1): Value {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  if (patch === 1) return F.reshape(F.transpose(x, [0, 2, 3, 1]), [b, h * w, c]);
  // (Written as two transposes like `toNCHW`'s, ONNX Runtime merges them back into this one.)
  const p = patch;
  const patches = F.reshape(x, [b, c, h / p, p, w / p, p]);
  return F.reshape(F.transpose(patches, [0, 3, 5, 2, 4, 1]), [b * p * p, (h / p) * (w / p), c]);
}

/** The inverse of `toTokens(x, patch)`: tokens → NCHW [B, C, H, W] of an H×W map. */
export function toNCHW(t: Value, h: number, w: number, patch = 1): Value {
  const [bp, , c] = t.shape as [number, number, number];
  if (patch === 1) return F.transpose(F.reshape(t, [bp, h, w, c]), [0, 3, 1, 2]);
  // Two transposes, not one: the patch reorder moving whole pixels (C floats), then NHWC → NCHW (a
  // 2-D transpose, which ONNX Runtime runs fast). The single 6-D transpose, one float at a time, took
  // 8.5 ns per element (MobileViT-XXS's 32×32 fold at batch 1: 0.56 ms, now 0.05 + a little).
  const p = patch;
  const patches = F.reshape(t, [bp / (p * p), p, p, h / p, w / p, c]);
  const nhwc = F.reshape(F.transpose(patches, [0, 3, 1, 4, 2, 5]), [bp / (p * p), h, w, c]);
  return F.transpose(nhwc, [0, 3, 1, 2]);
}
