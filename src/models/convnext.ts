/**
 * ConvNeXt (Liu et al., "A ConvNet for the 2020s", 2022) and ConvNeXt V2 (Woo et al., "ConvNeXt V2:
 * Co-designing and Scaling ConvNets with Masked Autoencoders", 2023). Spec: shared/spec/convnext.md.
 *
 * Both share the skeleton: a 4×4/4 patchify stem, four stages of 7×7 depthwise blocks with an
 * inverted MLP, LayerNorm downsampling between stages, and a pool → LN → Linear head. V1 scales the
 * block's output by a learned per-channel `gamma` (layer scale); V2 drops it and adds GRN after GELU.
 */
import { ConfigError, WeightsError } from '../errors.js';
import { currentGraph, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { ClassifierHead } from '../nn/heads.js';
import { truncNormal } from '../nn/init.js';
import { Conv2d, DropPath, GRN, Identity, LayerNorm, LayerNorm2d, Linear, ModuleList, Sequential, dropPathRates } from '../nn/layers.js';
import { Module, Parameter, lazy } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import { VisionModel, type GroupMatcher, type LoadWeightsOptions, type TimmArchitecture, type TransformersArchitecture, type LayerDecayMode, type LayerIds, type TracedOutputs } from './base.js';
import { LIMITS, configSchema, field, withDefaults, type ConfigOf, type RawConfig } from './config.js';
import { depthsFromKeys } from './layer_groups.js';
import { CONVNEXT_PRETRAINED } from './pretrained/convnext.js';
import { matchingVariant, registerFamily, registerModel, registerPretrained, type FamilyTypes } from './registry.js';
import { fitUnitDims, stripWrapper } from './state_dict.js';

declare module './base.js' {
  interface NamedOutputs {
    /** ConvNeXt: every block's output, in order. */
    blocks: Tensor[];
  }
}

declare module './registry.js' {
  interface ModelFamilies {
    convnext: FamilyTypes<Exclude<ConvNeXtName, `convnextv2_${string}`>, ConvNeXtConfig, ConvNeXt>;
    convnextv2: FamilyTypes<Extract<ConvNeXtName, `convnextv2_${string}`>, ConvNeXtConfig, ConvNeXt>;
  }
}

// ---- configuration ----------------------------------------------------------------------------

/** timm's `ConvNeXt(...)` keywords (the subset visionmix builds). */
const CONVNEXT_SCHEMA = configSchema(
  'convnext',
  {
    depths: field.ints({ maxLength: LIMITS.stages, min: 1, max: LIMITS.blocksPerStage, default: [3, 3, 9, 3], doc: 'blocks per stage' }),
    dims: field.ints({ maxLength: LIMITS.stages, min: 1, max: LIMITS.channels, default: [96, 192, 384, 768], doc: 'channels per stage' }),
    num_classes: field.int({ min: 0, max: LIMITS.classes, default: 1000, doc: 'classifier outputs (0: the head returns pooled features)' }),
    in_chans: field.int({ min: 1, max: LIMITS.inChans, default: 3, doc: 'input channels' }),
    patch_size: field.int({
      min: 1,
      max: LIMITS.stride,
      default: 4,
      doc: "stem patchify conv kernel and stride, as timm: 2 adds a stride-2 downsample to stage 0; from 8 (4 stages) the last stages dilate to keep timm's output stride 32",
    }),
    stem_stride: field.int({
      min: 1,
      max: LIMITS.stride,
      default: null,
      nullable: true,
      doc: 'visionmix extension (timm has no such key): a stem_stride×stem_stride stride-stem_stride stem, no stage-0 downsample, every later stage halves; replaces patch_size',
    }),
    ls_init_value: field.float({ min: 0, default: 1e-6, nullable: true, doc: 'layer-scale init (V1); null: no layer scale' }),
    use_grn: field.bool({ default: false, doc: 'Global Response Normalization in the MLP (V2)' }),
    conv_mlp: field.bool({ default: false, doc: 'store the MLP as 1×1 convs ([out,in,1,1] weights), as timm does for atto…nano' }),
    drop_rate: field.float({ min: 0, below: 1, default: 0, doc: 'dropout before the classifier (training)' }),
    drop_path_rate: field.float({ min: 0, below: 1, default: 0, doc: 'stochastic depth, linear from 0 at the first block' }),
    head_init_scale: field.float({ min: 0, default: 1, doc: 'multiplies the classifier weights at init' }),
    norm_eps: field.float({ min: 0, default: 1e-6, doc: 'LayerNorm eps (1e-6 everywhere in the papers)' }),
  },
  (c, given, fail) => {
    if (c.depths.length !== c.dims.length) fail('depths', `has ${c.depths.length} stages but dims has ${c.dims.length}`);
    if (c.stem_stride !== null && given.has('patch_size'))
      fail('stem_stride', "replaces patch_size (it builds its own stem): give one of them — patch_size for timm's network, stem_stride for the visionmix one");
  },
);

/** ConvNeXt V2 = timm's ConvNeXt(use_grn=True, ls_init_value=None): GRN and no layer scale. */
const CONVNEXTV2_SCHEMA = withDefaults(CONVNEXT_SCHEMA, 'convnextv2', { use_grn: true, ls_init_value: null }, (c, given, fail) => {
  CONVNEXT_SCHEMA.validate!(c, given, fail);
  if (!c.use_grn) fail('use_grn', "ConvNeXt V2 always has GRN; for a ConvNeXt without it use family 'convnext'");
  if (c.ls_init_value !== null)
    fail('ls_init_value', "ConvNeXt V2 has no layer scale (null); for GRN plus layer scale use family 'convnext' with use_grn: true");
});

export type ConvNeXtConfig = ConfigOf<typeof CONVNEXT_SCHEMA>;

// ---- block ---------------------------------------------------------------------------------------

/** The inverted MLP of a block, on channels-last input: fc1 → GELU → (GRN) → fc2 (timm's GlobalResponseNormMlp). */
class ConvNeXtMlp extends Module {
  fc1: Linear;
  grn: GRN | Identity;
  fc2: Linear;

  constructor(dim: number, hidden: number, useGrn: boolean, convWeight: boolean) {
    super();
    this.fc1 = new Linear(dim, hidden, { init: 'trunc_normal', convWeight });
    this.grn = useGrn ? new GRN(hidden) : new Identity();
    this.fc2 = new Linear(hidden, dim, { init: 'trunc_normal', convWeight });
  }

  /**
   * `visible`: the rows as GRN's statistics must see them (masked positions zero, for FCMAE);
   * `select`: the rows fc2 runs on (`ConvNeXtBlock.forwardAt`).
   */
  forward(x: Value, visible: (rows: Value) => Value = (r) => r, select: (rows: Value) => Value = (r) => r): Value {
    x = F.gelu(this.fc1.call(x));
    if (this.grn instanceof GRN) x = this.grn.call(visible(x));
    return this.fc2.call(select(x));
  }
}

/**
 * Where a block's per-position part (LN, MLP, GRN, layer scale) runs: on every position of the map
 * (`EVERY_POSITION`, the ordinary network), or — FCMAE's masked encoder — on the visible positions
 * only, densely masked or gathered (models/fcmae.ts). One block forward serves all of them.
 */
export interface Positions {
  /** The block's depthwise conv on the map, whose output is read at these positions only. */
  depthwise(conv: Conv2d, x: Value): Value;
  /** NCHW map → channels-last rows of the positions the per-position part runs on. */
  rows(y: Value): Value;
  /** The rows as GRN's statistics must see them: masked positions zero. */
  visible(r: Value): Value;
  /** Rows → NCHW map (zero where nothing ran). */
  map(r: Value): Value;
}

/** Every position: NCHW ↔ NHWC around the per-position part. */
export const EVERY_POSITION: Positions = {
  depthwise: (conv, x) => conv.call(x),
  rows: (y) => F.transpose(y, [0, 2, 3, 1]),
  visible: (r) => r,
  map: (r) => F.transpose(r, [0, 3, 1, 2]),
};

/**
 * dwconv7×7 → LN → Linear(C→4C) → GELU → [GRN] → Linear(4C→C) → [γ·] → drop path → + x.
 * The depthwise conv runs in NCHW (ONNX Conv is NCHW-only); the per-pixel part runs channels-last so
 * LN is one LayerNormalization and each Linear one large MatMul.
 */
export class ConvNeXtBlock extends Module {
  conv_dw: Conv2d;
  norm: LayerNorm;
  mlp: ConvNeXtMlp;
  /** Layer scale, stored as `gamma` on the block itself (timm's key). */
  gamma: Parameter | null;
  drop_path: DropPath | Identity;

  /** `dilation`: of the depthwise conv (timm dilates the stages past output stride 32; padding 3·dilation keeps the size). */
  constructor(dim: number, c: ConvNeXtConfig, dropPath: number, dilation = 1) {
    super();
    this.conv_dw = new Conv2d(dim, dim, 7, { padding: 3 * dilation, groups: dim, init: 'trunc_normal', ...(dilation > 1 ? { dilation } : {}) });
    this.norm = new LayerNorm(dim, c.norm_eps);
    this.mlp = new ConvNeXtMlp(dim, 4 * dim, c.use_grn, c.conv_mlp);
    const ls = c.ls_init_value;
    this.gamma = ls !== null && ls > 0 ? new Parameter(lazy([dim], () => Tensor.from(new Float32Array(dim).fill(ls), [dim]))) : null;
    this.drop_path = dropPath > 0 ? new DropPath(dropPath) : new Identity();
  }

  /** `at`: the positions the per-position part runs on (every one, but for FCMAE's masked encoder). */
  forward(x: Value, at: Positions = EVERY_POSITION): Value {
    let y = at.rows(at.depthwise(this.conv_dw, x));
    y = this.norm.call(y);
    y = this.mlp.call(y, (r: Value) => at.visible(r));
    if (this.gamma) y = F.mul(y, this.gamma.value);
    return F.add(x, this.drop_path.call(at.map(y)));
  }

  /**
   * The block's output at some positions only, as rows (`select` picks them from channels-last rows
   * [N, H, W, ·]): FCMAE's decoder, whose prediction the loss reads at the masked patches. Up to GRN
   * everything runs on every position (GRN's statistics see them all); fc2, the layer scale and the
   * residual run on the selected rows. Without drop path, which draws per image, not per row.
   */
  forwardAt(x: Value, select: (rows: Value) => Value): Value {
    if (!(this.drop_path instanceof Identity)) throw new ConfigError(`${this.path}: forwardAt runs blocks without drop path only`);
    return currentGraph().inScope(this.path, () => {
      let y = this.norm.call(EVERY_POSITION.rows(this.conv_dw.call(x)));
      y = this.mlp.call(y, (r: Value) => r, select);
      if (this.gamma) y = F.mul(y, this.gamma.value);
      return F.add(select(EVERY_POSITION.rows(x)), y);
    });
  }
}

// ---- stage & model -------------------------------------------------------------------------------

/** How one stage samples: its downsample's stride, the dilation of that downsample conv and of its blocks' convs. */
export interface StagePlan {
  stride: number;
  firstDilation: number;
  dilation: number;
}

/** timm's `output_stride` default: past it, stages dilate instead of downsampling. */
const OUTPUT_STRIDE = 32;

/**
 * The stem's stride and each stage's sampling, as timm's `ConvNeXt.__init__` computes them
 * (timm/models/convnext.py, stem_type 'patch', output_stride 32): the stem reduces by patch_size;
 * stage i downsamples by 2 when i > 0, and stage 0 only when the stem's stride is exactly 2
 * (`stride = 2 if curr_stride == 2 or i > 0 else 1`); once the running stride has reached 32 a stage
 * keeps its resolution and multiplies the dilation by 2 instead (first dilation 1 while the dilation
 * is 1 or 2, else 2). So patch_size 2 gives stage 0 a stride-2 downsample and total stride 32, and
 * patch_size ≥ 8 dilates the last stages. (timm builds exactly 4 stages; other counts follow the same rule.)
 *
 * `stem_stride` (a visionmix extension) is the network visionmix built from `patch_size` before it
 * followed timm: stem stride s, no stage-0 downsample, every later stage halves, nothing dilates.
 */
export function stagePlan(c: Pick<ConvNeXtConfig, 'depths' | 'patch_size' | 'stem_stride'>): { stemStride: number; stages: StagePlan[] } {
  if (c.stem_stride !== null)
    return { stemStride: c.stem_stride, stages: c.depths.map((_, i) => ({ stride: i === 0 ? 1 : 2, firstDilation: 1, dilation: 1 })) };
  let current = c.patch_size;
  let dilation = 1;
  const stages = c.depths.map((_, i) => {
    let stride = current === 2 || i > 0 ? 2 : 1;
    if (current >= OUTPUT_STRIDE && stride > 1) {
      dilation *= stride;
      stride = 1;
    }
    current *= stride;
    return { stride, firstDilation: dilation === 1 || dilation === 2 ? 1 : 2, dilation };
  });
  return { stemStride: c.patch_size, stages };
}

/**
 * timm's `padding='same'` for the downsample conv of a dilated stage (timm/layers/padding.py): symmetric
 * when it can be (stride 1 and an even dilated extent), else TensorFlow's SAME, the extra row and
 * column at the bottom and right. Dilated stages have stride 1 (see stagePlan), so the pads do not
 * depend on the input size.
 */
function samePadding(kernel: number, dilation: number): [number, number, number, number] {
  const total = dilation * (kernel - 1);
  const before = Math.floor(total / 2);
  return [before, before, total - before, total - before];
}

export class ConvNeXtStage extends Module {
  downsample: Sequential | Identity;
  blocks: Sequential;

  constructor(inDim: number, dim: number, depth: number, c: ConvNeXtConfig, dropRates: number[], plan: StagePlan) {
    super();
    // timm's ConvNeXtStage: LN then a conv when the stage changes width, stride or dilation — a 2×2
    // conv with the stage's stride (1×1 for a width change alone); 'same' padding when dilated.
    const { stride, firstDilation, dilation } = plan;
    const resamples = stride > 1 || firstDilation !== dilation;
    if (inDim !== dim || resamples) {
      const k = resamples ? 2 : 1;
      const conv = new Conv2d(inDim, dim, k, {
        stride,
        init: 'trunc_normal',
        ...(firstDilation > 1 ? { dilation: firstDilation } : {}),
        ...(dilation > 1 ? { padding: samePadding(k, firstDilation) } : {}),
      });
      this.downsample = new Sequential(new LayerNorm2d(inDim, c.norm_eps), conv);
    } else {
      this.downsample = new Identity();
    }
    this.blocks = new Sequential(...Array.from({ length: depth }, (_, j) => new ConvNeXtBlock(dim, c, dropRates[j]!, dilation)));
  }

  forward(x: Value): Value {
    return this.blocks.call(this.downsample.call(x));
  }

  /** The output of every block, in order (the last one is the stage's output). */
  forwardBlocks(x: Value): Value[] {
    return currentGraph().inScope(this.path, () => {
      const outs: Value[] = [];
      x = this.downsample.call(x);
      for (const [, b] of this.blocks.namedChildren()) outs.push((x = (b as ConvNeXtBlock).call(x)));
      return outs;
    });
  }
}

export class ConvNeXt extends VisionModel<'final' | 'blocks'> {
  readonly family: string;
  readonly numClasses: number;
  readonly defaultInputSize: [number, number, number];
  /** `blocks`: every block's output, in order (the paper's per-layer feature analysis reads them). */
  override readonly outputNames = ['logits', 'features', 'final', 'blocks'];
  stem: Sequential;
  stages: ModuleList<ConvNeXtStage>;
  /** Global average pool → LN → (dropout) → Linear (timm's NormMlpClassifierHead). */
  head: ClassifierHead;
  readonly classifierPath = 'head.fc';
  readonly firstConv = 'stem.0';
  /** The stem conv's kernel and stride (patch_size, or stem_stride). */
  readonly stemStride: number;
  /** Per stage: its downsample's stride and its dilations (stagePlan). */
  readonly stagePlans: readonly StagePlan[];

  constructor(
    readonly config: ConvNeXtConfig,
    family = 'convnext',
  ) {
    super();
    const c = config;
    this.family = family;
    this.numClasses = c.num_classes;
    this.defaultInputSize = [c.in_chans, 224, 224];
    const dims = c.dims;
    const plan = stagePlan(c);
    this.stemStride = plan.stemStride;
    this.stagePlans = plan.stages;
    this.stem = new Sequential(
      new Conv2d(c.in_chans, dims[0]!, plan.stemStride, { stride: plan.stemStride, init: 'trunc_normal' }),
      new LayerNorm2d(dims[0]!, c.norm_eps),
    );
    const rates = dropPathRates(c.depths, c.drop_path_rate);
    this.stages = new ModuleList(
      c.depths.map((d, i) => new ConvNeXtStage(i === 0 ? dims[0]! : dims[i - 1]!, dims[i]!, d, c, rates[i]!, plan.stages[i]!)),
    );
    const last = dims[dims.length - 1]!;
    this.head = new ClassifierHead(last, c.num_classes, { normEps: c.norm_eps, drop: c.drop_rate, init: 'trunc_normal' });
    if (this.head.fc instanceof Linear && c.head_init_scale !== 1) {
      const s = c.head_init_scale;
      const w = [c.num_classes, last];
      this.head.fc.weight = new Parameter(lazy(w, (r) => scaled(truncNormal(w, 0.02, r), s)));
    }
  }

  get numFeatures(): number {
    return this.config.dims[this.config.dims.length - 1]!;
  }

  /** Input side / last feature map side: the stem's stride times every stage's. */
  get totalStride(): number {
    return this.stagePlans.reduce((s, p) => s * p.stride, this.stemStride);
  }

  getClassifier(): Module {
    return this.head.fc;
  }

  protected replaceClassifier(numClasses: number): void {
    this.head.reset(numClasses, this.globalPool);
  }

  /** timm's ConvNeXt.group_matcher: stem; per stage (coarse) or per downsample/block (fine). */
  groupMatcher(coarse = false): GroupMatcher {
    return (key) => {
      if (/^stem\./.test(key)) return [0];
      const m = /^stages\.(\d+)\.(?:downsample\.|blocks\.(\d+)\.)/.exec(key);
      if (m) return coarse ? [1, Number(m[1])] : [1, Number(m[1]), m[2] === undefined ? 0 : Number(m[2])];
      return null;
    };
  }

  /**
   * Layer ids of the official ConvNeXt-V2 fine-tuning code (spec convnext.md §5.5, written for
   * official key names, mapped here to timm's) rather than timm's matcher:
   *  - "single" (num_layers = Σ depths): the stem and stage s's downsampling get id Σ depths[:s] + 1,
   *    the id of the first block they feed (id 0 is unused); block j of stage s gets
   *    Σ depths[:s] + j + 1; everything else (final norm, head) Σ depths + 1.
   *  - "group" (ConvNeXt-V2 Base/Large, num_layers = 12): stem 0; downsampling of stages 1, 2, 3 → 2,
   *    3, 12; blocks of stage 0 → 1, stage 1 → 2, stage 2 block j → 3 + ⌊j/3⌋, stage 3 → 12; the rest 13.
   *  maxId = num_layers + 1, so the scale is decay^(num_layers + 1 − k).
   */
  override layerIds(mode: LayerDecayMode = 'single'): LayerIds {
    const keys = this.namedParameters().map(([k]) => k);
    const depths = depthsFromKeys(keys, /^stages\.(\d+)\.blocks\.(\d+)\./);
    const before = (s: number) => depths.slice(0, s).reduce((a, b) => a + b, 0);
    if (mode === 'single') {
      const numLayers = before(depths.length);
      const id = (key: string): number => {
        if (key.startsWith('stem.')) return 1;
        let m = /^stages\.(\d+)\.downsample\./.exec(key);
        if (m) return before(Number(m[1])) + 1;
        m = /^stages\.(\d+)\.blocks\.(\d+)\./.exec(key);
        if (m) return before(Number(m[1])) + Number(m[2]) + 1;
        return numLayers + 1;
      };
      return { ids: new Map(keys.map((k) => [k, id(k)])), maxId: numLayers + 1 };
    }
    if (depths.length !== 4 || depths[2]! > 27)
      throw new ConfigError(
        `layer decay 'group' is ConvNeXt-V2 Base/Large's 12-layer grouping (4 stages, at most 27 blocks in stage 2); this model has depths [${depths}] — use 'single'`,
      );
    const numLayers = 12;
    const id = (key: string): number => {
      if (key.startsWith('stem.')) return 0;
      let m = /^stages\.(\d+)\.downsample\./.exec(key);
      if (m) return [0, 2, 3, 12][Number(m[1])]!;
      m = /^stages\.(\d+)\.blocks\.(\d+)\./.exec(key);
      if (m) {
        const s = Number(m[1]);
        return s === 2 ? 3 + Math.floor(Number(m[2]) / 3) : [1, 2, 0, 12][s]!;
      }
      return numLayers + 1;
    };
    return { ids: new Map(keys.map((k) => [k, id(k)])), maxId: numLayers + 1 };
  }

  forwardTraced(x: Value): TracedOutputs {
    const features: Value[] = [];
    const blocks: Value[] = [];
    x = this.stem.call(x);
    for (const stage of this.stages) {
      blocks.push(...stage.forwardBlocks(x));
      x = blocks[blocks.length - 1]!;
      features.push(x);
    }
    // The head pools the last stage's map (timm's norm_pre is the identity here).
    return { logits: this.forwardHeadTraced(x), features, final: x, blocks };
  }

  /** Pool → LayerNorm (pre-logits) → dropout → Linear. */
  override forwardHeadTraced(final: Value, o: { preLogits?: boolean } = {}): Value {
    return o.preLogits ? this.head.preLogits(final) : this.head.call(final);
  }

  /**
   * timm's `ConvNeXt(...)` for this network: the registered variant it equals, or convnext_tiny /
   * convnextv2_tiny with every architecture keyword. A stem_stride network goes by timm's patch_size
   * when the two build the same network (no stage-0 downsample, no dilation, e.g. 1 or 4) and is
   * refused otherwise, as are stage counts other than timm's 4.
   */
  override timmArchitecture(): TimmArchitecture {
    const c = this.config;
    if (c.depths.length !== 4) throw new ConfigError(`timm's ConvNeXt builds exactly 4 stages; this model has ${c.depths.length} (depths [${c.depths}])`);
    let patch = c.patch_size;
    if (c.stem_stride !== null) {
      const s = c.stem_stride;
      if (JSON.stringify(stagePlan({ depths: c.depths, patch_size: s, stem_stride: null })) !== JSON.stringify(stagePlan(c)))
        throw new ConfigError(
          `stem_stride ${s} is a visionmix extension timm cannot build: timm's ConvNeXt(patch_size=${s}) ` +
            `${s === 2 ? 'adds a stride-2 downsample to stage 0' : 'dilates its last stages (output stride 32)'}, so these weights do not load into any timm ConvNeXt. ` +
            `Train with patch_size (timm's network) to hand a model over to timm`,
        );
      patch = s;
    }
    const timmConfig: ConvNeXtConfig = { ...c, patch_size: patch, stem_stride: null };
    const variant = matchingVariant(this.family, timmConfig, ['num_classes', 'in_chans', 'drop_rate', 'drop_path_rate', 'head_init_scale']);
    const args: Record<string, unknown> = variant
      ? {}
      : { depths: c.depths, dims: c.dims, patch_size: patch, conv_mlp: c.conv_mlp, use_grn: c.use_grn, ls_init_value: c.ls_init_value, ...(c.norm_eps !== 1e-6 ? { norm_eps: c.norm_eps } : {}) };
    if (c.in_chans !== 3) args.in_chans = c.in_chans;
    if (c.head_init_scale !== 1) args.head_init_scale = c.head_init_scale;
    return {
      architecture: variant ?? (this.family === 'convnextv2' ? 'convnextv2_tiny' : 'convnext_tiny'),
      modelArgs: args,
      source: 'timm',
      dropPathRate: c.drop_path_rate,
      dropRate: c.drop_rate,
    };
  }

  /**
   * Hugging Face's ConvNextForImageClassification / ConvNextV2ForImageClassification and the keywords
   * of ConvNextConfig / ConvNextV2Config. HF's stem has stride `patch_size` and its first stage never
   * downsamples (our stem_stride network): for timm's patch_size 2 or ≥ 8 (a stage-0 downsample, dilated
   * stages) HF would build another network from these keywords. transformers.js runs the ONNX graph.
   */
  override transformersArchitecture(): TransformersArchitecture {
    const c = this.config;
    const v2 = this.family === 'convnextv2';
    return {
      architecture: v2 ? 'ConvNextV2ForImageClassification' : 'ConvNextForImageClassification',
      modelType: v2 ? 'convnextv2' : 'convnext',
      imageProcessor: 'ConvNextImageProcessor',
      config: {
        num_channels: c.in_chans,
        patch_size: stagePlan(c).stemStride,
        num_stages: c.depths.length,
        hidden_sizes: c.dims,
        depths: c.depths,
        hidden_act: 'gelu',
        layer_norm_eps: c.norm_eps,
        ...(v2 ? {} : { layer_scale_init_value: c.ls_init_value ?? 0 }),
        drop_path_rate: c.drop_path_rate,
      },
    };
  }

  /** Accept official (facebookresearch) checkpoints and timm's 1×1-conv vs Linear MLP shapes. */
  override adaptStateDict(sd: Map<string, Tensor>, opts: LoadWeightsOptions = {}): Map<string, Tensor> {
    const src = stripWrapper(sd);
    const official = src.has('downsample_layers.0.0.weight');
    const renamed = new Map([...src].map(([k, t]) => [official ? officialToTimm(k) : k, t] as const));
    // Weights of the network visionmix built from `patch_size: 2` before that key followed timm: the
    // same stem, no stage-0 downsample. Name the key that builds them rather than list missing keys.
    const stageZeroDownsample = (keys: Iterable<string>) => [...keys].some((k) => k.startsWith('stages.0.downsample.'));
    if (opts.strict !== false && this.config.stem_stride === null && stageZeroDownsample(this.namedParameters().map(([k]) => k)) && !stageZeroDownsample(renamed.keys()) && renamed.has('stem.0.weight'))
      throw new WeightsError(
        `these weights have no stages.0.downsample.* but this model (patch_size ${this.config.patch_size}, timm's network) has a stride-2 downsample in stage 0: ` +
          `they are the network visionmix built from patch_size ${this.config.patch_size} before patch_size followed timm — build the model with stem_stride: ${this.config.patch_size} instead of patch_size`,
        [...this.namedParameters().map(([k]) => k).filter((k) => k.startsWith('stages.0.downsample.'))],
      );
    return fitUnitDims(renamed, this);
  }
}



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

/**
 * Run format 1 (visionmix before patch_size followed timm): `patch_size: p` built a p×p stem with no
 * stage-0 downsample and no dilation — what `stem_stride: p` builds now. p = 4 is the same network
 * under both meanings and stays patch_size.
 */
export function upgradeConvNeXtConfig(layer: RawConfig, format: number): RawConfig {
  if (format >= 2) return layer;
  const key = 'patch_size' in layer ? 'patch_size' : 'patchSize' in layer ? 'patchSize' : null;
  if (key === null || layer[key] === 4 || 'stem_stride' in layer || 'stemStride' in layer) return layer;
  const { [key]: p, ...rest } = layer;
  return { ...rest, stem_stride: p };
}

registerFamily({ family: 'convnext', schema: CONVNEXT_SCHEMA, build: (c) => new ConvNeXt(c, 'convnext'), upgradeConfig: upgradeConvNeXtConfig });
registerFamily({ family: 'convnextv2', schema: CONVNEXTV2_SCHEMA, build: (c) => new ConvNeXt(c, 'convnextv2'), upgradeConfig: upgradeConvNeXtConfig });

const SIZES: Record<string, { depths: number[]; dims: number[]; conv_mlp: boolean }> = {
  atto: { depths: [2, 2, 6, 2], dims: [40, 80, 160, 320], conv_mlp: true },
  femto: { depths: [2, 2, 6, 2], dims: [48, 96, 192, 384], conv_mlp: true },
  pico: { depths: [2, 2, 6, 2], dims: [64, 128, 256, 512], conv_mlp: true },
  nano: { depths: [2, 2, 8, 2], dims: [80, 160, 320, 640], conv_mlp: true },
  tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768], conv_mlp: false },
  small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768], conv_mlp: false },
  base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024], conv_mlp: false },
  large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536], conv_mlp: false },
  xlarge: { depths: [3, 3, 27, 3], dims: [256, 512, 1024, 2048], conv_mlp: false },
  huge: { depths: [3, 3, 27, 3], dims: [352, 704, 1408, 2816], conv_mlp: false },
};

/** The weights `createModel('<variant>')` describes by default (timm's default tag of each variant). */
const DEFAULT_TAGS = {
  convnext_atto: 'd2_in1k', convnext_femto: 'd1_in1k', convnext_pico: 'd1_in1k', convnext_nano: 'in12k_ft_in1k',
  convnext_tiny: 'in12k_ft_in1k', convnext_small: 'in12k_ft_in1k', convnext_base: 'fb_in22k_ft_in1k',
  convnext_large: 'fb_in22k_ft_in1k', convnext_xlarge: 'fb_in22k_ft_in1k',
  convnextv2_atto: 'fcmae_ft_in1k', convnextv2_femto: 'fcmae_ft_in1k', convnextv2_pico: 'fcmae_ft_in1k',
  convnextv2_nano: 'fcmae_ft_in22k_in1k', convnextv2_tiny: 'fcmae_ft_in22k_in1k', convnextv2_base: 'fcmae_ft_in22k_in1k',
  convnextv2_large: 'fcmae_ft_in22k_in1k', convnextv2_huge: 'fcmae_ft_in1k',
} satisfies Record<string, string>;

/** The registered ConvNeXt V1 and V2 variant names. */
export type ConvNeXtName = keyof typeof DEFAULT_TAGS;

for (const [name, tag] of Object.entries(DEFAULT_TAGS)) {
  const [family, size] = name.split('_') as [string, string];
  registerModel({ name, family, config: { ...SIZES[size]! }, defaultTag: `${name}.${tag}` });
}
registerPretrained(CONVNEXT_PRETRAINED);

function scaled(t: Tensor, s: number): Tensor {
  (t.data as Float32Array).forEach((v, i, a) => (a[i] = v * s));
  return t;
}
