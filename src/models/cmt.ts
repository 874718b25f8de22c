/**
 * CMT (Guo et al., "CMT: Convolutional Neural Networks Meet Vision Transformers", CVPR 2022).
 * Spec: shared/spec/cmt.md. Reference: huawei-noah/Efficient-AI-Backbones `cmt_pytorch/cmt.py`; where
 * the paper and the code differ this follows the code (the released checkpoints were trained with it).
 *
 * A ResNet-like conv stem, then four stages, each a 2×2 stride-2 patch aggregation followed by CMT
 * blocks: a local perception unit (depthwise 3×3 with a residual), lightweight multi-head
 * self-attention (keys and values from a k×k stride-k depthwise conv, plus a learned relative position
 * bias per stage) and an inverted residual FFN. Head: 1×1 conv to 1280, BN, Swish, pool, Linear.
 *
 * Layout: between blocks the residual stream is NCHW (the LPU's depthwise conv and the features need
 * it); the attention runs on tokens [B, N, C] (row-major, N = H·W), and the IRFFN takes tokens and
 * returns NCHW, so each block transposes a C-wide tensor four times. The numbers are the reference's:
 * transposes are exact and the residual adds are the same adds in another layout.
 */
import { ConfigError, WeightsError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { convBn } from '../nn/conv_norm_act.js';
import { multiHeadAttention } from '../nn/attention.js';
import { compoundScale, type CompoundScaling } from '../nn/compound_scaling.js';
import { normal } from '../nn/init.js';
import { globalPool } from '../nn/heads.js';
import { Conv2d, DropPath, Dropout, GELU, Identity, LayerNorm, Linear, ModuleList, Sequential, dropPathRates } from '../nn/layers.js';
import { Module, Parameter, lazy } from '../nn/module.js';
import { gridSides, resampleRelativePos } from '../nn/relative_position.js';
import { toNCHW, toTokens } from '../nn/tokens.js';
import { Tensor } from '../tensor.js';
import { VisionModel, type GroupMatcher, type TimmArchitecture, type TracedOutputs } from './base.js';
import { LIMITS, configSchema, field, type ConfigOf, type RawConfig } from './config.js';
import { CMT_PRETRAINED } from './pretrained/cmt.js';
import { matchingVariant, registerFamily, registerModel, registerPretrained, type FamilyTypes } from './registry.js';
import { sameDims } from './state_dict.js';

declare module './base.js' {
  interface NamedOutputs {
    /** CMT: the stem's output (NCHW). */
    stem: Tensor;
    /** CMT: the pooled head features [B, fc_dim]. */
    pooled: Tensor;
  }
}

declare module './registry.js' {
  interface ModelFamilies {
    cmt: FamilyTypes<keyof typeof CMT_VARIANTS, CMTConfig, CMT>;
  }
}

// ---- configuration ----------------------------------------------------------------------------

const STAGES = ['a', 'b', 'c', 'd'] as const;

/** The official `CMT(...)` constructor's keywords and defaults (its defaults build CMT-Ti's layers at 224). */
const CMT_SCHEMA = configSchema(
  'cmt',
  {
    img_size: field.int({
      min: 32,
      max: LIMITS.imageSide,
      default: 224,
      doc: 'the one input side the model runs at: it fixes the relative position biases (multiple of 32)',
    }),
    in_chans: field.int({ min: 1, max: LIMITS.inChans, default: 3, doc: 'input channels (the reference always builds 3; e.g. 1 for grey images)' }),
    num_classes: field.int({ min: 0, max: LIMITS.classes, default: 1000, doc: 'classifier outputs (0: logits are the pooled features)' }),
    embed_dims: field.ints({ length: 4, min: 1, max: LIMITS.channels, default: [46, 92, 184, 368], doc: 'channels per stage' }),
    stem_channel: field.int({ min: 1, max: LIMITS.channels, default: 16, doc: 'channels of the three stem convs' }),
    fc_dim: field.int({ min: 1, max: LIMITS.channels, default: 1280, doc: 'channels of the head’s 1×1 conv (_fc)' }),
    num_heads: field.ints({ length: 4, min: 1, max: LIMITS.heads, default: [1, 2, 4, 8], doc: 'attention heads per stage' }),
    mlp_ratios: field.floats({ length: 4, min: 0, max: LIMITS.ratio, default: [3.6, 3.6, 3.6, 3.6], doc: 'IRFFN hidden = trunc(dim·ratio), per stage' }),
    depths: field.ints({ length: 4, min: 1, max: LIMITS.blocksPerStage, default: [2, 2, 10, 2], doc: 'blocks per stage' }),
    sr_ratios: field.ints({ length: 4, min: 1, max: LIMITS.stride, default: [8, 4, 2, 1], doc: 'k of the k×k stride-k K/V reduction, per stage' }),
    qkv_bias: field.bool({ default: true, doc: 'biases in the q, k, v Linears' }),
    qk_scale: field.float({ min: 0, default: null, nullable: true, doc: 'attention logit scale (null: (dim/heads)^-0.5)' }),
    qk_ratio: field.int({ min: 1, max: LIMITS.channels, default: 1, doc: 'q and k have dim/qk_ratio channels' }),
    drop_rate: field.float({ min: 0, below: 1, default: 0, doc: 'dropout after the attention proj and in the IRFFN (training)' }),
    attn_drop_rate: field.float({ min: 0, below: 1, default: 0, doc: 'dropout on the attention probabilities (training)' }),
    drop_path_rate: field.float({ min: 0, below: 1, default: 0, doc: 'stochastic depth, linear from 0 at the first block' }),
    dp: field.float({ min: 0, below: 1, default: 0.1, doc: 'dropout before the classifier (training)' }),
    resize_pos_bias: field.bool({
      default: false,
      doc: 'visionmix extension, not reference behaviour: resample loaded relative position biases of another size bicubically',
    }),
  },
  (c, _given, fail) => {
    if (c.img_size % 32) fail('img_size', `must be a multiple of 32 (four stride-2 stages after a stride-2 stem), got ${c.img_size}`);
    for (let i = 0; i < 4; i++) {
      const dim = c.embed_dims[i]!;
      const heads = c.num_heads[i]!;
      if (dim % heads) fail('num_heads', `stage ${i}: ${dim} channels do not split into ${heads} heads`);
      if (Math.floor(dim / c.qk_ratio) % heads)
        fail('qk_ratio', `stage ${i}: q/k width ${dim} // ${c.qk_ratio} = ${Math.floor(dim / c.qk_ratio)} does not split into ${heads} heads`);
      const grid = c.img_size / 2 ** (i + 2);
      if (grid % c.sr_ratios[i]!) fail('sr_ratios', `stage ${i}: its ${grid}×${grid} grid is not divisible by k = ${c.sr_ratios[i]}`);
      if (Math.trunc(dim * c.mlp_ratios[i]!) < 1) fail('mlp_ratios', `stage ${i}: IRFFN hidden width trunc(${dim}·${c.mlp_ratios[i]}) is 0`);
    }
  },
);

export type CMTConfig = ConfigOf<typeof CMT_SCHEMA>;

// ---- layers ----------------------------------------------------------------------------------------

/** Conv → BatchNorm stored as an nn.Sequential (keys `0.*`, `1.*`); the BN folds into the conv in eval. */
class ConvBN extends Module {
  0: Conv2d;
  1: BatchNorm2d;

  constructor(conv: Conv2d, bn: BatchNorm2d) {
    super();
    this[0] = conv;
    this[1] = bn;
  }

  forward(x: Value): Value {
    return convBn(this[0], this[1], x);
  }
}

/** Every conv in CMT: kaiming_normal(fan_out) weights, zero bias (spec §6). */
const conv = (cin: number, cout: number, k: number, o: { stride?: number; padding?: number; groups?: number } = {}) =>
  new Conv2d(cin, cout, k, { ...o, init: 'kaiming_fan_out' });

// ---- blocks ----------------------------------------------------------------------------------------------

/** Patch aggregation: 2×2 stride-2 conv, then LayerNorm (eps 1e-5, PyTorch's default) over channels. */
class PatchEmbed extends Module {
  proj: Conv2d;
  norm: LayerNorm;

  constructor(cin: number, cout: number) {
    super();
    this.proj = conv(cin, cout, 2, { stride: 2 });
    this.norm = new LayerNorm(cout, 1e-5);
  }

  forward(x: Value): Value {
    const y = this.proj.call(x);
    const [, , h, w] = y.shape as [number, number, number, number];
    return toNCHW(this.norm.call(toTokens(y)), h, w);
  }
}

/**
 * LMHSA: q from the tokens; k and v from the tokens reduced by a k×k stride-k depthwise conv + BN
 * (`sr`, absent when k = 1). Logits q·kᵀ·scale plus the stage's relative position bias [h, N, N/k²].
 * q, k, v are three Linears (no fused qkv).
 */
class LMHSA extends Module {
  q: Linear;
  k: Linear;
  v: Linear;
  attn_drop: Dropout;
  proj: Linear;
  proj_drop: Dropout;
  sr: ConvBN | null;
  readonly scale: number;

  constructor(
    dim: number,
    readonly heads: number,
    srRatio: number,
    c: CMTConfig,
  ) {
    super();
    const qkDim = Math.floor(dim / c.qk_ratio);
    const linear = (cin: number, cout: number, bias = true) => new Linear(cin, cout, { bias, init: 'trunc_normal' });
    this.q = linear(dim, qkDim, c.qkv_bias);
    this.k = linear(dim, qkDim, c.qkv_bias);
    this.v = linear(dim, dim, c.qkv_bias);
    this.attn_drop = new Dropout(c.attn_drop_rate);
    this.proj = linear(dim, dim);
    this.proj_drop = new Dropout(c.drop_rate);
    // The reference scales by the head width of v (dim // heads), also when qk_ratio narrows q and k.
    this.scale = c.qk_scale || Math.floor(dim / heads) ** -0.5; // `qk_scale or …`: 0 means the default too
    this.sr = srRatio > 1 ? new ConvBN(conv(dim, dim, srRatio, { stride: srRatio, groups: dim }), new BatchNorm2d(dim)) : null;
  }

  /** y: the normalised tokens [B, H·W, C]; relPos: [heads, N, N/k²]. */
  forward(y: Value, h: number, w: number, relPos: Value): Value {
    // The K/V reduction acts on the normalised tokens, as an image.
    const kv = this.sr ? toTokens(this.sr.call(toNCHW(y, h, w))) : y;
    // The core scales q before q·kᵀ; the reference scales the product: same value up to rounding
    // (the golden cases pass at the strict tolerance). The bias is added after scaling, unscaled.
    const { out } = multiHeadAttention(this.q.call(y), this.k.call(kv), this.v.call(kv), this.heads, {
      scale: this.scale,
      bias: relPos,
      attnDrop: this.attn_drop,
    });
    return this.proj_drop.call(this.proj.call(out));
  }
}

/**
 * IRFFN: 1×1 expand → GELU → BN; depthwise 3×3 with its residual (inside the FFN), then GELU → BN
 * after the add; 1×1 project → BN. Activations come before the norms, as in the reference code.
 */
class IRFFN extends Module {
  conv1: Sequential;
  proj: Conv2d;
  proj_act: GELU;
  proj_bn: BatchNorm2d;
  conv2: ConvBN;
  drop: Dropout;

  constructor(dim: number, hidden: number, drop: number) {
    super();
    this.conv1 = new Sequential(conv(dim, hidden, 1), new GELU(), new BatchNorm2d(hidden));
    this.proj = conv(hidden, hidden, 3, { padding: 1, groups: hidden });
    this.proj_act = new GELU();
    this.proj_bn = new BatchNorm2d(hidden);
    this.conv2 = new ConvBN(conv(hidden, dim, 1), new BatchNorm2d(dim));
    this.drop = new Dropout(drop);
  }

  /** Tokens [B, H·W, C] in, NCHW [B, C, H, W] out (the block adds it in NCHW). */
  forward(y: Value, h: number, w: number): Value {
    let x = this.drop.call(this.conv1.call(toNCHW(y, h, w)));
    x = F.add(this.proj.call(x), x);
    x = this.proj_bn.call(this.proj_act.call(x));
    return this.drop.call(this.conv2.call(x));
  }
}

/**
 * CMT block: LPU (x + DW3×3(x); no norm, no drop path) → x + DropPath(LMHSA(LN(x))) →
 * x + DropPath(IRFFN(LN(x))), both LayerNorms eps 1e-6. NCHW in and out.
 */
export class CMTBlock extends Module {
  norm1: LayerNorm;
  attn: LMHSA;
  drop_path: DropPath | Identity;
  norm2: LayerNorm;
  mlp: IRFFN;
  /** The LPU's depthwise 3×3 conv (the reference's `blocks_s.j.proj`). */
  proj: Conv2d;

  constructor(dim: number, heads: number, mlpRatio: number, srRatio: number, dropPath: number, c: CMTConfig) {
    super();
    this.norm1 = new LayerNorm(dim, 1e-6);
    this.attn = new LMHSA(dim, heads, srRatio, c);
    this.drop_path = dropPath > 0 ? new DropPath(dropPath) : new Identity();
    this.norm2 = new LayerNorm(dim, 1e-6);
    this.mlp = new IRFFN(dim, Math.trunc(dim * mlpRatio), c.drop_rate);
    this.proj = conv(dim, dim, 3, { padding: 1, groups: dim });
  }

  forward(x: Value, relPos: Value): Value {
    const [, , h, w] = x.shape as [number, number, number, number];
    x = F.add(this.proj.call(x), x);
    let t = toTokens(x);
    // One drop-path module for both branches, as in the reference; each call draws its own mask.
    t = F.add(t, this.drop_path.call(this.attn.call(this.norm1.call(t), h, w, relPos)));
    const y = this.mlp.call(this.norm2.call(t), h, w);
    return F.add(toNCHW(t, h, w), this.drop_path.call(y));
  }
}

// ---- model -----------------------------------------------------------------------------------------------

/** Shape of stage i's relative position bias for a config: [heads, N, N/k²] with N = (img_size/2^(i+2))². */
export function relativePosShape(c: Pick<CMTConfig, 'img_size' | 'num_heads' | 'sr_ratios'>, i: number): [number, number, number] {
  const n = (c.img_size / 2 ** (i + 2)) ** 2;
  return [c.num_heads[i]!, n, n / c.sr_ratios[i]! ** 2];
}

export class CMT extends VisionModel<'final' | 'stem' | 'pooled'> {
  readonly family = 'cmt';
  readonly numClasses: number;
  readonly defaultInputSize: [number, number, number];
  /** Besides logits and features: the stem output (NCHW) and the pooled head features [B, fc_dim]. */
  override readonly outputNames = ['logits', 'features', 'final', 'stem', 'pooled'];
  // Direct attributes first, as in the reference's state dict: one learned bias per stage, shared by its blocks.
  relative_pos_a: Parameter;
  relative_pos_b: Parameter;
  relative_pos_c: Parameter;
  relative_pos_d: Parameter;
  stem_conv1: Conv2d;
  stem_norm1: BatchNorm2d;
  stem_conv2: Conv2d;
  stem_norm2: BatchNorm2d;
  stem_conv3: Conv2d;
  stem_norm3: BatchNorm2d;
  patch_embed_a: PatchEmbed;
  patch_embed_b: PatchEmbed;
  patch_embed_c: PatchEmbed;
  patch_embed_d: PatchEmbed;
  blocks_a: ModuleList<CMTBlock>;
  blocks_b: ModuleList<CMTBlock>;
  blocks_c: ModuleList<CMTBlock>;
  blocks_d: ModuleList<CMTBlock>;
  _fc: Conv2d;
  _bn: BatchNorm2d;
  _drop: Dropout;
  head: Linear | Identity;
  readonly classifierPath = 'head';
  readonly firstConv = 'stem_conv1';

  constructor(readonly config: CMTConfig) {
    super();
    const c = config;
    this.numClasses = c.num_classes;
    this.defaultInputSize = [c.in_chans, c.img_size, c.img_size];
    const dims = c.embed_dims;
    const relPos = (i: number) => {
      const shape = relativePosShape(c, i);
      return new Parameter(lazy(shape, (r) => normal(shape, 1, r))); // torch.randn; decayed like any 3-D weight
    };
    this.relative_pos_a = relPos(0);
    this.relative_pos_b = relPos(1);
    this.relative_pos_c = relPos(2);
    this.relative_pos_d = relPos(3);

    const s = c.stem_channel;
    this.stem_conv1 = conv(c.in_chans, s, 3, { stride: 2, padding: 1 });
    this.stem_norm1 = new BatchNorm2d(s);
    this.stem_conv2 = conv(s, s, 3, { padding: 1 });
    this.stem_norm2 = new BatchNorm2d(s);
    this.stem_conv3 = conv(s, s, 3, { padding: 1 });
    this.stem_norm3 = new BatchNorm2d(s);

    this.patch_embed_a = new PatchEmbed(s, dims[0]!);
    this.patch_embed_b = new PatchEmbed(dims[0]!, dims[1]!);
    this.patch_embed_c = new PatchEmbed(dims[1]!, dims[2]!);
    this.patch_embed_d = new PatchEmbed(dims[2]!, dims[3]!);

    const rates = dropPathRates(c.depths, c.drop_path_rate);
    const blocks = (i: number) =>
      new ModuleList(rates[i]!.map((p) => new CMTBlock(dims[i]!, c.num_heads[i]!, c.mlp_ratios[i]!, c.sr_ratios[i]!, p, c)));
    this.blocks_a = blocks(0);
    this.blocks_b = blocks(1);
    this.blocks_c = blocks(2);
    this.blocks_d = blocks(3);

    this._fc = conv(dims[3]!, c.fc_dim, 1);
    this._bn = new BatchNorm2d(c.fc_dim);
    this._drop = new Dropout(c.dp);
    this.head = c.num_classes > 0 ? new Linear(c.fc_dim, c.num_classes, { init: 'trunc_normal' }) : new Identity();
  }

  /** The classifier reads the pooled output of the 1×1 conv `_fc` (fc_dim channels, 1280 in every variant). */
  get numFeatures(): number {
    return this.config.fc_dim;
  }

  getClassifier(): Module {
    return this.head;
  }

  protected replaceClassifier(numClasses: number): void {
    this.head = this.newClassifier(numClasses);
  }

  /**
   * Not in timm; written in timm's style: the stem first; a stage's downsampling patch embedding and
   * its shared relative-position bias in the group of the stage's first block (as timm's ConvNeXt
   * matcher places `downsample`); `_fc`/`_bn` after the stages; the head last.
   */
  /**
   * timm has no CMT: the official code (huawei-noah/Efficient-AI-Backbones, cmt_pytorch/cmt.py) builds
   * it, from the factory of the variant this network equals (img_size passed: the factories default
   * to 224 for every variant) or from `CMT(...)`'s keywords. Keys are already the official ones.
   */
  override timmArchitecture(): TimmArchitecture {
    const c = this.config;
    if (c.in_chans !== 3)
      throw new ConfigError(
        `the official CMT builds its stem for 3 input channels whatever in_chans says, so this ${c.in_chans}-channel model (stem_conv1 [${c.stem_channel}, ${c.in_chans}, 3, 3]) does not load into it`,
      );
    const training = ['num_classes', 'in_chans', 'drop_rate', 'attn_drop_rate', 'drop_path_rate', 'dp', 'resize_pos_bias'];
    const variant = matchingVariant('cmt', c, training);
    const { num_classes: _n, in_chans: _i, drop_rate: _d, drop_path_rate: _p, resize_pos_bias: _r, ...architecture } = c;
    const args: Record<string, unknown> = variant ? { img_size: c.img_size, dp: c.dp, attn_drop_rate: c.attn_drop_rate } : architecture;
    return {
      architecture: variant ?? 'CMT',
      modelArgs: args,
      source: { repo: 'huawei-noah/Efficient-AI-Backbones', file: 'cmt_pytorch/cmt.py' },
      dropPathRate: c.drop_path_rate,
      dropRate: c.drop_rate,
    };
  }

  groupMatcher(coarse = false): GroupMatcher {
    const stage = (letter: string) => STAGES.indexOf(letter as (typeof STAGES)[number]);
    return (key) => {
      if (/^stem_/.test(key)) return [0];
      let m = /^(?:patch_embed_|relative_pos_)([a-d])(?:\.|$)/.exec(key);
      if (m) return coarse ? [1, stage(m[1]!)] : [1, stage(m[1]!), 0];
      m = /^blocks_([a-d])\.(\d+)\./.exec(key);
      if (m) return coarse ? [1, stage(m[1]!)] : [1, stage(m[1]!), Number(m[2])];
      if (/^_(fc|bn)\./.test(key)) return [1, 99999];
      return null;
    };
  }

  private stages(): [PatchEmbed, ModuleList<CMTBlock>, Parameter][] {
    return [
      [this.patch_embed_a, this.blocks_a, this.relative_pos_a],
      [this.patch_embed_b, this.blocks_b, this.relative_pos_b],
      [this.patch_embed_c, this.blocks_c, this.relative_pos_c],
      [this.patch_embed_d, this.blocks_d, this.relative_pos_d],
    ];
  }

  forwardTraced(x: Value): TracedOutputs {
    // Stem: conv → GELU → BN, three times (activation before the norm, so the BN cannot fold).
    for (const [cv, bn] of [
      [this.stem_conv1, this.stem_norm1],
      [this.stem_conv2, this.stem_norm2],
      [this.stem_conv3, this.stem_norm3],
    ] as const)
      x = bn.call(F.gelu(cv.call(x)));
    const stem = x;

    const features: Value[] = [];
    for (const [embed, blocks, relPos] of this.stages()) {
      x = embed.call(x);
      const bias = relPos.value;
      for (const block of blocks) x = block.call(x, bias);
      features.push(x);
    }

    // The 1×1 conv `_fc` + BN + SiLU belong to the body: the head pools their output.
    const final = F.silu(convBn(this._fc, this._bn, x));
    const pooled = this.forwardHeadTraced(final, { preLogits: true });
    const logits = this.head.call(this._drop.call(pooled));
    return { logits, features, final, stem, pooled };
  }

  /** Pool (pre-logits) → dropout → Linear. */
  override forwardHeadTraced(final: Value, o: { preLogits?: boolean } = {}): Value {
    const pooled = globalPool(final, this.globalPool);
    return o.preLogits ? pooled : this.head.call(this._drop.call(pooled));
  }

  /** The relative position biases fix the input size: any other is a ConfigError naming both. */
  override checkInputSize([, h, w]: readonly [number, number, number]): void {
    const r = this.config.img_size;
    if (h !== r || w !== r)
      throw new ConfigError(
        `${this.name || 'cmt'} was built for ${r}×${r} inputs (img_size ${r}: its relative position biases are ` +
          `[heads, N, N/k²] for that size), got ${h}×${w}. Build the model with img_size: ${h === w ? h : '<side>'} ` +
          `(square, a multiple of 32); to use weights trained at ${r} there, also set resize_pos_bias: true, which ` +
          'resamples the loaded biases bicubically — a visionmix extension, not the reference behaviour (the reference supports one size only).',
      );
  }

  /**
   * Official CMT key names are this model's. A relative position bias of another shape is a
   * WeightsError naming the stage and both shapes — unless `resize_pos_bias` is set, when it is
   * resampled bicubically to this model's size (a visionmix extension).
   */
  override adaptStateDict(sd: Map<string, Tensor>): Map<string, Tensor> {
    const out = new Map(sd);
    STAGES.forEach((s, i) => {
      const key = `relative_pos_${s}`;
      const t = sd.get(key);
      const want = relativePosShape(this.config, i);
      if (!t || sameDims(t.shape, want)) return;
      const resizable = t.shape.length === 3 && t.shape[0] === want[0] && gridSides(t.shape) !== null;
      if (this.config.resize_pos_bias && resizable) {
        out.set(key, resampleRelativePos(t, want));
        return;
      }
      const trainedAt = resizable ? gridSides(t.shape)![0] * 2 ** (i + 2) : null;
      throw new WeightsError(
        `${key} (the relative position bias of stage ${s}, stage index ${i}) is [${t.shape}] in the weights but this model ` +
          `(img_size ${this.config.img_size}) needs [${want}]` +
          (trainedAt ? `: the weights were built for ${trainedAt}×${trainedAt} inputs. Build the model with img_size: ${trainedAt}, or set ` +
            'resize_pos_bias: true to resample the biases bicubically (a visionmix extension, not the reference behaviour).'
            : this.config.resize_pos_bias ? ' and it cannot be resampled (other head count, or not square grids).' : '.'),
        [],
        [],
        [{ key, expected: want, got: [...t.shape] }],
      );
    });
    return out;
  }
}


// ---- compound scaling (paper §"Model scaling") -----------------------------------------------------------

export { compoundFlopsFactor, type CompoundScaling } from '../nn/compound_scaling.js';

/**
 * The paper's coefficients as the spec quotes them (§9, from memory of the paper: unverified;
 * α·β^1.5·γ² = 2.35 with these). Pass your own to `cmtCompoundScale` to explore.
 */
export const CMT_SCALING: CompoundScaling = { alpha: 1.2, beta: 1.3, gamma: 1.15 };

/**
 * A CMT config scaled from `base` (default CMT-S, the paper's φ = 0) by the compound rule: depths ×α^φ,
 * widths ×β^φ (stage widths rounded to a multiple of their head count, the stem likewise scaled),
 * input side ×γ^φ rounded to a multiple of 32. Heads, K/V ratios, MLP ratios and fc_dim are kept.
 * The released Ti/XS/B follow the rule only approximately (their widths, MLP ratios and stems were
 * hand-tuned): the registry uses the released table, not this helper (test/models/cmt_scaling.test.ts
 * shows how far apart they are).
 */
export function cmtCompoundScale(phi: number, base: RawConfig = CMT_VARIANTS.cmt_s, s: CompoundScaling = CMT_SCALING): RawConfig {
  const b = { ...CMT_DEFAULTS, ...base } as CMTConfig;
  const shape = { depths: b.depths, widths: b.embed_dims, widthMultiples: b.num_heads, stemWidth: b.stem_channel, side: b.img_size, sideMultiple: 32 };
  const r = compoundScale(phi, shape, s);
  return { ...base, depths: r.depths, embed_dims: r.widths, stem_channel: r.stemWidth, img_size: r.side };
}

// ---- registry -----------------------------------------------------------------------------------------------

const CMT_DEFAULTS = Object.fromEntries(Object.entries(CMT_SCHEMA.fields).map(([k, f]) => [k, f.default])) as CMTConfig;

/** The official factories (spec §1); each at its own resolution. Heads, K/V ratios, fc_dim: the defaults. */
export const CMT_VARIANTS = {
  cmt_ti: { img_size: 160, stem_channel: 16, embed_dims: [46, 92, 184, 368], depths: [2, 2, 10, 2], mlp_ratios: [3.6, 3.6, 3.6, 3.6] },
  cmt_xs: { img_size: 192, stem_channel: 16, embed_dims: [52, 104, 208, 416], depths: [3, 3, 12, 3], mlp_ratios: [3.77, 3.77, 3.77, 3.77] },
  cmt_s: { img_size: 224, stem_channel: 32, embed_dims: [64, 128, 256, 512], depths: [3, 3, 16, 3], mlp_ratios: [4, 4, 4, 4] },
  cmt_b: { img_size: 256, stem_channel: 38, embed_dims: [76, 152, 304, 608], depths: [4, 4, 20, 4], mlp_ratios: [4, 4, 4, 4], dp: 0.3 },
} satisfies Record<string, RawConfig>;

const NOTES: Record<string, string> = {
  cmt_s: 'the code builds 26.26M params; the paper says 25.1M (its 4.0 GMACs agree)',
};

registerFamily({ family: 'cmt', schema: CMT_SCHEMA, build: (c) => new CMT(c) });
for (const [name, config] of Object.entries(CMT_VARIANTS))
  registerModel({ name, family: 'cmt', config, defaultTag: `${name}.in1k`, note: NOTES[name] });
registerPretrained(CMT_PRETRAINED);
