/**
 * Token labelling (Jiang et al., "All Tokens Matter", 2021), the objective of GLNet's *_tklb models:
 * the class head learns from the image's target, and the per-token auxiliary head from a target for
 * every token of the last stage:
 *
 *   loss = cls_weight · CE(cls_logits, y) + dense_weight · mean over tokens CE(aux_logits[t], y_t)
 *
 * The reference trains y_t from precomputed dense labels (an NFNet's top-5 per 7×7 location, spec
 * §12); without such labels every token takes the image's target. Both forms are supported: targets
 * are class targets (labels or soft [N, K]) or `{ labels, tokens }` with soft token targets [N, L, K].
 * The reference also CutMixes the stem output inside the model during training; that augmentation is
 * not part of this objective.
 */
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { Tensor } from '../tensor.js';
import { accuracy, crossEntropy, type ClassTargets } from './losses.js';
import type { Objective, ObjectiveContext } from './objective.js';

export interface TokenLabelTargets {
  /** The image-level target: labels [N] or soft targets [N, K]. */
  labels: ClassTargets;
  /** Soft per-token targets [N, L, K] (L = tokens of the last stage). */
  tokens: Tensor;
}

export interface TokenLabellingOptions {
  /** Weight of the class head's loss (reference: 1). */
  clsWeight?: number;
  /** Weight of the dense (per-token) loss (reference: 0.5). */
  denseWeight?: number;
  /** Label smoothing of integer labels (the image target, and the tokens when they take it). */
  labelSmoothing?: number;
  /** Targets carry per-token soft targets (`{ labels, tokens }`); otherwise tokens take the image target. */
  tokenTargets?: boolean;
}

/** Mean over [N, L] of −Σ_k t_k log softmax(z)_k, for z [N, L, K] and t broadcasting to it. */
function denseSoftTargetCrossEntropy(logits: Value, targets: Value): Value {
  return F.neg(F.reduceMean(F.reduceSum(F.mul(F.logSoftmax(logits, -1), targets), [2])));
}

export function tokenLabelling(o: TokenLabellingOptions = {}): Objective<ClassTargets | TokenLabelTargets> {
  const clsWeight = o.clsWeight ?? 1;
  const denseWeight = o.denseWeight ?? 0.5;
  const smoothing = o.labelSmoothing ?? 0;
  const tokenTargets = o.tokenTargets ?? false;
  for (const [k, v] of [['clsWeight', clsWeight], ['denseWeight', denseWeight]] as const)
    if (!(Number.isFinite(v) && v >= 0)) throw new ConfigError(`token labelling: ${k} must be a number ≥ 0, got ${v}`);
  const classObjective = crossEntropy({ labelSmoothing: smoothing });
  return {
    name: `token_labelling(cls=${clsWeight},dense=${denseWeight},smoothing=${smoothing},tokens=${tokenTargets})`,
    reads: ['logits', 'cls_logits', 'aux_logits'],
    build(ctx) {
      const cls = ctx.outputs.cls_logits as Value;
      const aux = ctx.outputs.aux_logits as Value; // [N, L, K]
      const [n, l, k] = aux.shape as [number, number, number];
      // The class part is plain cross-entropy on the class head; its target input is reused below.
      let classTarget: Value | undefined;
      const clsCtx: ObjectiveContext = {
        ...ctx,
        outputs: { ...ctx.outputs, logits: cls },
        target: (name, shape, dtype) => (classTarget = ctx.target(name, shape, dtype)),
      };
      const clsPart = classObjective.build(clsCtx);
      const tokens = tokenTargets ? ctx.target('tokens', [n, l, k]) : F.reshape(classTarget!, [n, 1, k]);
      const dense = denseSoftTargetCrossEntropy(aux, tokens);
      return {
        loss: F.add(F.mul(clsPart.loss, clsWeight), F.mul(dense, denseWeight)),
        // Accuracy of what the model predicts in eval mode: class head + ½ · max over tokens of the aux head.
        metrics: { acc: accuracy(ctx.outputs.logits!, classTarget!), cls_loss: clsPart.loss, dense_loss: dense },
        feed(t) {
          if (!tokenTargets) {
            if (isTokenTargets(t)) throw new ConfigError('token labelling: per-token targets given, but the objective was made without tokenTargets: true');
            return clsPart.feed(t);
          }
          if (!isTokenTargets(t)) throw new ConfigError(`token labelling with tokenTargets: targets must be { labels, tokens: Tensor [${n}, ${l}, ${k}] }`);
          const tk = t.tokens;
          if (tk.dtype !== 'float32' || tk.shape.join(',') !== [n, l, k].join(','))
            throw new ConfigError(`token targets must be a float32 Tensor [${n}, ${l}, ${k}] (batch, tokens of the last stage, classes), got ${tk.dtype} [${tk.shape}]`);
          return { ...clsPart.feed(t.labels), 'target.tokens': tk };
        },
      };
    },
  };
}

function isTokenTargets(t: unknown): t is TokenLabelTargets {
  return typeof t === 'object' && t !== null && !(t instanceof Tensor) && 'tokens' in t && 'labels' in t;
}
