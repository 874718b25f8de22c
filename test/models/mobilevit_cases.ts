/** MobileViT golden cases: the model a case describes, its tolerance rule, and when to skip. */
import assert from 'node:assert/strict';
import { createModel, type Tensor, type VisionModel } from '../../src/index.js';
import { compare, type GoldenCase } from '../golden.js';
import { goldenSkip } from '../helpers.js';

export const FAMILY = 'mobilevit';
/** Under CI the golden data must be there: a missing folder fails the tests instead of skipping them. */
export const skip = goldenSkip(FAMILY);

export interface Tolerance {
  max_abs: number;
  rel: number;
}

/** The case's model: a registry variant, or its custom config (the keys our schema takes). */
export function goldenModel(c: GoldenCase): VisionModel {
  const num_classes = c.num_classes as number;
  if (c.model !== 'tiny') return createModel(c.model as string, { num_classes });
  const { cvnets_layer_config: _cvnets, ...config } = c.config as Record<string, unknown>;
  return createModel({ family: 'mobilevit', ...config });
}

/**
 * Element-wise |ours − ref| ≤ max_abs + rel·|ref| (the golden cases' rule). Returns a one-line report
 * and the worst error as a fraction of its bound.
 */
export function assertElementwise(label: string, ours: Tensor, ref: Tensor, tol: Tolerance): { line: string; ratio: number } {
  assert.deepEqual(ours.shape, ref.shape, `${label}: shape`);
  const a = ours.data as Float32Array;
  const b = ref.data as Float32Array;
  let worst = 0;
  let at = 0;
  for (let i = 0; i < b.length; i++) {
    const r = Math.abs(a[i]! - b[i]!) / (tol.max_abs + tol.rel * Math.abs(b[i]!));
    if (!(r <= worst)) {
      worst = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  assert.ok(worst <= 1, `${label}: element ${at} is ${a[at]} vs reference ${b[at]} (${worst.toFixed(2)}× the tolerance)`);
  return { line: `${label}: max|err| ${compare(ours, ref).maxAbs.toExponential(2)} (${(worst * 100).toFixed(1)}% of tolerance)`, ratio: worst };
}

