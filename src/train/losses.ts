/** Classification losses as graph ops, and the soft targets they consume. */
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops.js';

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

/** Number of rows whose arg-max logit equals the label (int64 labels [N]). */
export function correctCount(logits: Value, labels: Value): Value {
  return F.reduceSum(F.cast(F.equal(F.argMax(logits, -1), labels), 'float32'));
}
