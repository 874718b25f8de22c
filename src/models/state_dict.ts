/** Helpers for adapting foreign checkpoints to a model's state dict (used by the families' `adaptStateDict`). */
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';

/** Drop a prefix that wraps every key (`model.` of training checkpoints, `module.` of DataParallel/DDP). */
export function stripWrapper(sd: Map<string, Tensor>): Map<string, Tensor> {
  for (const prefix of ['model.', 'module.', 'state_dict.']) {
    if ([...sd.keys()].every((k) => k.startsWith(prefix)))
      return new Map([...sd].map(([k, v]) => [k.slice(prefix.length), v] as const));
  }
  return sd;
}

/**
 * Tensors whose shape differs from the model's only by unit dims take the model's shape: conv-MLP
 * [o,i,1,1] ↔ Linear [o,i]; GRN [1,1,1,C] ↔ [C]. Others are left for strict loading to report.
 */
export function fitUnitDims(sd: Map<string, Tensor>, model: Module): Map<string, Tensor> {
  const own = new Map(model.namedParameters().map(([k, p]) => [k, p.shape] as const));
  const out = new Map<string, Tensor>();
  for (const [k, t] of sd) {
    const want = own.get(k);
    const fits = want && !sameDims(t.shape, want) && squeezeUnit(t.shape).join(',') === squeezeUnit(want).join(',');
    out.set(k, fits ? t.reshape(want) : t);
  }
  return out;
}

export const sameDims = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
const squeezeUnit = (s: readonly number[]) => s.filter((d) => d !== 1);
