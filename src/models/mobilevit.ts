/**
 * MobileViT v1 (Mehta & Rastegari, "MobileViT: Light-weight, General-purpose, and Mobile-friendly
 * Vision Transformer", ICLR 2022). Spec: shared/spec/mobilevit.md; reference apple/ml-cvnets, state-dict
 * names timm's (ml-cvnets' names load too, see `cvnetsToTimm`).
 *
 * A MobileNetV2 network whose last three stages each end with a MobileViT block: a 3×3 conv for local
 * features, a 1×1 conv to the transformer width, unfold into p×p patches, a transformer over the
 * patches, fold back, a 1×1 conv back to the CNN width, then a 3×3 conv fusing the result with the
 * block's input. SiLU is the only activation; every conv but the 1×1 into the transformer has a BN.
 */
import { ConfigError, ShapeError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { ConvNormAct } from '../nn/conv_norm_act.js';
import { ClassifierHead } from '../nn/heads.js';
import { Conv2d, LayerNorm, ModuleList, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { toNCHW, toTokens } from '../nn/tokens.js';
import { TransformerBlock } from '../nn/transformer.js';
import { Tensor } from '../tensor.js';
import { VisionModel, type GroupMatcher, type LoadResult, type LoadWeightsOptions, type TimmArchitecture, type TransformersArchitecture, type TracedOutputs } from './base.js';
import { LIMITS, configSchema, field, type ConfigOf } from './config.js';
import { MOBILEVIT_PRETRAINED } from './pretrained/mobilevit.js';
import { matchingVariant, registerFamily, registerModel, registerPretrained, type FamilyTypes } from './registry.js';
import { stripWrapper } from './state_dict.js';

// ---- configuration ----------------------------------------------------------------------------

interface Mv2Layer {
  out: number;
  exp: number;
  n: number;
  stride: number;
}
interface VitLayer {
  out: number;
  exp: number;
  stride: number;
  dim: number;
  depth: number;
}

/** A MobileNetV2 stage (ml-cvnets' `layer1`, `layer2`): `n` inverted-residual blocks. */
const mv2Layer = (d: Mv2Layer, doc: string) =>
  field.table(
    {
      out: field.int({ min: 1, max: LIMITS.channels, default: d.out, doc: 'output channels' }),
      exp: field.float({ min: 1, max: LIMITS.ratio, default: d.exp, doc: 'expansion ratio of the inverted residuals' }),
      n: field.int({ min: 1, max: LIMITS.blocksPerStage, default: d.n, doc: 'inverted-residual blocks' }),
      stride: field.int({ min: 1, max: 2, default: d.stride, doc: 'stride of the first block' }),
    },
    { default: d, doc },
  );

/** A MobileViT stage (`layer3` … `layer5`): one inverted residual, then one MobileViT block. */
const vitLayer = (d: VitLayer, doc: string) =>
  field.table(
    {
      out: field.int({ min: 1, max: LIMITS.channels, default: d.out, doc: 'output channels (C)' }),
      exp: field.float({ min: 1, max: LIMITS.ratio, default: d.exp, doc: 'expansion ratio of the inverted residual' }),
      stride: field.int({ min: 1, max: 2, default: d.stride, doc: 'stride of the inverted residual' }),
      dim: field.int({ min: 1, max: LIMITS.channels, default: d.dim, doc: 'transformer width (d)' }),
      depth: field.int({ min: 1, max: LIMITS.blocksPerStage, default: d.depth, doc: 'transformer layers (L)' }),
    },
    { default: d, doc },
  );

const VIT_LAYERS = ['layer3', 'layer4', 'layer5'] as const;

/**
 * ml-cvnets' MobileViT configuration keys (spec §2.1); defaults are MobileViT-XXS. The stem is 16
 * channels in every released model (hard-coded in ml-cvnets), kept as a key for small custom nets.
 */
const MOBILEVIT_SCHEMA = configSchema(
  'mobilevit',
  {
    stem: field.int({ min: 1, max: LIMITS.channels, default: 16, doc: 'stem channels (3×3 conv, stride 2)' }),
    layer1: mv2Layer({ out: 16, exp: 2, n: 1, stride: 1 }, 'stage 0: inverted residuals'),
    layer2: mv2Layer({ out: 24, exp: 2, n: 3, stride: 2 }, 'stage 1: inverted residuals'),
    layer3: vitLayer({ out: 48, exp: 2, stride: 2, dim: 64, depth: 2 }, 'stage 2: inverted residual + MobileViT block'),
    layer4: vitLayer({ out: 64, exp: 2, stride: 2, dim: 80, depth: 4 }, 'stage 3: inverted residual + MobileViT block'),
    layer5: vitLayer({ out: 80, exp: 2, stride: 2, dim: 96, depth: 3 }, 'stage 4: inverted residual + MobileViT block'),
    heads: field.int({ min: 1, max: LIMITS.heads, default: 4, doc: 'attention heads of every transformer layer (4 in all released models)' }),
    patch: field.int({ min: 1, max: LIMITS.stride, default: 2, doc: 'patch side p (unfold into p×p patches)' }),
    mlp_ratio: field.float({ min: 0, below: 64, default: 2, doc: 'transformer MLP hidden width = dim · mlp_ratio' }),
    exp_factor: field.float({ min: 0, below: 64, default: 4, doc: 'final 1×1 conv: min(exp_factor · layer5.out, 960) channels' }),
    num_classes: field.int({ min: 0, max: LIMITS.classes, default: 1000, doc: 'classifier outputs (0: the head returns pooled features)' }),
    in_chans: field.int({ min: 1, max: LIMITS.inChans, default: 3, doc: 'input channels' }),
    drop_rate: field.float({ min: 0, below: 1, default: 0, doc: 'dropout before the classifier (training; ml-cvnets 0.1)' }),
    transformer_drop: field.float({
      min: 0,
      below: 1,
      default: 0,
      doc: 'dropout after attention and after the MLP (training; ml-cvnets 0.05 XXS, 0.1 XS/S)',
    }),
    attn_drop: field.float({ min: 0, below: 1, default: 0, doc: 'dropout on attention probabilities (training)' }),
  },
  (c, _given, fail) => {
    for (const name of VIT_LAYERS) {
      const l = c[name];
      if (l.dim % c.heads) fail(`${name}.dim`, `${l.dim} does not split into ${c.heads} heads (heads: ${c.heads})`);
      const hidden = l.dim * c.mlp_ratio;
      if (!Number.isInteger(hidden) || hidden < 1)
        fail('mlp_ratio', `${name}.dim ${l.dim} × mlp_ratio ${c.mlp_ratio} must be a whole number (≥ 1) of MLP channels`);
    }
    if (finalChannels(c) < 1) fail('exp_factor', `gives ${finalChannels(c)} channels for the final 1×1 conv`);
  },
);

export type MobileViTConfig = ConfigOf<typeof MOBILEVIT_SCHEMA>;

declare module './registry.js' {
  interface ModelFamilies {
    mobilevit: FamilyTypes<keyof typeof VARIANTS, MobileViTConfig, MobileViT>;
  }
}

/** Channels of the final 1×1 expansion conv (ml-cvnets: min(exp_factor · C5, 960)). */
function finalChannels(c: Pick<MobileViTConfig, 'exp_factor' | 'layer5'>): number {
  return Math.min(Math.floor(c.exp_factor * c.layer5.out), 960);
}

/** Python's round(): halves to even. */
const roundHalfEven = (v: number): number => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));

/** ml-cvnets' make_divisible(v, 8): nearest multiple of 8, at least 8, never more than 10% below v. */
export function makeDivisible(v: number, divisor = 8): number {
  const n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return n < 0.9 * v ? n + divisor : n;
}

// ---- blocks ----------------------------------------------------------------------------------------

/**
 * MobileNetV2 inverted residual (spec §1.2; timm's BottleneckBlock names): 1×1 expand + SiLU → 3×3
 * depthwise (stride s) + SiLU → 1×1 project, linear. A residual add only when the shape is kept.
 */
export class InvertedResidual extends Module {
  /** Absent when the expansion ratio is 1 (as in ml-cvnets). */
  conv1_1x1: ConvNormAct | null;
  conv2_kxk: ConvNormAct;
  conv3_1x1: ConvNormAct;
  readonly residual: boolean;

  constructor(inCh: number, outCh: number, stride: number, exp: number) {
    super();
    const hidden = makeDivisible(roundHalfEven(inCh * exp));
    const o = { init: 'kaiming_fan_out' } as const;
    this.conv1_1x1 = exp === 1 ? null : new ConvNormAct(inCh, hidden, 1, { act: 'silu', ...o });
    const mid = exp === 1 ? inCh : hidden;
    this.conv2_kxk = new ConvNormAct(mid, mid, 3, { stride, groups: mid, act: 'silu', ...o });
    this.conv3_1x1 = new ConvNormAct(mid, outCh, 1, o);
    this.residual = stride === 1 && inCh === outCh;
  }

  forward(x: Value): Value {
    let y = this.conv1_1x1 ? this.conv1_1x1.call(x) : x;
    y = this.conv3_1x1.call(this.conv2_kxk.call(y));
    return this.residual ? F.add(x, y) : y;
  }
}

/** The MobileViT block (spec §1.3; timm's MobileVitBlock names). C channels in and out, width d. */
export class MobileViTBlock extends Module {
  /** Local representation: 3×3 conv C→C (full, not depthwise) + BN + SiLU. */
  conv_kxk: ConvNormAct;
  /** 1×1 conv C→d into the transformer: no bias, no norm, no activation. */
  conv_1x1: Conv2d;
  transformer: Sequential;
  /** The LayerNorm after the last transformer layer. */
  norm: LayerNorm;
  /** 1×1 conv d→C + BN + SiLU. */
  conv_proj: ConvNormAct;
  /** 3×3 conv over [input, projection] 2C→C + BN + SiLU. */
  conv_fusion: ConvNormAct;

  constructor(
    ch: number,
    dim: number,
    depth: number,
    readonly patch: number,
    c: MobileViTConfig,
  ) {
    super();
    const o = { act: 'silu', init: 'kaiming_fan_out' } as const;
    this.conv_kxk = new ConvNormAct(ch, ch, 3, o);
    this.conv_1x1 = new Conv2d(ch, dim, 1, { bias: false, init: 'kaiming_fan_out' });
    const layer = { mlpHidden: dim * c.mlp_ratio, act: 'silu', normEps: 1e-5, drop: c.transformer_drop, attnDrop: c.attn_drop, init: 'trunc_normal' } as const;
    this.transformer = new Sequential(...Array.from({ length: depth }, () => new TransformerBlock(dim, c.heads, layer)));
    this.norm = new LayerNorm(dim, 1e-5);
    this.conv_proj = new ConvNormAct(dim, ch, 1, o);
    this.conv_fusion = new ConvNormAct(2 * ch, ch, 3, o);
  }

  forward(x: Value): Value {
    const [, , h, w] = x.shape as [number, number, number, number];
    const p = this.patch;
    let y = this.conv_1x1.call(this.conv_kxk.call(x));
    // Sizes that are not multiples of p are resized (bilinear, half-pixel = PyTorch's
    // align_corners=False) to the next multiple for the transformer and back after it; no padding.
    const hn = Math.ceil(h / p) * p;
    const wn = Math.ceil(w / p) * p;
    y = F.resize(y, [hn, wn], 'linear', 'half_pixel');
    // Unfolding (spec §1.4): attention runs among the pixels at the same place in their p×p patches.
    const tokens = this.norm.call(this.transformer.call(toTokens(y, p)));
    y = F.resize(toNCHW(tokens, hn, wn, p), [h, w], 'linear', 'half_pixel');
    y = this.conv_proj.call(y);
    return this.conv_fusion.call(F.concat([x, y], 1));
  }
}

// ---- model -------------------------------------------------------------------------------------------

export class MobileViT extends VisionModel<'final'> {
  readonly family = 'mobilevit';
  readonly numClasses: number;
  readonly defaultInputSize: [number, number, number];
  stem: ConvNormAct;
  /** Stage i (ml-cvnets' layer_{i+1}): blocks `stages.i.0`, `stages.i.1`, …. */
  stages: ModuleList<Sequential>;
  final_conv: ConvNormAct;
  /** Global average pool → dropout → Linear. */
  head: ClassifierHead;
  readonly classifierPath = 'head.fc';
  readonly firstConv = 'stem.conv';
  /** Stride of each stage's first block, stem first (products give each feature map's stride). */
  readonly strides: number[];

  constructor(readonly config: MobileViTConfig) {
    super();
    const c = config;
    this.numClasses = c.num_classes;
    this.defaultInputSize = [c.in_chans, 256, 256];
    const o = { act: 'silu', init: 'kaiming_fan_out' } as const;
    this.stem = new ConvNormAct(c.in_chans, c.stem, 3, { stride: 2, ...o });
    const stages: Sequential[] = [];
    let ch = c.stem;
    for (const l of [c.layer1, c.layer2]) {
      stages.push(new Sequential(...Array.from({ length: l.n }, (_, i) => new InvertedResidual(i ? l.out : ch, l.out, i ? 1 : l.stride, l.exp))));
      ch = l.out;
    }
    for (const name of VIT_LAYERS) {
      const l = c[name];
      stages.push(new Sequential(new InvertedResidual(ch, l.out, l.stride, l.exp), new MobileViTBlock(l.out, l.dim, l.depth, c.patch, c)));
      ch = l.out;
    }
    this.stages = new ModuleList(stages);
    this.strides = [2, c.layer1.stride, c.layer2.stride, ...VIT_LAYERS.map((n) => c[n].stride)];
    this.final_conv = new ConvNormAct(ch, finalChannels(c), 1, o);
    this.head = new ClassifierHead(finalChannels(c), c.num_classes, { drop: c.drop_rate, init: 'trunc_normal' });
  }

  override readonly outputNames = ['logits', 'features', 'final'];

  get numFeatures(): number {
    return finalChannels(this.config);
  }

  getClassifier(): Module {
    return this.head.fc;
  }

  protected replaceClassifier(numClasses: number): void {
    this.head.reset(numClasses, this.globalPool);
  }

  /** timm's ByobNet.group_matcher: stem; per stage (coarse) or per block (fine); final_conv after the stages. */
  /**
   * timm builds MobileViT from its named configurations (mobilevit_xxs, _xs, _s), not from keywords:
   * only a network equal to one of them can be handed over.
   */
  override timmArchitecture(): TimmArchitecture {
    const c = this.config;
    const variant = matchingVariant('mobilevit', c, ['num_classes', 'in_chans', 'drop_rate', 'transformer_drop', 'attn_drop']);
    if (!variant)
      throw new ConfigError(`timm builds MobileViT only as mobilevit_xxs, mobilevit_xs or mobilevit_s (named configurations, no keywords); this custom configuration has no timm name`);
    return { architecture: variant, modelArgs: c.in_chans !== 3 ? { in_chans: c.in_chans } : {}, source: 'timm', dropPathRate: 0, dropRate: c.drop_rate };
  }

  /**
   * Hugging Face's MobileViTForImageClassification and the keywords of MobileViTConfig. HF has one
   * expansion ratio for every inverted residual (`expand_ratio`, written when ours agree, as in
   * mobilevit_xxs, _xs and _s) and no keys for block counts or strides (its model builds the released
   * networks' 1 and 3 inverted residuals, 2, 4 and 3 transformer layers, strides 1, 2, 2, 2, 2): for
   * another layout these keywords describe the channels only. transformers.js runs the ONNX graph.
   */
  override transformersArchitecture(): TransformersArchitecture {
    const c = this.config;
    const layers = [c.layer1, c.layer2, ...VIT_LAYERS.map((n) => c[n])];
    const ratios = new Set(layers.map((l) => l.exp));
    return {
      architecture: 'MobileViTForImageClassification',
      modelType: 'mobilevit',
      imageProcessor: 'MobileViTImageProcessor',
      config: {
        num_channels: c.in_chans,
        patch_size: c.patch,
        hidden_sizes: VIT_LAYERS.map((n) => c[n].dim),
        neck_hidden_sizes: [c.stem, ...layers.map((l) => l.out), finalChannels(c)],
        num_attention_heads: c.heads,
        mlp_ratio: c.mlp_ratio,
        ...(ratios.size === 1 ? { expand_ratio: c.layer1.exp } : {}),
        hidden_act: 'silu',
        conv_kernel_size: 3,
        layer_norm_eps: 1e-5,
        qkv_bias: true,
      },
    };
  }

  groupMatcher(coarse = false): GroupMatcher {
    return (key) => {
      if (/^stem\./.test(key)) return [0];
      const m = /^stages\.(\d+)\.(\d+)\./.exec(key);
      if (m) return coarse ? [1, Number(m[1])] : [1, Number(m[1]), Number(m[2])];
      if (/^final_conv\./.test(key)) return [1, 99999];
      return null;
    };
  }

  forwardTraced(x: Value): TracedOutputs {
    const features: Value[] = [];
    x = this.stem.call(x);
    for (const stage of this.stages) {
      x = stage.call(x);
      features.push(x);
    }
    const final = this.final_conv.call(x);
    return { logits: this.forwardHeadTraced(final), features, final };
  }

  /** Pool (pre-logits) → dropout → Linear, on final_conv's output. */
  override forwardHeadTraced(final: Value, o: { preLogits?: boolean } = {}): Value {
    return o.preLogits ? this.head.preLogits(final) : this.head.call(final);
  }

  /**
   * Inputs smaller than the network's total stride would shrink to 1×1 before the last stage (the
   * convolutions round up, so nothing would fail, but the deepest stages would see padding only).
   */
  override checkInputSize([, h, w]: readonly [number, number, number]): void {
    let stride = 1;
    const total = this.strides.reduce((a, b) => a * b, 1);
    for (let i = 0; i < this.strides.length; i++) {
      stride *= this.strides[i]!;
      if (stride > Math.min(h, w)) {
        const where = i === 0 ? 'the stem' : `stage ${i - 1} (layer${i})`;
        throw new ShapeError(
          `${this.name || this.family}: input ${h}×${w} is smaller than the network's total stride ${total}: ${where} ` +
            `reaches stride ${stride}; give an input of at least ${total}×${total}`,
        );
      }
    }
  }

  /** timm names as they are, ml-cvnets names mapped (`module.`/`model.` wrappers stripped); see MobileViTLoadOptions. */
  override adaptStateDict(sd: Map<string, Tensor>, opts: MobileViTLoadOptions = {}): Map<string, Tensor> {
    let out = stripWrapper(sd);
    if ([...out.keys()].some((k) => /^(conv_1|layer_\d+|conv_1x1_exp|classifier)\./.test(k))) {
      const depths = VIT_LAYERS.map((n) => this.config[n].depth);
      out = new Map([...out].map(([k, t]) => [cvnetsToTimm(k, depths), t] as const));
    }
    const stem = out.get('stem.conv.weight');
    if (opts.channelOrder === 'BGR' && stem) out = new Map(out).set('stem.conv.weight', reverseInputChannels(stem));
    return out;
  }

  override loadWeights(source: string | Map<string, Tensor> | Record<string, Tensor>, opts: MobileViTLoadOptions = {}): Promise<LoadResult> {
    return super.loadWeights(source, opts);
  }
}

export interface MobileViTLoadOptions extends LoadWeightsOptions {
  /**
   * The channel order the checkpoint's network was trained on. 'BGR' (ml-cvnets' own checkpoints,
   * trained on OpenCV-read images) reverses the stem conv's input channels, so that the loaded model
   * takes RGB like every other visionmix model. Default 'RGB': timm's copies are used as they are.
   */
  channelOrder?: 'RGB' | 'BGR';
}

/** A conv weight [O, I, kh, kw] with its input channels in reverse order (BGR-trained → RGB input). */
function reverseInputChannels(w: Tensor): Tensor {
  const [o, i, kh, kw] = w.shape as [number, number, number, number];
  const k = kh * kw;
  const src = w.data as Float32Array;
  const dst = new Float32Array(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++) dst.set(src.subarray((a * i + b) * k, (a * i + b + 1) * k), (a * i + (i - 1 - b)) * k);
  return new Tensor(dst, w.shape, 'float32');
}

/**
 * ml-cvnets key → timm key (spec §4). `depths` are the transformer depths of stages 2–4: ml-cvnets
 * keeps the final LayerNorm as element L of `global_rep`, timm as `norm`.
 */
export function cvnetsToTimm(key: string, depths: readonly number[]): string {
  let k = key.replace(/^layer_(\d+)\./, (_, n: string) => `stages.${Number(n) - 1}.`);
  // ConvBNAct units: `<name>.block.conv|norm` → `<timm name>.conv|bn`.
  for (const [from, to] of CONV_NAMES) {
    k = k.replace(new RegExp(`(^|\\.)${from}\\.block\\.conv\\.`), `$1${to}.conv.`);
    k = k.replace(new RegExp(`(^|\\.)${from}\\.block\\.norm\\.`), `$1${to}.bn.`);
  }
  k = k.replace(/\.local_rep\.conv_1x1\.block\.conv\./, '.conv_1x1.');
  k = k.replace(/^stages\.(\d+)\.1\.global_rep\.(\d+)\./, (_, s: string, j: string) =>
    Number(j) === depths[Number(s) - 2] ? `stages.${s}.1.norm.` : `stages.${s}.1.transformer.${j}.`,
  );
  for (const [from, to] of TRANSFORMER_NAMES) k = k.replace(`.${from}.`, `.${to}.`);
  return k.replace(/^classifier\.fc\./, 'head.fc.');
}

/** ml-cvnets ConvLayer names (with the block they sit in) → timm ConvNormAct names. */
const CONV_NAMES: [string, string][] = [
  ['conv_1', 'stem'],
  ['conv_1x1_exp', 'final_conv'],
  ['block\\.exp_1x1', 'conv1_1x1'],
  ['block\\.conv_3x3', 'conv2_kxk'],
  ['block\\.red_1x1', 'conv3_1x1'],
  ['local_rep\\.conv_3x3', 'conv_kxk'],
  ['conv_proj', 'conv_proj'],
  ['fusion', 'conv_fusion'],
];

/** ml-cvnets TransformerEncoder parts → timm Block parts (pre_norm_ffn.2/.3 are SiLU and dropout). */
const TRANSFORMER_NAMES: [string, string][] = [
  ['pre_norm_mha.0', 'norm1'],
  ['pre_norm_mha.1.qkv_proj', 'attn.qkv'],
  ['pre_norm_mha.1.out_proj', 'attn.proj'],
  ['pre_norm_ffn.0', 'norm2'],
  ['pre_norm_ffn.1', 'mlp.fc1'],
  ['pre_norm_ffn.4', 'mlp.fc2'],
];

// ---- registry ----------------------------------------------------------------------------------------

registerFamily({ family: 'mobilevit', schema: MOBILEVIT_SCHEMA, build: (c) => new MobileViT(c) });

/** Spec §2.1. */
const VARIANTS = {
  mobilevit_xxs: {
    layer1: { out: 16, exp: 2, n: 1, stride: 1 },
    layer2: { out: 24, exp: 2, n: 3, stride: 2 },
    layer3: { out: 48, exp: 2, stride: 2, dim: 64, depth: 2 },
    layer4: { out: 64, exp: 2, stride: 2, dim: 80, depth: 4 },
    layer5: { out: 80, exp: 2, stride: 2, dim: 96, depth: 3 },
  },
  mobilevit_xs: {
    layer1: { out: 32, exp: 4, n: 1, stride: 1 },
    layer2: { out: 48, exp: 4, n: 3, stride: 2 },
    layer3: { out: 64, exp: 4, stride: 2, dim: 96, depth: 2 },
    layer4: { out: 80, exp: 4, stride: 2, dim: 120, depth: 4 },
    layer5: { out: 96, exp: 4, stride: 2, dim: 144, depth: 3 },
  },
  mobilevit_s: {
    layer1: { out: 32, exp: 4, n: 1, stride: 1 },
    layer2: { out: 64, exp: 4, n: 3, stride: 2 },
    layer3: { out: 96, exp: 4, stride: 2, dim: 144, depth: 2 },
    layer4: { out: 128, exp: 4, stride: 2, dim: 192, depth: 4 },
    layer5: { out: 160, exp: 4, stride: 2, dim: 240, depth: 3 },
  },
} satisfies Record<string, Pick<MobileViTConfig, 'layer1' | 'layer2' | 'layer3' | 'layer4' | 'layer5'>>;

for (const [name, config] of Object.entries(VARIANTS))
  registerModel({ name, family: 'mobilevit', config: { stem: 16, heads: 4, patch: 2, mlp_ratio: 2, exp_factor: 4, ...config }, defaultTag: `${name}.cvnets_in1k` });
registerPretrained(MOBILEVIT_PRETRAINED);
