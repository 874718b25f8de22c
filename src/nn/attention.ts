/**
 * Multi-head attention: the shared core, timm's `Attention` (one fused `qkv` Linear, `proj`) and
 * PyTorch's `nn.MultiheadAttention` (`in_proj_weight`, `in_proj_bias`, `out_proj`), the layouts
 * MobileViT, CMT and GLNet checkpoints use.
 */
import { ShapeError } from '../errors.js';
import { currentGraph, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { uniformFanIn, zeros } from './init.js';
import { Dropout, Linear, type Init } from './layers.js';
import { Module, Parameter, lazy } from './module.js';

export interface AttentionOptions {
  /** Logit scale; default head_dim^−½. Applied to q, before the bias is added (the bias is not scaled). */
  scale?: number;
  /** Added to the scaled logits [B, h, N, M]: any shape that broadcasts (CMT: [h, N, M]). */
  bias?: Value;
  /** Dropout on the attention probabilities (training only). */
  attnDrop?: Dropout;
}

/** [B, N, h·d] → [B, h, N, d] */
function splitHeads(x: Value, heads: number): Value {
  const [b, n, c] = x.shape as [number, number, number];
  return F.transpose(F.reshape(x, [b, n, heads, c / heads]), [0, 2, 1, 3]);
}

/**
 * softmax(q·kᵀ·scale + bias) · v for each of `heads` heads. q [B, N, Cqk], k [B, M, Cqk], v [B, M, C];
 * head h uses channels h·d … (h+1)·d − 1 of each (d = width / heads). q and k may be narrower than v
 * (CMT's qk_ratio). Returns [B, N, C] with the heads concatenated in order, and the attention
 * probabilities [B, h, N, M].
 */
export function multiHeadAttention(q: Value, k: Value, v: Value, heads: number, o: AttentionOptions = {}): { out: Value; probs: Value } {
  const [b, n, cqk] = q.shape as [number, number, number];
  const c = v.shape[2]!;
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3 || k.shape[2] !== cqk || k.shape[1] !== v.shape[1] || k.shape[0] !== b || v.shape[0] !== b)
    throw new ShapeError(
      `attention at ${currentGraph().scope || '<root>'}: q, k, v must be [B, N, Cqk], [B, M, Cqk], [B, M, C]; got ${q}, ${k}, ${v}`,
    );
  if (!(Number.isInteger(heads) && heads >= 1 && cqk % heads === 0 && c % heads === 0))
    throw new ShapeError(`attention at ${currentGraph().scope || '<root>'}: ${cqk} (q, k) and ${c} (v) channels do not split into ${heads} heads`);
  const d = cqk / heads;
  const qh = F.mul(splitHeads(q, heads), o.scale ?? 1 / Math.sqrt(d)); // [B, h, N, d]
  const kt = F.transpose(F.reshape(k, [b, k.shape[1]!, heads, d]), [0, 2, 3, 1]); // [B, h, d, M]
  let logits = F.matmul(qh, kt); // [B, h, N, M]
  if (o.bias) logits = F.add(logits, o.bias);
  let probs = F.softmax(logits, -1);
  if (o.attnDrop) probs = o.attnDrop.call(probs);
  const out = F.matmul(probs, splitHeads(v, heads)); // [B, h, N, C/h]
  return { out: F.reshape(F.transpose(out, [0, 2, 1, 3]), [b, n, c]), probs };
}

/** timm's ViT `Attention`: tokens [B, N, C] → fused qkv Linear → heads → `proj` Linear. */
export class Attention extends Module {
  qkv: Linear;
  attn_drop: Dropout;
  proj: Linear;
  proj_drop: Dropout;

  constructor(
    readonly dim: number,
    readonly heads: number,
    o: { qkvBias?: boolean; attnDrop?: number; projDrop?: number; init?: Init } = {},
  ) {
    super();
    if (dim % heads) throw new ShapeError(`Attention: dim ${dim} is not divisible by ${heads} heads`);
    this.qkv = new Linear(dim, 3 * dim, { bias: o.qkvBias ?? true, init: o.init });
    this.attn_drop = new Dropout(o.attnDrop ?? 0);
    this.proj = new Linear(dim, dim, { init: o.init });
    this.proj_drop = new Dropout(o.projDrop ?? 0);
  }

  forward(x: Value, bias?: Value): Value {
    const c = this.dim;
    const [q, k, v] = F.split(this.qkv.call(x), [c, c, c], -1) as [Value, Value, Value];
    const { out } = multiHeadAttention(q, k, v, this.heads, { bias, attnDrop: this.attn_drop });
    return this.proj_drop.call(this.proj.call(out));
  }
}

/**
 * PyTorch's `nn.MultiheadAttention(batch_first=True)` as self-attention: `in_proj_weight` [3C, C]
 * (rows Q | K | V), `in_proj_bias` [3C], `out_proj` Linear — GLNet's checkpoints use these names.
 */
export class MultiheadAttention extends Module {
  in_proj_weight: Parameter;
  in_proj_bias: Parameter;
  out_proj: Linear;

  constructor(
    readonly dim: number,
    readonly heads: number,
    o: {
      /** Init of `out_proj` (PyTorch's default; GLNet re-initialises every Linear with trunc_normal). */
      outProjInit?: Init;
    } = {},
  ) {
    super();
    if (dim % heads) throw new ShapeError(`MultiheadAttention: dim ${dim} is not divisible by ${heads} heads`);
    const shape = [3 * dim, dim];
    // PyTorch: xavier_uniform_ on in_proj_weight (= U(±√(6/(fan_in+fan_out)))), zero biases.
    this.in_proj_weight = new Parameter(lazy(shape, (r) => uniformFanIn(shape, (dim + 3 * dim) / 6, r)));
    this.in_proj_bias = new Parameter(lazy([3 * dim], () => zeros([3 * dim])));
    this.out_proj = new Linear(dim, dim, { init: o.outProjInit });
  }

  /** Self-attention over tokens [B, N, C]; also returns the attention probabilities [B, h, N, N]. */
  attend(x: Value): { out: Value; probs: Value } {
    const c = this.dim;
    const qkv = F.add(F.matmul(x, F.transpose(this.in_proj_weight.value, [1, 0])), this.in_proj_bias.value);
    const [q, k, v] = F.split(qkv, [c, c, c], -1) as [Value, Value, Value];
    const r = multiHeadAttention(q, k, v, this.heads);
    return { out: this.out_proj.call(r.out), probs: r.probs };
  }

  forward(x: Value): Value {
    return this.attend(x).out;
  }
}
