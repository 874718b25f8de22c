/** Classifier heads: global average pool → (LayerNorm) → dropout → Linear (timm's ClassifierHead / NormMlpClassifierHead). */
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { Dropout, Identity, LayerNorm, Linear, type Init } from './layers.js';
import { Module } from './module.js';

export interface ClassifierHeadOptions {
  /** LayerNorm over the pooled channels before the classifier (ConvNeXt), with this eps. */
  normEps?: number;
  /** Dropout before the classifier (training only). */
  drop?: number;
  init?: Init;
}

/**
 * NCHW features [B, C, H, W] → logits [B, K]. With `numClasses` 0 the classifier is an identity and
 * the head returns the (normalised) pooled features, as timm's `num_classes=0`.
 */
export class ClassifierHead extends Module {
  norm: LayerNorm | Identity;
  drop: Dropout;
  fc: Linear | Identity;

  constructor(
    readonly inDim: number,
    readonly numClasses: number,
    o: ClassifierHeadOptions = {},
  ) {
    super();
    this.norm = o.normEps !== undefined ? new LayerNorm(inDim, o.normEps) : new Identity();
    this.drop = new Dropout(o.drop ?? 0);
    this.fc = numClasses > 0 ? new Linear(inDim, numClasses, { init: o.init }) : new Identity();
  }

  /** The pooled (and normalised) features, before dropout and the classifier: [B, C]. */
  preLogits(x: Value): Value {
    return this.norm.call(F.reduceMean(x, [2, 3]));
  }

  forward(x: Value): Value {
    return this.fc.call(this.drop.call(this.preLogits(x)));
  }
}
