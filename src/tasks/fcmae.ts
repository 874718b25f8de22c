/**
 * `createFcmae(encoder, options)`: FCMAE pretraining of a ConvNeXt encoder — the masked network
 * (models/fcmae.ts) with its reconstruction loss (train/masked_mse.ts), run on an engine.
 *
 *   const f = createFcmae('convnextv2_atto', { patch_size: 32, mask_ratio: 0.6 });
 *   const { loss, pred } = await f.run(x, { mask });   // mask: [N, L] float32, 1 = masked
 */
import { ConfigError } from '../errors.js';
import type { LoadResult, LoadWeightsOptions, LossAndGrads } from '../models/base.js';
import { parseConfig, type RawConfig } from '../models/config.js';
import { ConvNeXt } from '../models/convnext.js';
import { FCMAE_SCHEMA, FcmaeNet, type FcmaeOptions } from '../models/fcmae.js';
import { MAX_MODEL_ELEMENTS, checkModelSize, countElements } from '../models/model_size.js';
import { createModel, type ModelSpec } from '../models/registry.js';
import { Tensor } from '../tensor.js';
import { maskedPatchMse } from '../train/masked_mse.js';
import type { Objective } from '../train/objective.js';
import type { Engine } from './engine.js';

export interface FcmaeRunOptions {
  /** [N, L] float32, 1 = masked, L = (H/p)·(W/p) row-major; default: drawn from the seeded generator. */
  mask?: Tensor;
  threads?: number;
}

/** ONNX Runtime reads the input after the call has returned: copy it, so the caller may refill its buffer. */
function copy(x: Tensor): Tensor {
  return x instanceof Tensor ? new Tensor(x.data.slice(), x.shape, x.dtype) : x;
}

export class Fcmae {
  readonly objective: Objective<Tensor | null | undefined>;

  constructor(
    private readonly engine: Engine,
    readonly net: FcmaeNet,
  ) {
    this.objective = maskedPatchMse({ patchSize: net.options.patch_size, normPixLoss: net.options.norm_pix_loss });
  }

  get options(): FcmaeOptions {
    return this.net.options;
  }

  /** FCMAE checkpoints: official dense or sparse layout, or ours (strict by default). */
  loadWeights(source: string | Map<string, Tensor>, opts?: LoadWeightsOptions): Promise<LoadResult> {
    return this.net.loadWeights(source, opts);
  }

  /**
   * Encoder-only weights (timm's `*.fcmae` tags, or a classifier's stem and stages): loaded into the
   * encoder, strict over the encoder's keys; a classifier head in the file is ignored.
   */
  async loadEncoderWeights(source: string | Map<string, Tensor>, opts: LoadWeightsOptions = {}): Promise<void> {
    const sd = typeof source === 'string' ? await this.engine.readWeights(source, opts) : source;
    const encoder = new Map<string, Tensor>();
    for (const [k, t] of sd) if (!k.startsWith('head.') && !k.startsWith('norm.')) encoder.set(`encoder.${k}`, t);
    const own = new Map(this.net.namedParameters());
    // Only the encoder's keys: the decoder keeps its weights.
    const decoder = [...own.keys()].filter((k) => !k.startsWith('encoder.'));
    const current = this.net.stateDict();
    for (const k of decoder) encoder.set(k, current[k]!);
    await this.net.loadWeights(encoder, { strict: opts.strict ?? true });
  }

  /** The encoder's weights under a classifier's names (stem.*, stages.*), to fine-tune from. */
  encoderStateDict(): Map<string, Tensor> {
    return new Map(Object.entries(this.net.encoder.stateDict()));
  }

  /** The reconstruction loss and the prediction [N, p²·3, H/p, W/p] of a batch. */
  async run(x: Tensor, o: FcmaeRunOptions = {}): Promise<{ loss: number; pred: Tensor; mask: Tensor }> {
    const input = copy(x);
    await this.net.ready();
    const r = await this.engine.evaluate(this.net, input, o.mask ?? null, { objective: this.objective, outputs: ['pred', 'mask'], threads: o.threads, variant: this.variantFor(o.mask) });
    return { loss: r.loss, pred: r.outputs.pred as Tensor, mask: r.outputs.mask as Tensor };
  }

  /** Loss and gradients per parameter (masks as in `run`). */
  async lossAndGrads(x: Tensor, o: FcmaeRunOptions = {}): Promise<LossAndGrads> {
    const input = copy(x);
    await this.net.ready();
    return this.engine.lossAndGrads(this.net, input, o.mask ?? null, { objective: this.objective, threads: o.threads, variant: this.variantFor(o.mask) });
  }

  /**
   * The encoder formulation that serves `mask`, passed to the traced call (and so to its compile-cache
   * key): the sparse graph only takes masks showing floor(L·(1 − mask_ratio)) patches per image; any
   * other mask runs dense. Without a mask (drawn in the graph): the network's own choice.
   */
  private variantFor(mask: Tensor | undefined): string {
    return mask instanceof Tensor ? this.net.formulationFor(mask) : this.net.formulation;
  }
}

/**
 * FCMAE around an encoder: a ConvNeXt registry name (`'convnextv2_atto'`) or config (plus config
 * overrides of the encoder, e.g. `in_chans`), and FCMAE options.
 */
export function createFcmae(engine: Engine, encoder: ModelSpec, options: RawConfig = {}, encoderOverrides: RawConfig = {}, o: { seed?: number } = {}): Fcmae {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new ConfigError(`createFcmae: options must be an object (decoder_embed_dim, patch_size, mask_ratio, …), got ${JSON.stringify(options)}`);
  const enc = createModel(encoder, { ...encoderOverrides, num_classes: 0 }, { seed: o.seed });
  if (!(enc instanceof ConvNeXt)) throw new ConfigError(`createFcmae: the encoder must be a ConvNeXt (V1 or V2), got family '${enc.family}'`);
  // The masking patch is the encoder's total stride unless given (the one value FCMAE accepts).
  const stride = enc.totalStride;
  const { config, given } = parseConfig(FCMAE_SCHEMA, 'patch_size' in options || 'patchSize' in options ? options : { ...options, patch_size: stride });
  const net = engine.attach(new FcmaeNet(enc, config));
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
  return new Fcmae(engine, net);
}
