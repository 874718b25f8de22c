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

/** How a head pools the final map: global average, or not at all ('': the map itself, timm's `global_pool=''`). */
export type PoolType = 'avg' | '';

/** Global average pooling of an NCHW map [B, C, H, W] → [B, C]; '' returns the map. */
export function globalPool(x: Value, pool: PoolType): Value {
  return pool === 'avg' ? F.reduceMean(x, [2, 3]) : x;
}

/**
 * NCHW features [B, C, H, W] → logits [B, K]. With `numClasses` 0 the classifier is an identity and
 * the head returns the (normalised) pooled features, as timm's `num_classes=0`; with pooling '' too,
 * the (normalised) unpooled map.
 */
export class ClassifierHead extends Module {
  norm: LayerNorm | Identity;
  drop: Dropout;
  fc: Linear | Identity;
  pool: PoolType = 'avg';
  private readonly init: Init | undefined;

  constructor(
    readonly inDim: number,
    readonly numClasses: number,
    o: ClassifierHeadOptions = {},
  ) {
    super();
    this.init = o.init;
    this.norm = o.normEps !== undefined ? new LayerNorm(inDim, o.normEps) : new Identity();
    this.drop = new Dropout(o.drop ?? 0);
    this.fc = numClasses > 0 ? new Linear(inDim, numClasses, { init: o.init }) : new Identity();
  }

  /** A fresh classifier for `numClasses` (0: none) and the pooling (timm's `head.reset`); the norm is kept. */
  reset(numClasses: number, pool: PoolType): void {
    this.fc = numClasses > 0 ? new Linear(this.inDim, numClasses, { init: this.init }) : new Identity();
    this.pool = pool;
  }

  /** The pooled (and normalised) features, before dropout and the classifier: [B, C] (unpooled: [B, C, H, W]). */
  preLogits(x: Value): Value {
    if (this.pool === '') return this.norm instanceof LayerNorm ? normChannelsFirst(this.norm, x) : x;
    return this.norm.call(globalPool(x, this.pool));
  }

  forward(x: Value): Value {
    return this.fc.call(this.drop.call(this.preLogits(x)));
  }
}

/** A LayerNorm over the channels of an NCHW map (timm's head norm is a LayerNorm2d: it also normalises unpooled maps). */
function normChannelsFirst(norm: LayerNorm, x: Value): Value {
  return F.transpose(norm.call(F.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2]);
}
