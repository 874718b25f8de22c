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

/** [..., h, N, d] → [..., N, h·d]: the heads concatenated in order. */
function mergeHeads(x: Value): Value {
  const r = x.rank;
  const perm = x.shape.map((_, i) => i);
  [perm[r - 3], perm[r - 2]] = [perm[r - 2]!, perm[r - 3]!];
  const [h, n, d] = x.shape.slice(-3) as [number, number, number];
  return F.reshape(F.transpose(x, perm), [...x.shape.slice(0, -3), n, h * d]);
}

/**
 * softmax(q·kᵀ·scale + bias) · v on head-split tensors q [..., h, N, d], k and v [..., h, M, d].
 * kᵀ is a swap of the last two axes, which ORT folds into the MatMul (and the scale into it too).
 */
function attendHeads(qh: Value, kh: Value, vh: Value, o: AttentionOptions): { out: Value; probs: Value } {
  const d = qh.shape[qh.rank - 1]!;
  let logits = F.matmul(F.mul(qh, o.scale ?? 1 / Math.sqrt(d)), F.transposeLast2(kh)); // [..., h, N, M]
  if (o.bias) logits = F.add(logits, o.bias);
  let probs = F.softmax(logits, -1);
  if (o.attnDrop) probs = o.attnDrop.call(probs);
  return { out: F.matmul(probs, vh), probs };
}

function checkHeads(c: number, heads: number): void {
  if (!(Number.isInteger(heads) && heads >= 1 && c % heads === 0))
    throw new ShapeError(`attention at ${currentGraph().scope || '<root>'}: ${c} channels do not split into ${heads} heads`);
}

/**
 * softmax(q·kᵀ·scale + bias) · v for each of `heads` heads. q [B, N, Cqk], k [B, M, Cqk], v [B, M, C];
 * head h uses channels h·d … (h+1)·d − 1 of each (d = width / heads). q and k may be narrower than v
 * (CMT's qk_ratio). Returns [B, N, C] with the heads concatenated in order, and the attention
 * probabilities [B, h, N, M].
 */
export function multiHeadAttention(q: Value, k: Value, v: Value, heads: number, o: AttentionOptions = {}): { out: Value; probs: Value } {
  const [b, , cqk] = q.shape as [number, number, number];
  const c = v.shape[2]!;
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3 || k.shape[2] !== cqk || k.shape[1] !== v.shape[1] || k.shape[0] !== b || v.shape[0] !== b)
    throw new ShapeError(
      `attention at ${currentGraph().scope || '<root>'}: q, k, v must be [B, N, Cqk], [B, M, Cqk], [B, M, C]; got ${q}, ${k}, ${v}`,
    );
  checkHeads(cqk, heads);
  checkHeads(c, heads);
  const r = attendHeads(splitHeads(q, heads), splitHeads(k, heads), splitHeads(v, heads), o);
  return { out: mergeHeads(r.out), probs: r.probs };
}

/**
 * Self-attention from packed projections (columns q | k | v, heads contiguous in each): qkv [B, N, 3C]
 * → [B, N, C], or a flat token stream [B·N, 3C] → [B·N, C] given `batch` B. One Reshape and one
 * Transpose split q, k and v into heads together ([3, B, h, N, d], then Split), where splitting them
 * first would take three of each.
 */
export function packedSelfAttention(qkv: Value, heads: number, o: AttentionOptions = {}, batch?: number): Value {
  const flat = qkv.rank === 2;
  const c3 = qkv.shape[qkv.rank - 1]!;
  const b = flat ? batch ?? 0 : qkv.shape[0]!;
  const n = flat ? qkv.shape[0]! / b : qkv.shape[1]!;
  if ((qkv.rank !== 3 && !flat) || c3 % 3 || !Number.isInteger(n) || n < 1)
    throw new ShapeError(
      `attention at ${currentGraph().scope || '<root>'}: packed qkv must be [B, N, 3C] (or [B·N, 3C] with the batch B), got ${qkv}${flat ? ` and B = ${batch}` : ''}`,
    );
  const c = c3 / 3;
  checkHeads(c, heads);
  const d = c / heads;
  const packed = F.transpose(F.reshape(qkv, [b, n, 3, heads, d]), [2, 0, 3, 1, 4]); // [3, B, h, N, d]
  // Merging B and h keeps ORT's transpose optimizer from pushing the Transpose through the Split
  // (which would make it one Transpose each for q, k and v).
  let qkvHeads = F.split(F.reshape(packed, [3, b * heads, n, d]), [1, 1, 1], 0); // each [1, B·h, N, d]
  // A bias broadcasts against logits [B, h, N, M].
  if (o.bias) qkvHeads = qkvHeads.map((t) => F.reshape(t, [b, heads, n, d]));
  const [q, k, v] = qkvHeads as [Value, Value, Value];
  const out = F.reshape(attendHeads(q, k, v, o).out, [b, heads, n, d]);
  return F.reshape(mergeHeads(out), flat ? [b * n, c] : [b, n, c]);
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

  /**
   * Tokens [B, N, C] → [B, N, C], or a flat token stream [B·N, C] → [B·N, C] given the number of
   * sequences `batch`; `bias` is added to the attention logits.
   */
  forward(x: Value, bias?: Value, batch?: number): Value {
    const out = packedSelfAttention(this.qkv.call(x), this.heads, { bias, attnDrop: this.attn_drop }, batch);
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
