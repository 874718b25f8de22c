/** Classification losses as graph ops, the soft targets they consume, and the cross-entropy objective. */
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { Tensor } from '../tensor.js';
import type { Objective } from './objective.js';

/** Mean over the batch of −Σ_k t_k log softmax(z)_k (timm's SoftTargetCrossEntropy). */
export function softTargetCrossEntropy(logits: Value, targets: Value): Value {
  const logp = F.logSoftmax(logits, -1);
  return F.neg(F.reduceMean(F.reduceSum(F.mul(logp, targets), [1])));
}

/**
 * One-hot targets with label smoothing ε: (1 − ε) on the label plus ε/K everywhere, which is what
 * torch's CrossEntropyLoss(label_smoothing=ε) and timm's mixup targets compute.
 */
export function smoothedTargets(labels: ArrayLike<number | bigint>, numClasses: number, smoothing = 0, out?: Float32Array): Float32Array {
  if (!(smoothing >= 0 && smoothing < 1)) throw new ConfigError(`label smoothing must be in [0, 1), got ${smoothing}`);
  const n = labels.length;
  const t = out ?? new Float32Array(n * numClasses);
  const off = smoothing / numClasses;
  t.fill(off);
  for (let i = 0; i < n; i++) {
    const l = Number(labels[i]!); // int64 labels (BigInt64Array) are as valid as int32 ones
    if (!Number.isInteger(l) || l < 0 || l >= numClasses) throw new ConfigError(`label ${l} at index ${i} is outside [0, ${numClasses})`);
    t[i * numClasses + l] = 1 - smoothing + off;
  }
  return t;
}

/** Fraction of rows whose arg-max logit is the arg-max target (the label, for one-hot or smoothed targets). */
export function accuracy(logits: Value, targets: Value): Value {
  const hits = F.cast(F.equal(F.argMax(logits, -1), F.argMax(targets, -1)), 'float32');
  return F.reduceMean(hits);
}

/**
 * Class targets: integer labels [N] (Int32Array, number[], BigInt64Array, Uint8Array) or soft
 * targets as a float32 Tensor [N, K] (Mixup/CutMix, distillation).
 */
export type ClassTargets = Int32Array | Uint8Array | BigInt64Array | readonly number[] | Tensor;

/** Labels as numbers, whatever integer array they came in. */
function labelArray(t: Exclude<ClassTargets, Tensor>): ArrayLike<number> {
  return t instanceof BigInt64Array ? Array.from(t, (v) => Number(v)) : t;
}

/**
 * Mean cross-entropy of the `logits` output against class targets, with optional label smoothing of
 * integer labels; metric `acc`.
 */
export function crossEntropy(o: { labelSmoothing?: number } = {}): Objective<ClassTargets> {
  const smoothing = o.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) throw new ConfigError(`label smoothing must be in [0, 1), got ${smoothing}`);
  return {
    name: `cross_entropy(smoothing=${smoothing})`,
    reads: ['logits'],
    build(ctx) {
      const logits = ctx.outputs.logits;
      if (!logits) throw new ConfigError(`objective cross_entropy needs a model with a 'logits' output`);
      const [n, k] = logits.shape as [number, number];
      const targets = ctx.target('class', [n, k]);
      return {
        loss: softTargetCrossEntropy(logits, targets),
        metrics: { acc: accuracy(logits, targets) },
        feed(t) {
          if (t instanceof Tensor) {
            if (t.dtype !== 'float32' || t.shape.length !== 2 || t.shape[0] !== n || t.shape[1] !== k)
              throw new ConfigError(`soft targets must be a float32 Tensor [${n}, ${k}], got ${t.dtype} [${t.shape}]`);
            return { 'target.class': t };
          }
          if (t === null || typeof t !== 'object' || typeof (t as { length?: unknown }).length !== 'number')
            throw new ConfigError(`targets must be ${n} integer labels or a float32 Tensor [${n}, ${k}] of soft targets`);
          const labels = labelArray(t);
          if (labels.length !== n) throw new ConfigError(`${labels.length} labels for a batch of ${n}`);
          return { 'target.class': new Tensor(smoothedTargets(labels, k, smoothing), [n, k], 'float32') };
        },
      };
    },
  };
}
