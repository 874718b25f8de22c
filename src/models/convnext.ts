/**
 * ConvNeXt (Liu et al., "A ConvNet for the 2020s", 2022) and ConvNeXt V2 (Woo et al., "ConvNeXt V2:
 * Co-designing and Scaling ConvNets with Masked Autoencoders", 2023). Spec: shared/spec/convnext.md.
 *
 * Both share the skeleton: a 4×4/4 patchify stem, four stages of 7×7 depthwise blocks with an
 * inverted MLP, LayerNorm downsampling between stages, and a pool → LN → Linear head. V1 scales the
 * block's output by a learned per-channel `gamma` (layer scale); V2 drops it and adds GRN after GELU.
 */
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { truncNormal } from '../nn/init.js';
import { DropPath, GRN, Identity, LayerNorm, LayerNorm2d, Linear, ModuleList, Sequential, Conv2d } from '../nn/layers.js';
import { Module, Parameter, lazy } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import { VisionModel, type TracedOutputs } from './base.js';
import { cfg, IMAGENET_MEAN, IMAGENET_STD, registerFamily, registerModel, type RawConfig } from './registry.js';

// ---- configuration ----------------------------------------------------------------------------

export interface ConvNeXtConfig {
  depths: number[];
  dims: number[];
  numClasses: number;
  inChans: number;
  /** Stem patch size (4 in the papers). */
  patchSize: number;
  /** V2: GRN in the MLP and no layer scale. */
  v2: boolean;
  /** V1 layer-scale init (1e-6); 0 disables layer scale. */
  lsInitValue: number;
  /** timm stores the MLP as 1×1 convs ([out,in,1,1] weights) for atto…nano. */
  convMlp: boolean;
  dropPathRate: number;
  headInitScale: number;
  lnEps: number;
}

const CONFIG_KEYS = [
  'depths',
  'dims',
  'num_classes',
  'in_chans',
  'patch_size',
  'ls_init_value',
  'conv_mlp',
  'drop_path_rate',
  'head_init_scale',
  'ln_eps',
] as const;

function parseConfig(c: RawConfig, v2: boolean): ConvNeXtConfig {
  const depths = cfg.ints(c, 'depths', [3, 3, 9, 3], 4);
  const dims = cfg.ints(c, 'dims', [96, 192, 384, 768], 4);
  return {
    depths,
    dims,
    numClasses: cfg.int(c, 'num_classes', 1000, 0),
    inChans: cfg.int(c, 'in_chans', 3),
    patchSize: cfg.int(c, 'patch_size', 4),
    v2,
    lsInitValue: v2 ? 0 : cfg.num(c, 'ls_init_value', 1e-6, 0),
    convMlp: cfg.bool(c, 'conv_mlp', false),
    dropPathRate: cfg.num(c, 'drop_path_rate', 0, 0, 0.999),
    headInitScale: cfg.num(c, 'head_init_scale', 1, 0),
    lnEps: cfg.num(c, 'ln_eps', 1e-6, 0),
  };
}

// ---- block ---------------------------------------------------------------------------------------

/** The inverted MLP of a block, on channels-last input: fc1 → GELU → (GRN) → fc2. */
class ConvNeXtMlp extends Module {
  fc1: Linear;
  grn: GRN | Identity;
  fc2: Linear;

  constructor(dim: number, hidden: number, v2: boolean, convWeight: boolean) {
    super();
    this.fc1 = new Linear(dim, hidden, { init: 'trunc_normal', convWeight });
    this.grn = v2 ? new GRN(hidden) : new Identity();
    this.fc2 = new Linear(hidden, dim, { init: 'trunc_normal', convWeight });
  }

  forward(x: Value): Value {
    x = F.gelu(this.fc1.call(x));
    x = this.grn.call(x);
    return this.fc2.call(x);
  }
}

/**
 * dwconv7×7 → LN → Linear(C→4C) → GELU → [GRN] → Linear(4C→C) → [γ·] → drop path → + x.
 * The depthwise conv runs in NCHW (ONNX Conv is NCHW-only); the per-pixel part runs channels-last so
 * LN is one LayerNormalization and each Linear one large MatMul.
 */
export class ConvNeXtBlock extends Module {
  conv_dw: Conv2d;
  norm: LayerNorm;
  mlp: ConvNeXtMlp;
  gamma: Parameter | null;
  drop_path: DropPath | Identity;

  constructor(dim: number, c: ConvNeXtConfig, dropPath: number) {
    super();
    this.conv_dw = new Conv2d(dim, dim, 7, { padding: 3, groups: dim, init: 'trunc_normal' });
    this.norm = new LayerNorm(dim, c.lnEps);
    this.mlp = new ConvNeXtMlp(dim, 4 * dim, c.v2, c.convMlp);
    this.gamma = c.lsInitValue > 0 ? new Parameter(lazy([dim], () => Tensor.from(new Float32Array(dim).fill(c.lsInitValue), [dim]))) : null;
    this.drop_path = dropPath > 0 ? new DropPath(dropPath) : new Identity();
  }

  forward(x: Value): Value {
    const shortcut = x;
    let y = this.conv_dw.call(x);
    y = F.transpose(y, [0, 2, 3, 1]);
    y = this.norm.call(y);
    y = this.mlp.call(y);
    if (this.gamma) y = F.mul(y, this.gamma.value);
    y = F.transpose(y, [0, 3, 1, 2]);
    return F.add(shortcut, this.drop_path.call(y));
  }
}

// ---- stage & model -------------------------------------------------------------------------------

export class ConvNeXtStage extends Module {
  downsample: Sequential | Identity;
  blocks: Sequential;

  constructor(inDim: number, dim: number, depth: number, c: ConvNeXtConfig, dropRates: number[], first: boolean) {
    super();
    // Stage 0 follows the stem directly; later stages start with LN then a 2×2 stride-2 conv.
    this.downsample = first
      ? new Identity()
      : new Sequential(new LayerNorm2d(inDim, c.lnEps), new Conv2d(inDim, dim, 2, { stride: 2, init: 'trunc_normal' }));
    this.blocks = new Sequential(...Array.from({ length: depth }, (_, j) => new ConvNeXtBlock(dim, c, dropRates[j]!)));
  }

  forward(x: Value): Value {
    return this.blocks.call(this.downsample.call(x));
  }
}

/** Classifier head: global average pool → LN → Linear (timm's NormMlpClassifierHead). */
class ConvNeXtHead extends Module {
  norm: LayerNorm;
  fc: Linear | Identity;

  constructor(dim: number, numClasses: number, c: ConvNeXtConfig) {
    super();
    this.norm = new LayerNorm(dim, c.lnEps);
    this.fc = numClasses > 0 ? new Linear(dim, numClasses, { init: 'trunc_normal' }) : new Identity();
    if (this.fc instanceof Linear && c.headInitScale !== 1) {
      const s = c.headInitScale;
      const w = [c.numClasses, dim];
      this.fc.weight = new Parameter(lazy(w, (r) => scaled(truncNormal(w, 0.02, r), s)));
    }
  }

  forward(x: Value): Value {
    const pooled = F.reduceMean(x, [2, 3]); // [N, C]
    return this.fc.call(this.norm.call(pooled));
  }
}

export class ConvNeXt extends VisionModel {
  readonly family: string;
  readonly numClasses: number;
  readonly defaultInputSize: [number, number, number];
  stem: Sequential;
  stages: ModuleList<ConvNeXtStage>;
  head: ConvNeXtHead;

  constructor(readonly config: ConvNeXtConfig) {
    super();
    const c = config;
    this.family = c.v2 ? 'convnextv2' : 'convnext';
    this.numClasses = c.numClasses;
    this.defaultInputSize = [c.inChans, 224, 224];
    this.stem = new Sequential(
      new Conv2d(c.inChans, c.dims[0]!, c.patchSize, { stride: c.patchSize, init: 'trunc_normal' }),
      new LayerNorm2d(c.dims[0]!, c.lnEps),
    );
    // Drop-path rate grows linearly with the global block index: first 0, last drop_path_rate.
    const total = c.depths.reduce((a, b) => a + b, 0);
    const rates = Array.from({ length: total }, (_, k) => (total > 1 ? (c.dropPathRate * k) / (total - 1) : 0));
    let k = 0;
    this.stages = new ModuleList(
      c.depths.map((d, i) => {
        const stage = new ConvNeXtStage(i === 0 ? c.dims[0]! : c.dims[i - 1]!, c.dims[i]!, d, c, rates.slice(k, k + d), i === 0);
        k += d;
        return stage;
      }),
    );
    this.head = new ConvNeXtHead(c.dims[3]!, c.numClasses, c);
  }

  forwardTraced(x: Value): TracedOutputs {
    const features: Value[] = [];
    x = this.stem.call(x);
    for (const stage of this.stages) {
      x = stage.call(x);
      features.push(x);
    }
    return { logits: this.head.call(x), features };
  }

  /** Accept official (facebookresearch) checkpoints and timm's 1×1-conv vs Linear MLP shapes. */
  override adaptStateDict(sd: Map<string, Tensor>): Map<string, Tensor> {
    const src = stripWrapper(sd);
    const official = src.has('downsample_layers.0.0.weight');
    const own = new Map(this.namedParameters().map(([k, p]) => [k, p.shape] as const));
    const out = new Map<string, Tensor>();
    for (const [k0, t0] of src) {
      const k = official ? officialToTimm(k0) : k0;
      let t = t0;
      const want = own.get(k);
      // Same elements, differing only by unit dims: conv-MLP [o,i,1,1] ↔ Linear [o,i]; GRN [1,1,1,C] ↔ [C].
      if (want && !sameDims(t.shape, want) && squeezeUnit(t.shape).join(',') === squeezeUnit(want).join(','))
        t = t.reshape(want);
      out.set(k, t);
    }
    return out;
  }
}

function stripWrapper(sd: Map<string, Tensor>): Map<string, Tensor> {
  for (const prefix of ['model.', 'module.', 'state_dict.']) {
    if ([...sd.keys()].every((k) => k.startsWith(prefix)))
      return new Map([...sd].map(([k, v]) => [k.slice(prefix.length), v] as const));
  }
  return sd;
}

const sameDims = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const squeezeUnit = (s: readonly number[]) => s.filter((d) => d !== 1);

/** Official ConvNeXt / ConvNeXt-V2 key → timm key (spec §7.3). */
export function officialToTimm(k: string): string {
  k = k.replace(/^downsample_layers\.0\./, 'stem.');
  k = k.replace(/^downsample_layers\.(\d+)\./, 'stages.$1.downsample.');
  k = k.replace(/^stages\.(\d+)\.(\d+)\./, 'stages.$1.blocks.$2.');
  k = k.replace('.dwconv.', '.conv_dw.').replace('.pwconv1.', '.mlp.fc1.').replace('.pwconv2.', '.mlp.fc2.');
  k = k.replace(/\.grn\.gamma$/, '.mlp.grn.weight').replace(/\.grn\.beta$/, '.mlp.grn.bias');
  // head.* → head.fc.* first, then the final norm → head.norm (so head.norm is not renamed twice).
  k = k.replace(/^head\./, 'head.fc.');
  k = k.replace(/^norm\./, 'head.norm.');
  return k;
}

// ---- registry ----------------------------------------------------------------------------------------

registerFamily({ family: 'convnext', keys: CONFIG_KEYS, build: (c) => new ConvNeXt(parseConfig(c, false)) });
registerFamily({ family: 'convnextv2', keys: CONFIG_KEYS, build: (c) => new ConvNeXt(parseConfig(c, true)) });

const SIZES: Record<string, { depths: number[]; dims: number[]; convMlp: boolean }> = {
  atto: { depths: [2, 2, 6, 2], dims: [40, 80, 160, 320], convMlp: true },
  femto: { depths: [2, 2, 6, 2], dims: [48, 96, 192, 384], convMlp: true },
  pico: { depths: [2, 2, 6, 2], dims: [64, 128, 256, 512], convMlp: true },
  nano: { depths: [2, 2, 8, 2], dims: [80, 160, 320, 640], convMlp: true },
  tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768], convMlp: false },
  small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768], convMlp: false },
  base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024], convMlp: false },
  large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536], convMlp: false },
  xlarge: { depths: [3, 3, 27, 3], dims: [256, 512, 1024, 2048], convMlp: false },
  huge: { depths: [3, 3, 27, 3], dims: [352, 704, 1408, 2816], convMlp: false },
};

/** timm's default pretrained tags (hub ids on the Hugging Face hub). */
const V1_TAGS: Record<string, string> = {
  atto: 'd2_in1k', femto: 'd1_in1k', pico: 'd1_in1k', nano: 'in12k_ft_in1k', tiny: 'in12k_ft_in1k',
  small: 'in12k_ft_in1k', base: 'fb_in22k_ft_in1k', large: 'fb_in22k_ft_in1k', xlarge: 'fb_in22k_ft_in1k',
};
const V2_TAGS: Record<string, string> = {
  atto: 'fcmae_ft_in1k', femto: 'fcmae_ft_in1k', pico: 'fcmae_ft_in1k', nano: 'fcmae_ft_in22k_in1k',
  tiny: 'fcmae_ft_in22k_in1k', base: 'fcmae_ft_in22k_in1k', large: 'fcmae_ft_in22k_in1k', huge: 'fcmae_ft_in22k_in1k',
};

function register(version: 'convnext' | 'convnextv2', size: string, tag: string): void {
  const s = SIZES[size]!;
  const small = ['atto', 'femto', 'pico', 'nano'].includes(size);
  registerModel({
    name: `${version}_${size}`,
    family: version,
    config: { depths: s.depths, dims: s.dims, conv_mlp: s.convMlp },
    pretrained: {
      inputSize: [3, 224, 224],
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      cropPct: small && version === 'convnext' ? 0.95 : 0.875,
      interpolation: 'bicubic',
      hubId: `timm/${version}_${size}.${tag}`,
    },
  });
}

for (const size of Object.keys(V1_TAGS)) register('convnext', size, V1_TAGS[size]!);
for (const size of Object.keys(V2_TAGS)) register('convnextv2', size, V2_TAGS[size]!);

function scaled(t: Tensor, s: number): Tensor {
  (t.data as Float32Array).forEach((v, i, a) => (a[i] = v * s));
  return t;
}
