/**
 * The feature-collapse measure of ConvNeXt V2 (Woo et al. 2023, §3.2, "feature cosine distance"): for
 * one image and one layer, each channel's H×W activation map X_i is a vector, and the measure is
 *   (1 / C²) · Σ_i Σ_j (1 − cos(X_i, X_j)) / 2,
 * the paper's definition (all ordered pairs, i = j included; halved so it lies in [0, 1]). Collapsed
 * layers — many dead, saturated or redundant channels — score low. Built from graph ops: an
 * L2-normalised Gram matrix.
 */
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';

/** [N, C, H, W] → [N]: (1/C²) Σ_ij (1 − cos(x_i, x_j)) / 2. */
export function meanPairwiseCosineDistance(x: Value): Value {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const flat = F.reshape(x, [n, c, h * w]);
  // Unit vectors; an all-zero channel stays zero (cosine 0 with everything, as PyTorch's
  // cosine_similarity gives it through its eps).
  const norm = F.sqrt(F.maximum(F.reduceSumSquare(flat, [2], true), 1e-16));
  const unit = F.div(flat, norm);
  const gram = F.matmul(unit, F.transpose(unit, [0, 2, 1])); // [N, C, C] of cosines
  const meanCos = F.div(F.reduceSum(gram, [1, 2]), c * c);
  return F.mul(F.sub(1, meanCos), 0.5);
}
