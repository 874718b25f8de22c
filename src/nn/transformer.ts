/** The MLP and the pre-norm transformer block of timm's ViT (`Mlp`, `Block`), with timm's key names. */
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { Attention } from './attention.js';
import { DropPath, Dropout, Identity, LayerNorm, LayerScale, Linear, activation, type Activation, type Init } from './layers.js';
import { Module } from './module.js';

/** fc1 → act → dropout → fc2 → dropout, over the last axis (timm's `Mlp`; keys `fc1`, `fc2`). */
export class Mlp extends Module {
  fc1: Linear;
  private readonly act: Module & { forward(x: Value): Value };
  drop1: Dropout;
  fc2: Linear;
  drop2: Dropout;

  constructor(inDim: number, hidden: number, o: { outDim?: number; act?: Activation; drop?: number; init?: Init } = {}) {
    super();
    this.fc1 = new Linear(inDim, hidden, { init: o.init });
    this.act = activation(o.act ?? 'gelu');
    this.drop1 = new Dropout(0);
    this.fc2 = new Linear(hidden, o.outDim ?? inDim, { init: o.init });
    this.drop2 = new Dropout(o.drop ?? 0);
  }

  forward(x: Value): Value {
    return this.drop2.call(this.fc2.call(this.drop1.call(this.act.call(this.fc1.call(x)))));
  }
}

export interface TransformerBlockOptions {
  mlpRatio?: number;
  /** Hidden width of the MLP, when not dim·mlpRatio. */
  mlpHidden?: number;
  qkvBias?: boolean;
  act?: Activation;
  normEps?: number;
  /** Dropout after the attention projection and after the MLP. */
  drop?: number;
  attnDrop?: number;
  dropPath?: number;
  /** Layer-scale init; absent or 0: no layer scale. */
  layerScale?: number;
  init?: Init;
}

/**
 * Pre-norm transformer block on tokens [B, N, C]:
 *   x = x + drop_path(ls1(attn(norm1(x))));  x = x + drop_path(ls2(mlp(norm2(x))))
 */
export class TransformerBlock extends Module {
  norm1: LayerNorm;
  attn: Attention;
  ls1: LayerScale | Identity;
  drop_path1: DropPath | Identity;
  norm2: LayerNorm;
  mlp: Mlp;
  ls2: LayerScale | Identity;
  drop_path2: DropPath | Identity;

  constructor(dim: number, heads: number, o: TransformerBlockOptions = {}) {
    super();
    const eps = o.normEps ?? 1e-5;
    this.norm1 = new LayerNorm(dim, eps);
    this.attn = new Attention(dim, heads, { qkvBias: o.qkvBias, attnDrop: o.attnDrop, projDrop: o.drop, init: o.init });
    this.ls1 = o.layerScale ? new LayerScale(dim, o.layerScale) : new Identity();
    this.drop_path1 = o.dropPath ? new DropPath(o.dropPath) : new Identity();
    this.norm2 = new LayerNorm(dim, eps);
    this.mlp = new Mlp(dim, o.mlpHidden ?? Math.trunc(dim * (o.mlpRatio ?? 4)), { act: o.act, drop: o.drop, init: o.init });
    this.ls2 = o.layerScale ? new LayerScale(dim, o.layerScale) : new Identity();
    this.drop_path2 = o.dropPath ? new DropPath(o.dropPath) : new Identity();
  }

  /** Tokens [B, N, C] → [B, N, C]. */
  forward(x: Value, attnBias?: Value): Value {
    const [b, n, c] = x.shape as [number, number, number];
    // The block runs on the flat token stream [B·N, C]: each Linear is then one Gemm (ORT wraps a
    // 3-D MatMul + Add in two Reshapes to make it one), and only attention needs the sequences.
    let t = F.reshape(x, [b * n, c]);
    t = F.add(t, this.dropPath(this.drop_path1, this.ls1.call(this.attn.call(this.norm1.call(t), attnBias, b)), b));
    t = F.add(t, this.dropPath(this.drop_path2, this.ls2.call(this.mlp.call(this.norm2.call(t))), b));
    return F.reshape(t, [b, n, c]);
  }

  /** Stochastic depth drops whole samples: applied to the [B, N, C] view of the flat stream. */
  private dropPath(dp: DropPath | Identity, y: Value, b: number): Value {
    if (!(dp instanceof DropPath) || !dp.training || dp.p === 0) return y;
    return F.reshape(dp.call(F.reshape(y, [b, -1, y.shape[1]!])), y.shape);
  }
}
