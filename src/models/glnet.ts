/**
 * GLNet (Zhu, Wang, Zhang, Lau, "Revisiting the Integration of Convolution and Attention for Vision
 * Backbone", NeurIPS 2024). Spec: shared/spec/glnet.md; keys: shared/spec/glnet_keys/.
 *
 * The GLMix block mixes tokens twice in parallel: locally with convolutions on the pixel grid, and
 * globally with self-attention over a small *set* of ~64 slots, soft-clustered from the pixels
 * (grid → set) and dispatched back (set → grid). Stages are NCHW throughout; the 4G family adds a
 * conv position embedding, a residual depthwise conv in the MLP and full-MHSA blocks in stages 2–3.
 */
import { ConfigError, ShapeError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { adaptivePoolSlots } from '../nn/adaptive_pool.js';
import { MultiheadAttention } from '../nn/attention.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { globalPool } from '../nn/heads.js';
import { truncNormal } from '../nn/init.js';
import { Conv2d, DropPath, GELU, Identity, LayerNorm, LayerNorm2d, LayerScale, Linear, ModuleList, Sequential, dropPathRates } from '../nn/layers.js';
import { Module, Parameter, lazy } from '../nn/module.js';
import { toNCHW, toTokens } from '../nn/tokens.js';
import { Tensor } from '../tensor.js';
import { VisionModel, type GroupMatcher, type TimmArchitecture, type TracedOutputs } from './base.js';
import { LIMITS, configSchema, field, type ConfigOf } from './config.js';
import { GLNET_CHECKPOINT_KEY, GLNET_PRETRAINED } from './pretrained/glnet.js';
import { matchingVariant, registerFamily, registerModel, registerPretrained, type FamilyTypes } from './registry.js';
import { tagArchitecture } from './pretrained.js';

declare module './base.js' {
  interface NamedOutputs {
    /** GLNet: the slot maps of every GLMix block, by block path. */
    slots: Record<string, { [K in keyof SlotMapValues]: Tensor }>;
    /** GLNet with a token-labelling head: the class head's logits and the per-token logits. */
    cls_logits: Tensor;
    aux_logits: Tensor;
  }
}

declare module './registry.js' {
  interface ModelFamilies {
    glnet: FamilyTypes<keyof typeof VARIANTS, GLNetConfig, GLNet>;
  }
}

// ---- configuration ----------------------------------------------------------------------------

const MIXING_MODES = ['glmix', 'glmix.mha_nchw', 'mha_nchw', 'mha'] as const;
type MixingMode = (typeof MIXING_MODES)[number];

/** The official `GLNet(...)` keywords, with its defaults (spec §9 lists what each variant sets). */
const GLNET_SCHEMA = configSchema(
  'glnet',
  {
    depth: field.ints({ length: 4, min: 1, max: LIMITS.blocksPerStage, default: [2, 2, 6, 2], doc: 'blocks per stage' }),
    embed_dim: field.ints({ length: 4, min: 1, max: LIMITS.channels, default: [96, 192, 384, 768], doc: 'channels per stage' }),
    mlp_ratios: field.floats({ length: 4, min: 0, max: LIMITS.ratio, default: [4, 4, 4, 4], doc: 'MLP hidden width / channels, per stage' }),
    head_dim: field.int({ min: 1, max: LIMITS.channels, default: 32, doc: 'channels per attention head (heads = dim // head_dim)' }),
    num_classes: field.int({ min: 0, max: LIMITS.classes, default: 1000, doc: 'classifier outputs (0: logits are the pooled features)' }),
    in_chans: field.int({ min: 1, max: LIMITS.inChans, default: 3, doc: 'input channels' }),
    norm_layer: field.enum(['BatchNorm2d', 'LayerNorm2d'] as const, {
      default: 'LayerNorm2d',
      doc: 'norm of the downsampling layers and before the head (blocks always use LayerNorm)',
    }),
    mixing_modes: field.enums(MIXING_MODES, {
      length: 4,
      default: ['glmix', 'glmix', 'glmix', 'mha'],
      doc: "block type per stage; 'glmix.mha_nchw' alternates GLMix (even) and MHSA (odd) blocks",
    }),
    local_dw_ks: field.int({ min: 0, max: LIMITS.kernel, default: 5, doc: 'kernel of the local depthwise conv in GLMix (0: no local branch)' }),
    slot_init: field.enum(['ada_avgpool', 'param'] as const, {
      default: 'param',
      doc: "'ada_avgpool': slots pooled from the block input; 'param': learned slots",
    }),
    num_slots: field.int({ min: 1, max: LIMITS.slots, default: 64, doc: "slots per GLMix block (a square number with 'ada_avgpool')" }),
    cpe_ks: field.int({ min: 0, max: LIMITS.kernel, default: 0, doc: 'kernel of the conv position embedding (0: none)' }),
    downsample_style: field.enum(['non_ovlp', 'ovlp'] as const, {
      default: 'non_ovlp',
      doc: "'non_ovlp': 4×4/4 stem, 2×2/2 transitions (Swin layout); 'ovlp': deep 3×3/2 stem, 3×3/2 transitions",
    }),
    transition_layout: field.enum(['proj.norm', 'norm.proj'] as const, { default: 'proj.norm', doc: 'order of conv and norm in the transitions' }),
    dual_patch_norm: field.bool({ default: false, doc: "a LayerNorm2d on the input before the 'ovlp' stem" }),
    mlp_dw: field.bool({ default: false, doc: 'a residual 3×3 depthwise conv inside the MLP' }),
    layerscale: field.float({ default: -1, doc: 'layer-scale init (≤ 0: no layer scale)' }),
    drop_path_rate: field.float({ min: 0, below: 1, default: 0, doc: 'stochastic depth, linear from 0 at the first block' }),
    drop_rate: field.float({ min: 0, below: 1, default: 0, doc: 'accepted for compatibility; the official GLNet never uses it (must be 0)' }),
    tklb: field.bool({ default: false, doc: 'token-labelling model: an extra per-token classifier (tklb_aux_head)' }),
  },
  (c, given, fail) => {
    c.embed_dim.forEach((d, i) => {
      const heads = Math.floor(d / c.head_dim);
      if (heads < 1 || d % heads) fail('head_dim', `stage ${i}: ${d} channels do not split into ${d} // ${c.head_dim} = ${heads} heads`);
    });
    const glmix = c.mixing_modes.some((m) => m.startsWith('glmix'));
    if (glmix && c.slot_init === 'ada_avgpool' && Math.round(Math.sqrt(c.num_slots)) ** 2 !== c.num_slots)
      fail('num_slots', `'ada_avgpool' pools to a √S × √S grid, so num_slots must be a square number; got ${c.num_slots}`);
    for (const k of ['local_dw_ks', 'cpe_ks'] as const)
      if (c[k] > 0 && c[k] % 2 === 0) fail(k, `must be odd (the conv keeps the map size with padding k // 2); got ${c[k]}`);
    if (!glmix) for (const k of ['slot_init', 'num_slots', 'local_dw_ks'] as const) if (given.has(k)) fail(k, 'is unused: no stage has GLMix blocks');
    if (c.mixing_modes.every((m) => m === 'mha'))
      for (const k of ['cpe_ks', 'mlp_dw'] as const) if (given.has(k)) fail(k, "is unused: token-layout 'mha' blocks have no conv position embedding or conv MLP");
    if (given.has('dual_patch_norm') && c.dual_patch_norm && c.downsample_style !== 'ovlp')
      fail('dual_patch_norm', "only exists in the 'ovlp' stem");
    if (c.drop_rate !== 0) fail('drop_rate', 'the official GLNet accepts drop_rate but never applies it; leave it at 0');
  },
);

export type GLNetConfig = ConfigOf<typeof GLNET_SCHEMA>;

// ---- primitives ------------------------------------------------------------------------------------

/**
 * L2 normalisation along `axis`, as torch's F.normalize: v / max(‖v‖, eps). Computed as
 * v / √max(Σv², eps²) — the same value — so that below eps (v = 0 included) the max sends no gradient
 * into √ (whose derivative is infinite at 0): the gradient is dy / eps there, as in torch, not NaN.
 */
export function l2Normalize(x: Value, axis = -1, eps = 1e-12): Value {
  return F.div(x, F.sqrt(F.maximum(F.reduceSumSquare(x, [axis], true), eps * eps)));
}

/** A depthwise conv added to its input: x + DWConv(x) (the MLP's `mlp.1` when `mlp_dw`). */
class ResDWConv extends Conv2d {
  constructor(dim: number, kernel = 3) {
    super(dim, dim, kernel, { padding: kernel >> 1, groups: dim });
  }

  override forward(x: Value): Value {
    return F.add(x, super.forward(x));
  }
}

/** Per-pixel MLP of the NCHW blocks: 1×1 conv → [x + DWConv3×3] → GELU → 1×1 conv (keys mlp.0, mlp.1, mlp.3). */
function convMlp(dim: number, ratio: number, mlpDw: boolean): Sequential {
  const hidden = Math.trunc(ratio * dim);
  return new Sequential(new Conv2d(dim, hidden, 1), mlpDw ? new ResDWConv(hidden) : new Identity(), new GELU(), new Conv2d(hidden, dim, 1));
}

/** Depthwise conv position embedding: x + DWConv(x). */
function positionConv(dim: number, ks: number): Conv2d | null {
  return ks > 0 ? new Conv2d(dim, dim, ks, { padding: ks >> 1, groups: dim }) : null;
}

const layerScale = (dim: number, init: number, channelsFirst: boolean) =>
  init > 0 ? new LayerScale(dim, init, { channelsFirst }) : new Identity();
const dropPath = (p: number) => (p > 0 ? new DropPath(p) : new Identity());

// ---- GLMix block (spec §3) -------------------------------------------------------------------------

/** One GLMix block's slot maps (named output `slots`, keyed by block path). A type, not an interface, so it is an OutputTree. */
export type SlotMapValues = {
  /** A = slot_scale · normalize(slots) · normalize(pixels)ᵀ: [B, S, H·W]. */
  assignLogits: Value;
  /** Dispatch weights, softmax of A over slots: [B, S, H, W] (what the paper plots). */
  assign: Value;
  /** Clustering weights, softmax of A over pixels: [B, S, H·W]. */
  cluster: Value;
};

export type SlotMapRecord = Record<string, SlotMapValues>;

interface BlockOptions {
  dim: number;
  heads: number;
  mlpRatio: number;
  dropPath: number;
  c: GLNetConfig;
}

export class GLMixBlock extends Module {
  /** Temperature of the cosine similarities (a learnable 0-d scalar, init C^−½). */
  slot_scale: Parameter;
  pos_conv: Conv2d | null;
  /** Learned initial slots [1, S, C] (`slot_init: 'param'`); otherwise slots are pooled from the input. */
  init_slots: Parameter | null;
  /** LayerNorm2d in the reference; applied here channels-last (same keys), where the tokens are needed. */
  norm1: LayerNorm;
  relation_mha: MultiheadAttention;
  feature_conv: Sequential | Identity;
  norm2: LayerNorm2d;
  mlp: Sequential;
  drop_path1: DropPath | Identity;
  drop_path2: DropPath | Identity;
  ls1: LayerScale | Identity;
  ls2: LayerScale | Identity;
  private readonly poolSize: number;

  constructor(o: BlockOptions) {
    super();
    const { dim, c } = o;
    this.slot_scale = new Parameter(lazy([], () => new Tensor(Float32Array.of(dim ** -0.5), [], 'float32')), { noWeightDecay: false });
    this.pos_conv = positionConv(dim, c.cpe_ks);
    const s = c.num_slots;
    this.init_slots = c.slot_init === 'param' ? new Parameter(lazy([1, s, dim], (r) => truncNormal([1, s, dim], 0.02, r))) : null;
    this.poolSize = Math.round(Math.sqrt(s));
    this.norm1 = new LayerNorm(dim, 1e-6);
    this.relation_mha = new MultiheadAttention(dim, o.heads, { outProjInit: 'trunc_normal' });
    const k = c.local_dw_ks;
    this.feature_conv =
      k > 0 ? new Sequential(new Conv2d(dim, dim, 1), new Conv2d(dim, dim, k, { padding: k >> 1, groups: dim }), new Conv2d(dim, dim, 1)) : new Identity();
    this.norm2 = new LayerNorm2d(dim, 1e-6);
    this.mlp = convMlp(dim, o.mlpRatio, c.mlp_dw);
    this.drop_path1 = dropPath(o.dropPath);
    this.drop_path2 = dropPath(o.dropPath);
    this.ls1 = layerScale(dim, c.layerscale, true);
    this.ls2 = layerScale(dim, c.layerscale, true);
  }

  /** Initial slots [B, S, C]: learned, or the adaptive average pool of the raw block input. */
  private initialSlots(x: Value): Value {
    return this.init_slots ? this.init_slots.value : adaptivePoolSlots(x, this.poolSize);
  }

  forward(x: Value, maps?: SlotMapRecord): Value {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const slots0 = this.initialSlots(x); // from the block input, before CPE and norm1
    if (this.pos_conv) x = F.add(x, this.pos_conv.call(x));
    const shortcut = x;
    const t = this.norm1.call(toTokens(x)); // [B, L, C]
    const y = toNCHW(t, h, w);

    // Assignment logits: cosine similarity of every slot with every pixel, times slot_scale
    // (applied to the S×C side, the smaller one). [B, S, L]
    const logits = F.matmul(F.mul(l2Normalize(slots0), this.slot_scale.value), F.transpose(l2Normalize(t), [0, 2, 1]));
    // Soft clustering (grid → set): each slot's weights over the pixels sum to 1.
    const cluster = F.softmax(logits, -1);
    // Global mixing on the set: plain self-attention among the slots (no residual, norm or MLP).
    const slots = this.relation_mha.call(F.matmul(cluster, t)); // [B, S, C]
    // Dispatch (set → grid): a separate softmax of the same logits over the slots, per pixel.
    const assign = F.softmax(logits, 1); // [B, S, L]
    const global = F.reshape(F.matmul(F.transpose(slots, [0, 2, 1]), assign), [b, c, h, w]); // [B, C, L] → NCHW
    if (maps) maps[this.path] = { assignLogits: logits, assign: F.reshape(assign, [b, logits.shape[1]!, h, w]), cluster };

    const mixed = F.add(global, this.feature_conv.call(y));
    x = F.add(shortcut, this.drop_path1.call(this.ls1.call(mixed)));
    return F.add(x, this.drop_path2.call(this.ls2.call(this.mlp.call(this.norm2.call(x)))));
  }
}

// ---- MHSA blocks (spec §4, §5) ---------------------------------------------------------------------

/** Full self-attention over all H·W tokens with a conv MLP, on NCHW maps (4G/9G/16G stages 2–3). */
export class MHSA_NCHW_Block extends Module {
  pos_conv: Conv2d | null;
  norm1: LayerNorm;
  mha_op: MultiheadAttention;
  norm2: LayerNorm2d;
  mlp: Sequential;
  drop_path1: DropPath | Identity;
  drop_path2: DropPath | Identity;
  ls1: LayerScale | Identity;
  ls2: LayerScale | Identity;

  constructor(o: BlockOptions) {
    super();
    const { dim, c } = o;
    this.pos_conv = positionConv(dim, c.cpe_ks);
    this.norm1 = new LayerNorm(dim, 1e-6);
    this.mha_op = new MultiheadAttention(dim, o.heads, { outProjInit: 'trunc_normal' });
    this.norm2 = new LayerNorm2d(dim, 1e-6);
    this.mlp = convMlp(dim, o.mlpRatio, c.mlp_dw);
    this.drop_path1 = dropPath(o.dropPath);
    this.drop_path2 = dropPath(o.dropPath);
    this.ls1 = layerScale(dim, c.layerscale, false); // on tokens: [C]
    this.ls2 = layerScale(dim, c.layerscale, true); // on NCHW: [1, C, 1, 1]
  }

  forward(x: Value): Value {
    const [, , h, w] = x.shape as [number, number, number, number];
    if (this.pos_conv) x = F.add(x, this.pos_conv.call(x));
    let t = toTokens(x);
    t = F.add(t, this.drop_path1.call(this.ls1.call(this.mha_op.call(this.norm1.call(t)))));
    x = toNCHW(t, h, w);
    return F.add(x, this.drop_path2.call(this.ls2.call(this.mlp.call(this.norm2.call(x)))));
  }
}

/** Pre-norm transformer block on tokens [B, L, C] (STL stage 3): MHSA, then Linear–GELU–Linear. */
export class MHSA_Block extends Module {
  norm1: LayerNorm;
  mha_op: MultiheadAttention;
  norm2: LayerNorm;
  mlp: Sequential;
  drop_path1: DropPath | Identity;
  drop_path2: DropPath | Identity;
  ls1: LayerScale | Identity;
  ls2: LayerScale | Identity;

  constructor(o: BlockOptions) {
    super();
    const { dim, c } = o;
    const hidden = Math.trunc(o.mlpRatio * dim);
    this.norm1 = new LayerNorm(dim, 1e-6);
    this.mha_op = new MultiheadAttention(dim, o.heads, { outProjInit: 'trunc_normal' });
    this.norm2 = new LayerNorm(dim, 1e-6);
    this.mlp = new Sequential(new Linear(dim, hidden, { init: 'trunc_normal' }), new GELU(), new Linear(hidden, dim, { init: 'trunc_normal' }));
    this.drop_path1 = dropPath(o.dropPath);
    this.drop_path2 = dropPath(o.dropPath);
    this.ls1 = layerScale(dim, c.layerscale, false);
    this.ls2 = layerScale(dim, c.layerscale, false);
  }

  forward(t: Value): Value {
    t = F.add(t, this.drop_path1.call(this.ls1.call(this.mha_op.call(this.norm1.call(t)))));
    return F.add(t, this.drop_path2.call(this.ls2.call(this.mlp.call(this.norm2.call(t)))));
  }
}

// ---- stages (spec §6) ------------------------------------------------------------------------------

type Block = GLMixBlock | MHSA_NCHW_Block | MHSA_Block;

export class GLNetStage extends Module {
  blocks: ModuleList<Block>;

  constructor(
    readonly mode: MixingMode,
    o: Omit<BlockOptions, 'dropPath'>,
    dropRates: number[],
  ) {
    super();
    const make = (j: number): Block => {
      const bo = { ...o, dropPath: dropRates[j]! };
      if (mode === 'glmix' || (mode === 'glmix.mha_nchw' && j % 2 === 0)) return new GLMixBlock(bo);
      if (mode === 'mha') return new MHSA_Block(bo);
      return new MHSA_NCHW_Block(bo);
    };
    this.blocks = new ModuleList(dropRates.map((_, j) => make(j)));
  }

  forward(x: Value, maps?: SlotMapRecord): Value {
    if (this.mode === 'mha') {
      // Token layout: flatten once, run the blocks, fold back.
      const [, , h, w] = x.shape as [number, number, number, number];
      let t = toTokens(x);
      for (const blk of this.blocks) t = (blk as MHSA_Block).call(t);
      return toNCHW(t, h, w);
    }
    for (const blk of this.blocks) x = blk instanceof GLMixBlock ? blk.call(x, maps) : (blk as MHSA_NCHW_Block).call(x);
    return x;
  }
}

// ---- downsampling (spec §7) ------------------------------------------------------------------------

function normLayer(kind: GLNetConfig['norm_layer'], dim: number): BatchNorm2d | LayerNorm2d {
  return kind === 'BatchNorm2d' ? new BatchNorm2d(dim) : new LayerNorm2d(dim, 1e-6);
}

/** downsample_layers.0 … 3: the stem and the three transitions. */
function downsampleLayers(c: GLNetConfig): Sequential[] {
  const d = c.embed_dim;
  const norm = (dim: number) => normLayer(c.norm_layer, dim);
  const transition = (i: number, conv: Conv2d) =>
    c.transition_layout === 'norm.proj' ? new Sequential(norm(d[i - 1]!), conv) : new Sequential(conv, norm(d[i]!));
  if (c.downsample_style === 'non_ovlp') {
    // Swin layout: 4×4/4 patchify conv + norm, then 2×2/2 transitions.
    return [
      new Sequential(new Conv2d(c.in_chans, d[0]!, 4, { stride: 4 }), norm(d[0]!)),
      ...[1, 2, 3].map((i) => transition(i, new Conv2d(d[i - 1]!, d[i]!, 2, { stride: 2 }))),
    ];
  }
  // Deep overlapping stem: two 3×3/2 convs (index 0 is an optional input norm, so keys start at .1).
  const half = d[0]! >> 1;
  return [
    new Sequential(
      c.dual_patch_norm ? new LayerNorm2d(c.in_chans, 1e-6) : new Identity(),
      new Conv2d(c.in_chans, half, 3, { stride: 2, padding: 1 }),
      norm(half),
      new GELU(),
      new Conv2d(half, d[0]!, 3, { stride: 2, padding: 1 }),
      norm(d[0]!),
    ),
    ...[1, 2, 3].map((i) => transition(i, new Conv2d(d[i - 1]!, d[i]!, 3, { stride: 2, padding: 1 }))),
  ];
}

// ---- model -----------------------------------------------------------------------------------------

/** Named outputs: a token-labelling head adds its image-level and per-token logits. */
const glnetOutputs = (tokenLabelling: boolean) => ['logits', 'features', 'final', 'slots', ...(tokenLabelling ? ['cls_logits', 'aux_logits'] : [])];

export class GLNet extends VisionModel<'final' | 'slots' | 'cls_logits' | 'aux_logits'> {
  readonly family = 'glnet';
  readonly numClasses: number;
  readonly defaultInputSize: [number, number, number];
  override readonly outputNames: readonly string[];
  downsample_layers: ModuleList<Sequential>;
  stages: ModuleList<GLNetStage>;
  /** Norm before the head (BatchNorm2d in every released variant). */
  norm: BatchNorm2d | LayerNorm2d;
  head: Linear | Identity;
  /** Token-labelling head: a classifier on every final token (`tklb`). */
  tklb_aux_head: Linear | null;
  readonly classifierPath = 'head';
  /** The stem's first conv (after the optional dual-patch-norm LayerNorm at index 0). */
  readonly firstConv = 'downsample_layers.0.1';

  constructor(readonly config: GLNetConfig) {
    super();
    const c = config;
    this.numClasses = c.num_classes;
    this.defaultInputSize = [c.in_chans, 224, 224];
    this.outputNames = glnetOutputs(c.tklb && c.num_classes > 0);
    this.downsample_layers = new ModuleList(downsampleLayers(c));
    const rates = dropPathRates(c.depth, c.drop_path_rate);
    this.stages = new ModuleList(
      c.mixing_modes.map(
        (mode, i) =>
          new GLNetStage(mode, { dim: c.embed_dim[i]!, heads: Math.floor(c.embed_dim[i]! / c.head_dim), mlpRatio: c.mlp_ratios[i]!, c }, rates[i]!),
      ),
    );
    const last = c.embed_dim[3]!;
    this.norm = normLayer(c.norm_layer, last);
    this.head = c.num_classes > 0 ? new Linear(last, c.num_classes, { init: 'trunc_normal' }) : new Identity();
    // A token-labelling model built as a feature extractor (num_classes 0) has no per-token classifier either.
    this.tklb_aux_head = c.tklb && c.num_classes > 0 ? new Linear(last, c.num_classes, { init: 'trunc_normal' }) : null;
  }

  /** The token-labelling head classifies too: it is reset, and trained under --freeze-backbone, with the head. */
  override isClassifierKey(key: string): boolean {
    return super.isClassifierKey(key) || key.startsWith('tklb_aux_head.');
  }

  get numFeatures(): number {
    return this.config.embed_dim[3]!;
  }

  getClassifier(): Module {
    return this.head;
  }

  /** The head, and the token-labelling head of a `tklb` model (none once the classes are 0, as the head). */
  protected replaceClassifier(numClasses: number): void {
    this.head = this.newClassifier(numClasses);
    if (this.config.tklb) this.tklb_aux_head = numClasses > 0 ? new Linear(this.numFeatures, numClasses, { init: 'trunc_normal' }) : null;
    (this as { outputNames: readonly string[] }).outputNames = glnetOutputs(this.tklb_aux_head !== null);
  }

  /**
   * The official code's names, in timm's ConvNeXt style: the stem (`downsample_layers.0`) first;
   * per stage (coarse) or per transition/block (fine); the final norm and the head last (ConvNeXt's
   * final norm shares the head's id too).
   */
  /**
   * timm has no GLNet: the official code (rayleizhu/GLMix, models/glnet.py; the token-labelling
   * variants in models/glnet_tklb.py) builds it, from the factory of the variant this network equals
   * or from `GLNet(...)`'s keywords. Keys are already the official ones.
   */
  override timmArchitecture(): TimmArchitecture {
    const c = this.config;
    const variant = matchingVariant('glnet', c, ['num_classes', 'in_chans', 'drop_rate', 'drop_path_rate']);
    const { num_classes: _n, in_chans: _i, drop_rate: _d, drop_path_rate: _p, ...architecture } = c;
    const args: Record<string, unknown> = variant ? {} : architecture;
    if (c.in_chans !== 3) args.in_chans = c.in_chans;
    return {
      architecture: variant ?? 'GLNet',
      modelArgs: args,
      source: { repo: 'rayleizhu/GLMix', file: c.tklb ? 'models/glnet_tklb.py' : 'models/glnet.py' },
      dropPathRate: c.drop_path_rate,
      dropRate: c.drop_rate,
    };
  }

  groupMatcher(coarse = false): GroupMatcher {
    return (key) => {
      let m = /^downsample_layers\.(\d+)\./.exec(key);
      if (m) {
        const s = Number(m[1]);
        if (s === 0) return [0];
        return coarse ? [1, s] : [1, s, 0];
      }
      m = /^stages\.(\d+)\.blocks\.(\d+)\./.exec(key);
      if (m) return coarse ? [1, Number(m[1])] : [1, Number(m[1]), Number(m[2])];
      return null;
    };
  }

  /** The stem and each transition must leave at least one pixel. */
  override checkInputSize([, h, w]: readonly [number, number, number]): void {
    const name = this.name || this.family;
    let [hh, ww] = [h, w];
    const steps = this.config.downsample_style === 'non_ovlp' ? [[4, 4, 0], [2, 2, 0], [2, 2, 0], [2, 2, 0]] : [[3, 2, 1], [3, 2, 1], [3, 2, 1], [3, 2, 1], [3, 2, 1]];
    for (const [k, s, p] of steps) {
      [hh, ww] = [Math.floor((hh + 2 * p! - k!) / s!) + 1, Math.floor((ww + 2 * p! - k!) / s!) + 1];
      if (hh < 1 || ww < 1)
        throw new ShapeError(
          `${name}: input ${h}×${w} is too small for the ${this.config.downsample_style} downsampling (stride 32; ` +
            `${this.config.downsample_style === 'non_ovlp' ? 'at least 32×32' : 'at least 1×1'})`,
        );
    }
  }

  forwardTraced(x: Value): TracedOutputs {
    const features: Value[] = [];
    const slots: SlotMapRecord = {};
    for (let i = 0; i < 4; i++) {
      x = this.downsample_layers.at(i).call(x);
      x = this.stages.at(i).call(x, slots);
      features.push(x);
    }
    // The final norm belongs to the body: the head pools its output.
    const final = this.norm.call(x);
    if (!this.tklb_aux_head) return { logits: this.forwardHeadTraced(final), features, final, slots };
    const { logits, cls, aux } = this.tokenLabellingHead(final);
    return { logits, features, final, slots, cls_logits: cls, aux_logits: aux };
  }

  /** Pool (pre-logits) → Linear; with a token-labelling head, the combined logits. */
  override forwardHeadTraced(final: Value, o: { preLogits?: boolean } = {}): Value {
    if (o.preLogits) return this.tklb_aux_head ? F.reduceMean(toTokens(final), [1]) : globalPool(final, this.globalPool);
    return this.tklb_aux_head ? this.tokenLabellingHead(final).logits : this.head.call(globalPool(final, this.globalPool));
  }

  /** Token labelling (spec §8): head(mean token) + ½ · max over tokens of the per-token classifier. */
  private tokenLabellingHead(final: Value): { logits: Value; cls: Value; aux: Value } {
    const tokens = toTokens(final);
    const cls = this.head.call(F.reduceMean(tokens, [1]));
    const aux = this.tklb_aux_head!.call(tokens); // [B, L, K]
    return { logits: F.add(cls, F.mul(F.reduceMax(aux, [1]), 0.5)), cls, aux };
  }

  /**
   * Official checkpoints: the state dict under `model` (or `model_ema`, the weights glnet_16g
   * releases), flattened into `model.<key>` names when converted to safetensors; DDP's `module.`.
   */
  override adaptStateDict(sd: Map<string, Tensor>): Map<string, Tensor> {
    const keys = [...sd.keys()];
    const own = new Set(this.stateDictKeys());
    if (keys.some((k) => own.has(k))) return sd;
    const preferred = GLNET_CHECKPOINT_KEY[tagArchitecture(this.name)] ?? 'model';
    for (const prefix of [`${preferred}.`, 'model.', 'model_ema.', 'module.', 'state_dict.']) {
      const inner = keys.filter((k) => k.startsWith(prefix));
      if (inner.length) return new Map(inner.map((k) => [k.slice(prefix.length), sd.get(k)!] as const));
    }
    return sd;
  }

  private stateDictKeys(): string[] {
    return [...this.namedParameters(), ...this.namedBuffers()].map(([k]) => k);
  }
}

// ---- registry ----------------------------------------------------------------------------------------

registerFamily({ family: 'glnet', schema: GLNET_SCHEMA, build: (c) => new GLNet(c) });

/** Swin-Tiny layout (spec §9): non-overlapping downsampling, GLMix in stages 0–2, token MHSA in stage 3. */
const STL = {
  depth: [2, 2, 6, 2],
  embed_dim: [96, 192, 384, 768],
  mlp_ratios: [4, 4, 4, 4],
  head_dim: 32,
  norm_layer: 'BatchNorm2d',
  mixing_modes: ['glmix', 'glmix', 'glmix', 'mha'],
  local_dw_ks: 5,
  num_slots: 64,
  transition_layout: 'norm.proj',
};
/** The 4G family: deep overlapping stem, CPE, residual dw conv in the MLP, MHSA in half of stage 2 and all of stage 3. */
const G = (embed_dim: number[], extra: Record<string, unknown> = {}) => ({
  depth: [4, 4, 18, 4],
  embed_dim,
  mlp_ratios: [3, 3, 3, 3],
  head_dim: 32,
  norm_layer: 'BatchNorm2d',
  mixing_modes: ['glmix', 'glmix', 'glmix.mha_nchw', 'mha_nchw'],
  local_dw_ks: 5,
  slot_init: 'ada_avgpool',
  num_slots: 64,
  cpe_ks: 3,
  downsample_style: 'ovlp',
  transition_layout: 'proj.norm',
  mlp_dw: true,
  ...extra,
});

const VARIANTS = {
  glnet_stl: { ...STL, slot_init: 'ada_avgpool' },
  glnet_stl_paramslot: { ...STL, slot_init: 'param' },
  glnet_4g: G([64, 128, 256, 512]),
  glnet_9g: G([96, 192, 384, 768]),
  glnet_16g: G([128, 256, 512, 1024], { layerscale: 1e-4 }),
  glnet_4g_tklb: G([64, 128, 256, 512], { tklb: true }),
  glnet_9g_tklb: G([96, 192, 384, 768], { tklb: true }),
} satisfies Record<string, Record<string, unknown>>;

for (const [name, config] of Object.entries(VARIANTS)) registerModel({ name, family: 'glnet', config, defaultTag: `${name}.in1k` });
registerPretrained(GLNET_PRETRAINED);

/** Module paths of a GLNet's GLMix blocks ('stages.0.blocks.0', …): the keys of its `slots` output. */
export function glmixBlockPaths(model: VisionModel): string[] {
  if (!(model instanceof GLNet)) throw new ConfigError(`${model.name || model.family} is not a GLNet (slot maps exist only in GLMix blocks)`);
  model.bindKeys();
  return [...model.modules()].filter(([, m]) => m instanceof GLMixBlock).map(([p]) => p);
}
