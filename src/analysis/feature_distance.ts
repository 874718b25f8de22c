/**
 * The feature-collapse measure of ConvNeXt V2 (Woo et al. 2023, §3.2, "feature cosine distance"):
 * for one image and one layer, each channel's H×W activation map is a vector; the measure is the
 * mean cosine distance 1 − cos(a, b) over all pairs of distinct channels. Collapsed layers (many dead
 * or saturated, i.e. redundant, channels) score low. Built from graph ops: an L2-normalised Gram matrix.
 */
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';

/** [N, C, H, W] → [N]: mean over channel pairs i ≠ j of 1 − cos(x_i, x_j). */
export function meanPairwiseCosineDistance(x: Value): Value {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const flat = F.reshape(x, [n, c, h * w]);
  // Unit vectors; an all-zero channel stays zero (cos 0 with everything: distance 1, as for any
  // orthogonal pair — PyTorch's cosine_similarity treats it the same way via its eps).
  const norm = F.sqrt(F.maximum(F.reduceSumSquare(flat, [2], true), 1e-16));
  const unit = F.div(flat, norm);
  const gram = F.matmul(unit, F.transpose(unit, [0, 2, 1])); // [N, C, C]
  // Σ_{i≠j} cos = Σ_all − Σ_diag; the diagonal is 1 for non-zero channels.
  const total = F.reduceSum(gram, [1, 2]);
  const diag = F.reduceSum(F.mul(unit, unit), [1, 2]);
  const meanCos = F.div(F.sub(total, diag), c * (c - 1));
  return F.sub(1, meanCos);
}
