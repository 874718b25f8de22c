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
 * A checkpoint saved without BatchNorm's `num_batches_tracked` counters (timm's exports, the golden
 * files) gets the model's own counters, so it loads strictly. Only when it has none at all: a
 * checkpoint with some counters but not others is incomplete and must fail the strict load.
 */
export function withBatchCounters(sd: Map<string, Tensor>, model: Module): Map<string, Tensor> {
  const isCounter = (k: string) => k.endsWith('.num_batches_tracked') || k === 'num_batches_tracked';
  if ([...sd.keys()].some(isCounter)) return sd;
  const out = new Map(sd);
  for (const [k, b] of model.namedBuffers()) if (isCounter(k)) out.set(k, b.tensor);
  return out;
}
