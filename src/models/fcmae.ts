/**
 * FCMAE (ConvNeXt V2's fully convolutional masked autoencoder; Woo et al. 2023, §3; spec
 * shared/spec/convnext.md §5), the network half: random patch masking, the ConvNeXt encoder run in
 * masked mode, and the light decoder. The loss (norm-pix MSE over masked patches) is an objective,
 * train/masked_mse.ts; tasks/fcmae.ts puts both behind `createFcmae`.
 *
 * The encoder is sparse in the paper (MinkowskiEngine). Here it is its exact dense equivalent (spec
 * §5.3): masked positions are zeroed before every spatial op (after the stem, around each downsample,
 * after each depthwise conv and each block) and GRN's statistics see the visible positions only.
 * With nothing masked it is the dense ConvNeXt V2; pixels inside masked patches cannot reach a
 * visible output. The per-position part of each block (LN, MLP, GRN: most of the FLOPs) runs on the
 * visible positions only — gathered, then scattered back — so that its cost scales with them, as the
 * paper's sparse convolutions do (`Formulation`).
 */
import { ConfigError, ShapeError } from '../errors.js';
import { currentGraph, type RandomDraw, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { truncNormal } from '../nn/init.js';
import { Conv2d, GRN, Identity, LayerNorm, ModuleList, Sequential } from '../nn/layers.js';
import { Module, Parameter, lazy } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import { VisionModel, type ForwardOptions, type GroupMatcher, type TracedOutputs } from './base.js';
import { LIMITS, configSchema, field, parseConfig, type ConfigOf, type RawConfig } from './config.js';
import { ConvNeXt, ConvNeXtBlock, type ConvNeXtConfig, type ConvNeXtStage, type Positions, officialToTimm } from './convnext.js';
import { MAX_MODEL_ELEMENTS, checkModelSize, countElements } from './model_size.js';
import { createModel, type ModelSpec } from './registry.js';
import { fitUnitDims, stripWrapper } from './state_dict.js';

declare module './base.js' {
  interface NamedOutputs {
    /** FCMAE: the reconstruction, the mask and the encoder's latent map. */
    pred: Tensor;
    mask: Tensor;
    latent: Tensor;
  }
}

// ---- options ------------------------------------------------------------------------------------

export const FCMAE_SCHEMA = configSchema('fcmae', {
  decoder_embed_dim: field.int({ min: 1, max: LIMITS.channels, default: 512, doc: 'width of the decoder (its one ConvNeXt V2 block)' }),
  decoder_depth: field.int({ min: 1, max: LIMITS.blocksPerStage, default: 1, doc: 'ConvNeXt V2 blocks in the decoder' }),
  patch_size: field.int({ min: 1, max: LIMITS.stride, default: 32, doc: "masking patch; must equal the encoder's total stride (32 for a 4×4 stem)" }),
  mask_ratio: field.float({ min: 0, below: 1, default: 0.6, doc: 'fraction of patches masked per image (exclusive of 0 and 1)' }),
  norm_pix_loss: field.bool({ default: true, doc: 'normalise each target patch by its mean and (unbiased) variance' }),
  require_grn: field.bool({ default: true, doc: 'refuse encoders without GRN (FCMAE without GRN suffers feature collapse; set false to study it)' }),
}, (c, _given, fail) => {
  if (!(c.mask_ratio > 0)) fail('mask_ratio', `must be in (0, 1), got ${c.mask_ratio}`);
});

export type FcmaeOptions = ConfigOf<typeof FCMAE_SCHEMA>;

// ---- masking ------------------------------------------------------------------------------------

/** Visible patches per image of a random mask: floor(L·(1 − ratio)). */
export function visiblePatches(l: number, ratio: number): number {
  return Math.floor(l * (1 - ratio));
}

/**
 * The official random masking: per image, L standard-normal noises sorted ascending; the
 * floor(L·(1 − ratio)) smallest are visible (0), the rest masked (1).
 */
export function patchMaskDraw(ratio: number): RandomDraw & { ratio: number } {
  return {
    ratio,
    describe: `FCMAE patch mask, ratio ${ratio}`,
    draw(rng, shape) {
      const [n, l] = shape as [number, number];
      const keep = visiblePatches(l, ratio);
      const out = new Float32Array(n * l).fill(1);
      for (let i = 0; i < n; i++) {
        const noise = Array.from({ length: l }, () => rng.normal());
        const order = noise.map((_, j) => j).sort((a, b) => noise[a]! - noise[b]!);
        for (let j = 0; j < keep; j++) out[i * l + order[j]!] = 0;
      }
      return new Tensor(out, shape, 'float32');
    },
  };
}

/** 1 − mask, upsampled from the patch grid [N, L] to an NCHW map [N, 1, h·f, w·f] by repetition. */
function keepMap(mask: Value, h: number, w: number, f: number): Value {
  const n = mask.shape[0]!;
  const keep = F.sub(1, F.reshape(mask, [n, 1, h, 1, w, 1]));
  return F.reshape(F.expand(keep, [n, 1, h, f, w, f]), [n, 1, h * f, w * f]);
}

/** Visible patches of each image of a mask [N, L]. */
export function shownPatches(mask: Tensor): number[] {
  const [n, l] = mask.shape as [number, number];
  const m = mask.data as Float32Array;
  return Array.from({ length: n }, (_, i) => m.subarray(i * l, (i + 1) * l).filter((v) => v === 0).length);
}

/** The sparse graph's static shapes need every image of the mask to show `shown` patches. */
function checkShown(mask: Tensor, shown: number): void {
  const l = mask.shape[1]!;
  const bad = shownPatches(mask).findIndex((k) => k !== shown);
  if (bad >= 0)
    throw new ConfigError(
      `fcmae: this graph runs the encoder sparse, for masks that show exactly ${shown} of ${l} patches per image (floor(L·(1 − mask_ratio))); ` +
        `image ${bad} of the mask shows ${shownPatches(mask)[bad]}. Fcmae.run and lossAndGrads switch to the dense formulation for such masks by themselves; ` +
        `set net.formulation = 'dense' before compiling a train step for them`,
    );
}

/**
 * The visible patches of a stage's maps as tiles (F.ConvTiles: f×f pixels each, f = the stage's
 * pixels per patch side), image by image, patches in row-major order — data preparation for the
 * sparse encoder, done in TypeScript whenever the mask is drawn or fed (graph inputs
 * `visible_tiles.<stage>.{pixels,window}`). Every image must show exactly `shown` patches: the
 * graph's shapes are static.
 */
function visibleTiles(mask: Value, stage: number, grid: [number, number], f: number, shown: number, conv: Conv2d): StageTiles {
  const n = mask.shape[0]!;
  const [h, w] = grid;
  const [kh, kw] = conv.weight.shape.slice(2) as [number, number];
  const { pads } = F.convAttrsFrom(conv.options);
  let last: { mask: Tensor; indices: ReturnType<typeof F.tileIndices> } | undefined;
  const indices = (m: Tensor) => {
    if (last?.mask !== m) {
      checkShown(m, shown);
      const d = m.data as Float32Array;
      const tiles: [number, number, number][] = [];
      for (let i = 0; i < n; i++) for (let j = 0; j < h * w; j++) if (d[i * h * w + j] === 0) tiles.push([i, Math.floor(j / w), j % w]);
      last = { mask: m, indices: F.tileIndices(tiles, { n, h: h * f, w: w * f, tile: f, kh, kw, padTop: pads[0]!, padLeft: pads[1]! }) };
    }
    return last.indices;
  };
  const g = currentGraph();
  const t = n * shown;
  const int64 = (name: string, length: number, pick: (i: ReturnType<typeof F.tileIndices>) => BigInt64Array) =>
    g.derivedInput(`visible_tiles.${stage}.${name}`, [length], 'int64', mask, (m) => new Tensor(pick(indices(m)), [length], 'int64'));
  const [hf, wf] = [h * f, w * f];
  return {
    tile: f,
    pixels: int64('pixels', t * f * f, (i) => i.pixels),
    window: int64('window', t * (f + kh - 1) * (f + kw - 1), (i) => i.window),
    // Per visible pixel (n, y, x) of this stage, the p×p pixels (n, y·p + dy, x·p + dx) of the map
    // p times larger that a p×p stride-p conv reads, flat into that map.
    patchInputs: (p) =>
      int64(`patch_inputs_${p}`, t * f * f * p * p, ({ pixels }) => {
        const out = new BigInt64Array(pixels.length * p * p);
        let k = 0;
        for (const flat of pixels) {
          const q = Number(flat);
          const [img, y, x] = [Math.floor(q / (hf * wf)), Math.floor((q % (hf * wf)) / wf), q % wf];
          for (let dy = 0; dy < p; dy++) for (let dx = 0; dx < p; dx++) out[k++] = BigInt((img * hf * p + y * p + dy) * wf * p + x * p + dx);
        }
        return out;
      }),
  };
}

/** A stage's visible tiles, and the input pixels of a patchify conv that produces them. */
interface StageTiles extends F.ConvTiles {
  patchInputs(p: number): Value;
}

/**
 * A p×p stride-p conv — ConvNeXt's stem and downsampling layers — on the visible pixels only, as rows
 * [k, C_out] in the order of `tiles.pixels`: each output pixel's p×p inputs gathered as one row (the
 * patch grid is aligned with them, so they are all visible), times the kernel as a [p²·C, C_out]
 * matrix; `norm` (LayerNorm over channels) on the inputs ('before', downsampling) or the outputs
 * ('after', stem). Null when the conv is not such a patchify conv (then the dense path runs).
 */
function patchifyRows(x: Value, conv: Conv2d, norm: LayerNorm, where: 'before' | 'after', tiles: StageTiles): Value | null {
  const c = x.shape[1]!;
  const [o, , p] = conv.weight.shape as [number, number, number, number];
  const a = F.convAttrsFrom(conv.options);
  if (a.groups !== 1 || a.strides.some((s) => s !== p) || a.pads.some((v) => v !== 0) || conv.weight.shape[3] !== p) return null;
  const k = tiles.pixels.shape[0]!;
  const g = currentGraph();
  const ln = (r: Value) => g.inScope(norm.path, () => F.layerNorm(r, norm.weight.value, norm.bias.value, -1, norm.eps));
  let r = F.reshape(F.gatherPositions(x, tiles.patchInputs(p)), [k, p * p, c]);
  if (where === 'before') r = ln(r);
  let y = g.inScope(conv.path, () => {
    const kernel = F.reshape(F.transpose(conv.weight.value, [2, 3, 1, 0]), [p * p * c, o]);
    const out = F.matmul(F.reshape(r, [k, p * p * c]), kernel);
    return conv.bias ? F.add(out, conv.bias.value) : out;
  });
  if (where === 'after') y = ln(y);
  return y;
}

// ---- encoder --------------------------------------------------------------------------------------

/** The ConvNeXt stem and stages (no head: FCMAE has no final norm); keys `encoder.stem…`, `encoder.stages…`. */
export class FcmaeEncoder extends Module {
  stem: Sequential;
  stages: ModuleList<ConvNeXtStage>;

  constructor(convnext: ConvNeXt) {
    super();
    this.stem = convnext.stem;
    this.stages = convnext.stages;
  }
}

/**
 * How the encoder runs on a masked image. Both are exact and agree:
 * - 'dense': on the whole map; masked positions are zeroed before GRN's statistics and after each
 *   block, stem and downsampling layer (cost independent of the mask);
 * - 'sparse': what can run on the visible patches only does — the stem and downsampling layers (p×p
 *   stride-p convs with their LayerNorms: each visible output pixel's inputs gathered as a row,
 *   `patchifyRows`) and each block's per-position part (LN, MLP, GRN: most of the FLOPs), on rows
 *   gathered from and scattered back into zero maps; each block's depthwise conv runs on the whole
 *   map (faster in ONNX Runtime than on gathered tiles, see graph/ops/sparse_conv.ts), with its weight
 *   gradient summed over the visible tiles only. Its shapes are static, so it takes masks that show
 *   exactly floor(L·(1 − mask_ratio)) patches per image: every random draw. Other masks (a user's) run
 *   dense — one more compiled graph at most, any mask, uneven counts per image included — rather than
 *   compiling a sparse graph per visible count: such masks are for inspection, not the training loop.
 *
 * Measured on the pretrain step (ConvNeXt V2-atto, decoder 512, 224², batch 32, AdamW, 2 threads; the
 * two steps timed interleaved on a shared 2-core machine, whose noise is ±0.03 on these ratios): at
 * mask 0.6 the sparse step takes 0.56–0.58× the dense mask-0 step — 0.67 with only the per-position
 * part sparse; summing the depthwise weight gradients over the visible tiles, running the small maps'
 * depthwise convs as MatMuls (graph/ops/conv.ts) and the sparse stem and downsampling brought it down.
 * The sparse formulation also runs the decoder's fc2 and its 512→3072 prediction on the masked
 * patches only, the rows the loss reads (`maskedPrediction`). With 1 of 49 patches masked the sparse
 * step costs more than the dense one (gathers and scatters with nothing to skip); hence sparse from a
 * mask ratio of 0.05 on. What does not scale — the depthwise convs' forward and input gradient, the
 * rest of the decoder and the optimizer — is most of the rest.
 */
export type Formulation = 'dense' | 'sparse';

/** Every position; `keep` is [N, 1, H, W]. */
function densePositions(keep: Value): Positions {
  const keepLast = F.transpose(keep, [0, 2, 3, 1]);
  return {
    depthwise: (conv, x) => conv.call(x),
    rows: (y) => F.transpose(F.mul(y, keep), [0, 2, 3, 1]),
    visible: (r) => F.mul(r, keepLast),
    map: (r) => F.mul(F.transpose(r, [0, 3, 1, 2]), keep),
  };
}

/**
 * The visible pixels of maps `shape` [N, C, H, W] only: the tiles of the visible patches
 * (`visibleTiles`), k pixels per image. Rows are [N, k, 1, C] so that GRN's per-image statistics
 * (over axes 1, 2) are the visible ones'.
 */
function sparsePositions(tiles: F.ConvTiles, shape: readonly number[]): Positions {
  const [n, c] = shape as [number, number];
  const k = tiles.pixels.shape[0]! / n;
  return {
    depthwise: (conv, x) => currentGraph().inScope(conv.path, () => F.tiledDepthwiseConv2d(x, conv.weight.value, conv.bias?.value ?? null, conv.options, tiles)),
    rows: (y) => F.reshape(F.gatherPositions(y, tiles.pixels), [n, k, 1, c]),
    visible: (r) => r,
    map: (r) => F.scatterPositions(F.reshape(r, [n * k, c]), tiles.pixels, shape),
  };
}

/** The faster formulation at a mask ratio (measured, see `Formulation`). */
export function defaultFormulation(ratio: number): Formulation {
  return ratio >= 0.05 ? 'sparse' : 'dense';
}

// ---- the network ------------------------------------------------------------------------------------

export class FcmaeNet extends VisionModel<'pred' | 'mask' | 'latent'> {
  readonly family = 'fcmae';
  readonly numClasses = 0;
  readonly defaultInputSize: [number, number, number];
  override readonly outputNames = ['features', 'pred', 'mask', 'latent'];
  /** An autoencoder: no classifier (fine-tune its encoder as a ConvNeXt). */
  readonly classifierPath = '';
  readonly firstConv = 'encoder.stem.0';
  readonly stride: number;
  /** Each encoder stage's stride (1 or 2; stage 0 downsamples only with timm's patch_size 2). */
  readonly stageStrides: readonly number[];
  /**
   * How the encoder runs when a call does not say (`Formulation`; chosen from mask_ratio when built).
   * A call chooses its own with `variant` (Fcmae.run: the one that serves the mask it is given).
   */
  formulation: Formulation;
  encoder: FcmaeEncoder;
  proj: Conv2d;
  mask_token: Parameter;
  decoder: Sequential;
  pred: Conv2d;

  constructor(
    encoder: ConvNeXt,
    readonly options: FcmaeOptions,
  ) {
    super();
    const c: ConvNeXtConfig = encoder.config;
    if (options.require_grn && !c.use_grn)
      throw new ConfigError(`fcmae: the encoder has no GRN (use_grn: false) but require_grn is true; FCMAE is defined on ConvNeXt V2 — pass require_grn: false to pretrain without GRN`);
    // The masks are drawn on the last stage's grid and repeated up to each stage's: every stage must
    // halve or keep the resolution by striding, never by dilating (timm dilates from patch_size 8 on).
    if (encoder.stagePlans.some((p) => p.dilation > 1))
      throw new ConfigError(
        `fcmae: the encoder's stem patch_size ${c.patch_size} makes timm's ConvNeXt dilate its last stages (output stride 32), which FCMAE's masking does not follow; ` +
          `use stem_stride: ${c.patch_size} (visionmix's network: every stage halves) or a patch_size below 8`,
      );
    this.stride = encoder.totalStride;
    this.stageStrides = encoder.stagePlans.map((p) => p.stride);
    if (options.patch_size !== this.stride)
      throw new ConfigError(
        `fcmae: patch_size must equal the encoder's total stride, ${this.stride} (stem ${encoder.stemStride} × the stages' ${this.stageStrides.join(' × ')}); got ${options.patch_size}` +
          (options.patch_size < this.stride ? ' — for small images use an encoder with a smaller stem (stem_stride 2 gives 16, stem_stride 1 gives 8)' : ''),
      );
    this.defaultInputSize = [c.in_chans, 7 * this.stride, 7 * this.stride];
    this.formulation = defaultFormulation(options.mask_ratio);
    this.encoder = new FcmaeEncoder(encoder);
    const d = options.decoder_embed_dim;
    const top = c.dims[c.dims.length - 1]!;
    this.proj = new Conv2d(top, d, 1);
    this.mask_token = new Parameter(lazy([1, d, 1, 1], (r) => truncNormal([1, d, 1, 1], 0.02, r)));
    const block: ConvNeXtConfig = { ...c, use_grn: true, ls_init_value: null, conv_mlp: false, drop_path_rate: 0 };
    this.decoder = new Sequential(...Array.from({ length: options.decoder_depth }, () => new ConvNeXtBlock(d, block, 0)));
    this.pred = new Conv2d(d, options.patch_size ** 2 * c.in_chans, 1);
  }

  override get graphVariant(): string {
    return this.formulation;
  }

  /** Channels of the encoder's last stage (what its fine-tuned classifier reads). */
  get numFeatures(): number {
    return this.proj.inChannels;
  }

  getClassifier(): Module {
    return new Identity();
  }

  protected replaceClassifier(): void {
    throw new ConfigError('fcmae has no classifier: fine-tune its encoder (encoder.safetensors) as a ConvNeXt');
  }

  /** The encoder as ConvNeXt's matcher groups it; the decoder after it (pretraining uses no layer decay). */
  groupMatcher(coarse = false): GroupMatcher {
    return (key) => {
      if (/^encoder\.stem\./.test(key)) return [0];
      const m = /^encoder\.stages\.(\d+)\.(?:downsample\.|blocks\.(\d+)\.)/.exec(key);
      if (m) return coarse ? [1, Number(m[1])] : [1, Number(m[1]), m[2] === undefined ? 0 : Number(m[2])];
      return null;
    };
  }

  /** The formulation for a given mask [N, L]: the chosen one if the mask fits it, else 'dense'. */
  formulationFor(mask: Tensor): Formulation {
    if (this.formulation === 'dense') return 'dense';
    // A malformed mask keeps the choice: the objective's feed rejects it with a ConfigError.
    if (mask.dtype !== 'float32' || mask.shape.length !== 2) return this.formulation;
    const shown = visiblePatches(mask.shape[1]!, this.options.mask_ratio);
    return shownPatches(mask).every((k) => k === shown) ? 'sparse' : 'dense';
  }

  override checkInputSize([, h, w]: readonly [number, number, number]): void {
    const p = this.options.patch_size;
    if (h % p || w % p) throw new ShapeError(`fcmae: the input size ${h}×${w} must be divisible by patch_size ${p}`);
  }

  /** `o.variant`: the encoder formulation to trace ('dense' or 'sparse'; default: `formulation`). */
  forwardTraced(x: Value, o: ForwardOptions = {}): TracedOutputs {
    const formulation = o.variant || this.formulation;
    if (formulation !== 'dense' && formulation !== 'sparse') throw new ConfigError(`fcmae: the encoder formulation must be 'dense' or 'sparse', got ${JSON.stringify(formulation)}`);
    const g = currentGraph();
    const [n, , hIn, wIn] = x.shape as [number, number, number, number];
    const p = this.options.patch_size;
    const [h, w] = [hIn / p, wIn / p];
    const mask = g.randomInput('patch_mask', [n, h * w], patchMaskDraw(this.options.mask_ratio));
    const stages = [...this.encoder.stages];
    // keep_i at stage i's resolution: each patch-grid cell repeated (product of the later stages'
    // strides) times per axis; the stem's map is stage 0's, or twice as fine when stage 0 downsamples.
    const scale = (i: number) => this.stageStrides.slice(i + 1).reduce((a, b) => a * b, 1);
    const keeps = stages.map((_, i) => keepMap(mask, h, w, scale(i)));
    const stemScale = scale(0) * this.stageStrides[0]!;
    const stemKeep = stemScale === scale(0) ? keeps[0]! : keepMap(mask, h, w, stemScale);
    const shown = visiblePatches(h * w, this.options.mask_ratio);
    const features: Value[] = [];
    // The sparse formulation's tiles per stage (its blocks' depthwise convs share kernel and padding).
    // (With no patch visible at all — a single-patch image — there is nothing to gather.)
    const firstConv = (i: number) => (stages[i]!.blocks.namedChildren()[0]?.[1] as ConvNeXtBlock | undefined)?.conv_dw;
    const sparse = formulation === 'sparse' && shown > 0 && stages.every((_, i) => firstConv(i));
    const tiles = sparse ? stages.map((_, i) => visibleTiles(mask, i, [h, w], scale(i), shown, firstConv(i)!)) : null;
    // A patchify conv's output rows (sparse) as the stage's map, zero at masked positions.
    const toMap = (rows: Value | null, i: number, shape: number[]) => (rows ? F.scatterPositions(rows, tiles![i]!.pixels, shape) : null);
    const [stemConv, stemNorm] = [this.encoder.stem.at(0), this.encoder.stem.at(1)] as [Conv2d, LayerNorm];
    const stemShape = (): number[] => [n, stemConv.outChannels, h * scale(0), w * scale(0)];
    // The sparse stem writes stage 0's pixels: only when the stem's map is stage 0's (no stage-0 downsample).
    const sparseStem = tiles && stemScale === scale(0) ? toMap(patchifyRows(x, stemConv, stemNorm, 'after', tiles[0]!), 0, stemShape()) : null;
    let z = sparseStem ?? F.mul(this.encoder.stem.call(x), stemKeep);
    stages.forEach((stage, i) => {
      z = g.inScope(stage.path, () => {
        let y = z;
        if (!(stage.downsample instanceof Identity)) {
          const [norm, conv] = [stage.downsample.at(0), stage.downsample.at(1)] as [LayerNorm, Conv2d];
          const shape = [n, conv.outChannels, h * scale(i), w * scale(i)];
          y = (tiles && g.inScope(stage.downsample.path, () => toMap(patchifyRows(y, conv, norm, 'before', tiles[i]!), i, shape))) ??
            F.mul(conv.call(F.mul(norm.call(y), i === 0 ? stemKeep : keeps[i - 1]!)), keeps[i]!);
        }
        const at = tiles ? sparsePositions(tiles[i]!, y.shape) : densePositions(keeps[i]!);
        // Each block's input is zero at masked positions, and so is its output (spec §5.3).
        for (const b of stage.blocks.namedChildren().map(([, m]) => m as ConvNeXtBlock)) y = b.call(y, at);
        return y;
      });
      features.push(z);
    });
    const latent = z;
    // Decoder: project, fill masked positions with the mask token, one dense V2 block, predict pixels.
    const m = F.reshape(mask, [n, 1, h, w]);
    let d = this.proj.call(latent);
    d = F.add(F.mul(d, F.sub(1, m)), F.mul(this.mask_token.value, m));
    const out: TracedOutputs = { features, pred: this.pred.call(this.decoder.call(d)), mask, latent };
    // Sparse: the loss reads the prediction at the masked patches only (`maskedPrediction`); the full
    // map `pred` stays for `run` and is left out of train graphs, which do not read it.
    if (tiles) Object.assign(out, this.maskedPrediction(d, mask, shown));
    return out;
  }

  /**
   * The decoder and its prediction where the loss reads them — the masked patches, all but the
   * `shown` visible ones per image — from the decoder's input map `d`: `masked_pred` rows [M, C·p²]
   * (M = N·(L − shown)) at `masked_patches` [M] (flat indices n·L + j). The last decoder block's fc2
   * and residual and the 512→p²·C prediction (with their backward) then cost (L − shown)/L of the
   * full map's. Inside a patch the
   * rows are channel-major (c, row, col), the pred conv's output channels permuted to that order, so
   * that the loss's targets come from the image by moving whole pixel rows (p floats), not one float
   * at a time (train/masked_mse.ts; patch normalisation and MSE do not depend on the order).
   */
  private maskedPrediction(d: Value, mask: Value, shown: number): { masked_pred: Value; masked_patches: Value } {
    const g = currentGraph();
    const [n, l] = mask.shape as [number, number];
    const masked = l - shown;
    const masked_patches = g.derivedInput('masked_patches', [n * masked], 'int64', mask, (m) => {
      checkShown(m, shown);
      const md = m.data as Float32Array;
      const at = new BigInt64Array(n * masked);
      let k = 0;
      for (let j = 0; j < n * l; j++) if (md[j] === 1) at[k++] = BigInt(j);
      return new Tensor(at, [n * masked], 'int64');
    });
    const blocks = this.decoder.namedChildren().map(([, m]) => m as ConvNeXtBlock);
    const rows = g.inScope(this.decoder.path, () => {
      for (const b of blocks.slice(0, -1)) d = b.call(d);
      // Channels-last rows [N, h, w, ·] → the masked patches' rows (the decoder runs on the patch grid).
      return blocks.at(-1)!.forwardAt(d, (r) => F.gather(F.reshape(r, [n * l, r.shape[3]!]), masked_patches, 0));
    });
    const masked_pred = g.inScope(this.pred.path, () => {
      const [o, width] = this.pred.weight.shape as [number, number];
      const c = this.defaultInputSize[0];
      const pp = this.options.patch_size ** 2;
      const channelMajor = (t: Value, inner: number[]) => F.reshape(F.transpose(F.reshape(t, [pp, c, ...inner]), [1, 0, ...inner.map((_, i) => i + 2)]), [o, ...inner]);
      const y = F.matmul(rows, F.transpose(channelMajor(this.pred.weight.value, [width]), [1, 0]));
      return this.pred.bias ? F.add(y, channelMajor(this.pred.bias.value, [])) : y;
    });
    return { masked_pred, masked_patches };
  }

  /** Official FCMAE checkpoints in the dense or the sparse (MinkowskiEngine) layout, wrapped or not. */
  override adaptStateDict(sd: Map<string, Tensor>): Map<string, Tensor> {
    const src = stripWrapper(sd);
    const sparse = [...src.keys()].some((k) => k.endsWith('.kernel') || k.includes('.ln.') || k.includes('.linear.'));
    const official = [...src.keys()].some((k) => k.startsWith('encoder.downsample_layers.'));
    const out = new Map<string, Tensor>();
    for (const [k0, t0] of src) {
      let [k, t] = sparse ? fromSparse(k0, t0) : [k0, t0];
      if (official) k = officialFcmaeKey(k);
      out.set(k, t);
    }
    return fitUnitDims(out, this);
  }
}

/** An official FCMAE key (dense names) → ours: the encoder as timm names it, decoder blocks likewise. */
function officialFcmaeKey(k: string): string {
  if (k.startsWith('encoder.')) return `encoder.${officialToTimm(k.slice('encoder.'.length))}`;
  const dec = /^decoder\.(\d+)\.(.*)$/.exec(k);
  if (dec) return `decoder.${dec[1]}.${officialToTimm(`stages.0.0.${dec[2]}`).replace(/^stages\.0\.blocks\.0\./, '')}`;
  return k;
}

/**
 * MinkowskiEngine layout → dense (spec §7.4): `.ln.` and `.linear.` wrappers dropped, [1, C] biases
 * and GRN parameters flattened, and sparse kernels [k², C_in, C_out] — kh the fastest index —
 * transposed into conv weights [C_out, C_in, kh, kw] (depthwise: [k², C] → [C, 1, kh, kw]).
 */
function fromSparse(k: string, t: Tensor): [string, Tensor] {
  const key = k.replace('.ln.', '.').replace('.linear.', '.');
  // [1, C] biases and GRN parameters → [C] (GRN's [C] is then our shape too).
  if (!key.endsWith('.kernel')) return [key, t.shape.length === 2 && t.shape[0] === 1 ? t.reshape([t.shape[1]!]) : t];
  const name = key.replace(/\.kernel$/, '.weight');
  const src = t.data as Float32Array;
  if (t.shape.length === 2) {
    const [kk, c] = t.shape as [number, number];
    const s = Math.round(Math.sqrt(kk));
    const w = new Float32Array(c * kk);
    for (let ch = 0; ch < c; ch++) for (let kh = 0; kh < s; kh++) for (let kw = 0; kw < s; kw++) w[(ch * s + kh) * s + kw] = src[(kw * s + kh) * c + ch]!;
    return [name, new Tensor(w, [c, 1, s, s], 'float32')];
  }
  const [kk, cin, cout] = t.shape as [number, number, number];
  const s = Math.round(Math.sqrt(kk));
  const w = new Float32Array(cout * cin * kk);
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < cin; i++)
      for (let kh = 0; kh < s; kh++) for (let kw = 0; kw < s; kw++) w[((o * cin + i) * s + kh) * s + kw] = src[((kw * s + kh) * cin + i) * cout + o]!;
  return [name, new Tensor(w, [cout, cin, s, s], 'float32')];
}

/**
 * FCMAE around an encoder: a ConvNeXt registry name (`'convnextv2_atto'`) or config (plus config
 * overrides of the encoder, e.g. `in_chans`), and FCMAE options; not attached to an engine.
 */
export function buildFcmaeNet(encoder: ModelSpec, options: RawConfig = {}, encoderOverrides: RawConfig = {}, o: { seed?: number } = {}): FcmaeNet {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new ConfigError(`createFcmae: options must be an object (decoder_embed_dim, patch_size, mask_ratio, …), got ${JSON.stringify(options)}`);
  const enc = createModel(encoder, { ...encoderOverrides, num_classes: 0 }, { seed: o.seed });
  if (!(enc instanceof ConvNeXt)) throw new ConfigError(`createFcmae: the encoder must be a ConvNeXt (V1 or V2), got family '${enc.family}'`);
  // The masking patch is the encoder's total stride unless given (the one value FCMAE accepts).
  const stride = enc.totalStride;
  const { config, given } = parseConfig(FCMAE_SCHEMA, 'patch_size' in options || 'patchSize' in options ? options : { ...options, patch_size: stride });
  const net = new FcmaeNet(enc, config);
  // The encoder was checked by createModel; the decoder's size comes from these options (lazy
  // parameters: counting allocates nothing).
  const elements = countElements(net);
  if (elements > MAX_MODEL_ELEMENTS) {
    const user = Object.fromEntries([...given].map((k) => [k, (config as RawConfig)[k]]));
    checkModelSize({
      family: 'fcmae',
      elements,
      config: user,
      baseline: parseConfig(FCMAE_SCHEMA, {}).config as RawConfig,
      userKeys: given,
      count: (c) => countElements(new FcmaeNet(enc, parseConfig(FCMAE_SCHEMA, c).config)),
    });
  }
  net.name = `fcmae(${typeof encoder === 'string' ? encoder : encoder.family})`;
  net.initSeed = enc.initSeed; // the decoder and mask token draw from the same seed as the encoder
  net.bindKeys();
  return net;
}
