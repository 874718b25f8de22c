/**
 * `createFcmae(encoder, options)`: FCMAE pretraining of a ConvNeXt encoder — the masked network
 * (models/fcmae.ts) with its reconstruction loss (train/masked_mse.ts), run on an engine.
 *
 *   const f = createFcmae('convnextv2_atto', { patch_size: 32, mask_ratio: 0.6 });
 *   const { loss, pred } = await f.run(x, { mask });   // mask: [N, L] float32, 1 = masked
 */
import type { LoadResult, LoadWeightsOptions, LossAndGrads } from '../models/base.js';
import type { RawConfig } from '../models/config.js';
import { buildFcmaeNet, type FcmaeNet, type FcmaeOptions } from '../models/fcmae.js';
import type { ModelSpec } from '../models/registry.js';
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
  return new Fcmae(engine, engine.attach(buildFcmaeNet(encoder, options, encoderOverrides, o)));
}
