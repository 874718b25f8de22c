/** Shared golden-case plumbing: read cases.json, compare tensors within a case's tolerance. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../src/tensor.js';
import { goldenDir, hasGolden } from './helpers.js';

export interface GoldenCase {
  name: string;
  family: string;
  mode: string;
  files: Record<string, string>;
  weight_naming?: string;
  input_shape: number[];
  reference: Record<string, unknown>;
  outputs: Record<string, unknown>;
  tolerance?: Record<string, unknown>;
  [k: string]: unknown;
}

export function goldenCases(family: string): GoldenCase[] {
  if (!hasGolden(family))
    throw new Error(`golden data missing: ${join(goldenDir(family), 'cases.json')} (set VISIONMIX_SHARED or check out ../shared)`);
  return (JSON.parse(readFileSync(join(goldenDir(family), 'cases.json'), 'utf8')) as { cases: GoldenCase[] }).cases;
}

export function goldenFile(family: string, file: string): string {
  return join(goldenDir(family), file);
}

/** max|ours − ref| and absmax(ref). */
export function compare(ours: Tensor, ref: Tensor): { maxAbs: number; absMax: number } {
  if (ours.shape.join(',') !== ref.shape.join(','))
    throw new Error(`shape mismatch: ours [${ours.shape}] vs reference [${ref.shape}]`);
  const a = ours.data as Float32Array;
  const b = ref.data as Float32Array;
  let maxAbs = 0;
  let absMax = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
    absMax = Math.max(absMax, Math.abs(b[i]!));
  }
  return { maxAbs, absMax };
}

/** Assert within max(floor, rel·absmax(ref)); returns a one-line report. */
export function assertClose(label: string, ours: Tensor, ref: Tensor, rel: number, floor: number): string {
  const { maxAbs, absMax } = compare(ours, ref);
  const tol = Math.max(floor, rel * absMax);
  if (!(maxAbs <= tol)) throw new Error(`${label}: max|err| ${maxAbs.toExponential(3)} > tolerance ${tol.toExponential(3)} (absmax ${absMax.toFixed(4)})`);
  return `${label}: max|err| ${maxAbs.toExponential(2)} (tol ${tol.toExponential(2)})`;
}

/** A golden tolerance `{ max_abs, rel }` (cases.json of CMT, MobileViT, GLNet). */
export interface AbsRelTolerance {
  max_abs: number;
  rel: number;
}

/**
 * Assert `|ours − ref| ≤ max_abs + rel·|ref|` element by element, or with `per: 'tensor'`
 * `≤ max_abs + rel·max|ref|` (the gradient rule). Returns a one-line report of the worst element.
 */
export function assertWithin(label: string, ours: Tensor, ref: Tensor, tol: AbsRelTolerance, per: 'element' | 'tensor' = 'element'): string {
  if (ours.shape.join(',') !== ref.shape.join(',')) throw new Error(`${label}: shape mismatch: ours [${ours.shape}] vs reference [${ref.shape}]`);
  const a = ours.toArray();
  const b = ref.toArray();
  const absMax = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let worst = 0; // largest error / allowed error
  let worstAt = 0;
  let maxErr = 0;
  for (let i = 0; i < b.length; i++) {
    const err = Math.abs(a[i]! - b[i]!);
    const allowed = tol.max_abs + tol.rel * (per === 'tensor' ? absMax : Math.abs(b[i]!));
    const r = Number.isNaN(err) ? Infinity : err / allowed;
    if (r > worst) [worst, worstAt] = [r, i];
    if (!(err <= maxErr)) maxErr = Number.isNaN(err) ? Infinity : err;
  }
  if (!(worst <= 1))
    throw new Error(`${label}: element ${worstAt} is ${a[worstAt]} vs reference ${b[worstAt]}: ${worst.toFixed(2)}× the tolerance (max|err| ${maxErr.toExponential(3)})`);
  return `${label}: max|err| ${maxErr.toExponential(2)}, ${(worst * 100).toFixed(1)}% of the tolerance at worst`;
}
