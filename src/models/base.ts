/**
 * What every vision model offers (the public API contract in DESIGN.md). Execution and file access
 * belong to an engine that the entry point attaches to each model it creates (Node: ONNX Runtime +
 * fs; browser: onnxruntime-web + fetch), so model code stays free of ONNX Runtime and Node modules
 * and nothing is installed globally.
 */
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import { Identity, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import { Rng, type RngState } from '../util/rng.js';
import { isNonCommercial, type PretrainedConfig } from './pretrained.js';
import { traceModel } from './trace.js';

/** A model output: one traced value, a list (one per stage) or a record of them. */
export type OutputTree = Value | readonly OutputTree[] | { readonly [name: string]: OutputTree };

/**
 * The named outputs of a traced forward pass. Classifiers have `logits`; every model has `features`
 * (one NCHW map per stage); families add their own (GLNet's `slots`, a token-labelling head's
 * `aux_logits`, FCMAE's `pred` and `mask`, …).
 */
export interface TracedOutputs {
  logits?: Value;
  features: Value[];
  [name: string]: OutputTree | undefined;
}

/** Concrete outputs, shaped like the traced ones. */
export type TensorTree = Tensor | TensorTree[] | { [name: string]: TensorTree };

export interface RunOutput {
  /** Absent only when `logits: false` was asked for. */
  logits: Tensor;
  /** One NCHW map per stage when `features: true` was asked for, else empty. */
  features: Tensor[];
  [name: string]: TensorTree;
}

/**
 * `run` options: `threads`, plus one flag per named output to return besides `logits`
 * (`features: true`, GLNet's `slots: true`, …).
 */
export interface RunOptions {
  /** Intra-op threads (default: every core; capped at the core count). */
  threads?: number;
  /**
   * Also return the multi-scale feature maps (one per stage, NCHW), or only those of the listed
   * stages (the network then stops after the last one listed).
   */
  features?: boolean | readonly number[];
  /** Compute the classifier (default true); `false` with `features` skips the head. */
  logits?: boolean;
  [output: string]: boolean | number | readonly number[] | undefined;
}

/** Progress of fetching weights from the hub: initiate → download → progress … → done (as transformers.js). */
export interface WeightsProgress {
  status: 'initiate' | 'download' | 'progress' | 'done';
  repo?: string;
  file: string;
  loaded?: number;
  total?: number;
  /** Percent. */
  progress?: number;
  /** Where the file is (done). */
  path?: string;
  /** Served from the cache without downloading (done). */
  cached?: boolean;
}

/** Which state dict of a PyTorch checkpoint was loaded (reported through `onCheckpoint` and `LoadResult.checkpoint`). */
export interface CheckpointInfo {
  format: 'zip' | 'legacy';
  /** The top-level key the state dict came from ('model', 'state_dict', 'model_ema', …), or null for a bare state dict. */
  stateDictKey: string | null;
  /** Every top-level key that holds a state dict (e.g. 'model' and 'model_ema'). */
  candidates: string[];
  /** A prefix removed from every key ('module.' of DistributedDataParallel), or null. */
  strippedPrefix: string | null;
  /** Entries of the state dict that are not tensors (left out). */
  skipped: string[];
}

/** How weights are read: progress of hub downloads, and offline (cache only) mode. */
export interface ReadWeightsOptions {
  onProgress?: (e: WeightsProgress) => void;
  /** Use the download cache only (default: the VISIONMIX_OFFLINE / HF_HUB_OFFLINE environment variables). */
  offline?: boolean;
  /**
   * PyTorch checkpoints: the top-level key of the state dict to load ('model_ema'). Default: the
   * first of 'model', 'state_dict', 'model_ema', 'state_dict_ema', 'module' present, else a bare dict.
   */
  weightsKey?: string;
  /** PyTorch checkpoints: told which state dict was loaded. */
  onCheckpoint?: (info: CheckpointInfo) => void;
}

export interface LoadWeightsOptions extends ReadWeightsOptions {
  /** Every model key present, none unexpected (default true). */
  strict?: boolean;
  /**
   * Load everything but the classifier, which keeps its fresh initialisation (fine-tuning for other
   * classes, as timm does when `num_classes` differs from the weights'). Every other key must match.
   */
  backboneOnly?: boolean;
}

export interface LoadResult {
  /** Model keys the state dict did not have (empty when strict). */
  missing: string[];
  /** State-dict keys the model does not have (empty when strict). */
  unexpected: string[];
  /** For a PyTorch checkpoint: which of its state dicts was loaded. */
  checkpoint?: CheckpointInfo;
}

/** An objective as the model API sees it (train/objective.ts defines them). */
export interface ObjectiveRef {
  readonly name: string;
}

export interface LossOptions {
  /** What to minimise (default: mean cross-entropy against integer labels or soft targets). */
  objective?: ObjectiveRef;
  threads?: number;
}

export interface LossAndGrads {
  loss: number;
  /** The objective's metrics for this batch (cross-entropy: `acc`). */
  metrics: Record<string, number>;
  /** name → gradient, timm key names. */
  grads: Record<string, Tensor>;
}

/** What executes models: implemented by the engine (tasks/engine.ts). */
export interface ModelBackend {
  run(model: VisionModel, x: Tensor, opts: RunOptions): Promise<RunOutput>;
  lossAndGrads(model: VisionModel, x: Tensor, targets: unknown, opts: LossOptions): Promise<LossAndGrads>;
  /** Read a state dict from a path or a hub reference (`hf:org/repo`). */
  readWeights(source: string, opts?: ReadWeightsOptions): Promise<Map<string, Tensor>>;
  /** Tell the user something they must know (e.g. a non-commercial weights licence). */
  warn(message: string): void;
  /** Drop compiled graphs that embed a model's weights (they changed), or all of them (its layers changed). */
  invalidate(model: VisionModel, all?: boolean): void;
}

/** timm's feature_info: per stage, its channels, its stride (reduction) and the module producing it. */
export interface FeatureInfo {
  numChs: number;
  reduction: number;
  module: string;
}

export interface IntermediatesOptions {
  /** Stage indices to return, or n for the last n stages (default: all). */
  indices?: number | readonly number[];
  /**
   * Apply the family's pre-head norm to the last intermediate (timm's `norm`). A no-op for
   * ConvNeXt, whose `norm_pre` is the identity (its head norm comes after pooling).
   */
  norm?: boolean;
  /** Compute only up to the last stage asked for (default true here: nothing needs more). */
  stopEarly?: boolean;
  /** Return only the intermediates, not the final feature map. */
  intermediatesOnly?: boolean;
}

export abstract class VisionModel extends Module {
  /** Registry name, weight tag or family name for custom configs. */
  name = '';
  abstract readonly family: string;
  abstract readonly numClasses: number;
  /** Channels, height and width of the default input. */
  abstract readonly defaultInputSize: [number, number, number];
  /** Named outputs `run` can return (flags of `RunOptions`); `logits` always comes back. */
  readonly outputNames: readonly string[] = ['logits', 'features'];
  /** Module path of the classifier Linear (timm's pretrained_cfg `classifier`). */
  readonly classifierPath: string = 'head.fc';

  /**
   * Is `key` a classifier weight (replaced by resetClassifier, not loaded by `backboneOnly`, trained
   * under --freeze-backbone)? The classifier's own, and any auxiliary classifier a family adds.
   */
  isClassifierKey(key: string): boolean {
    return this.classifierPath !== '' && key.startsWith(`${this.classifierPath}.`);
  }
  pretrainedConfig?: PretrainedConfig;
  /** Bumped whenever weights change, so compiled graphs with weights as constants are rebuilt. */
  weightsVersion = 0;
  /**
   * What else, besides the input shape, the requested outputs and train/eval mode, changes the traced
   * graph ('' for most models; FCMAE's encoder formulation). Compile caches key on it.
   */
  get graphVariant(): string {
    return '';
  }
  /** The engine that runs this model (attached by the entry's `createModel`). */
  backend: ModelBackend | null = null;
  /**
   * Draws random graph inputs (drop-path masks, dropout) for `run` and `lossAndGrads` in train mode.
   * Seed it with `seed()`; its state can be saved and restored, so such calls are reproducible.
   */
  private rng = new Rng(0);

  /** Trace the whole network on a symbolic input; returns every named output. */
  abstract forwardTraced(x: Value): TracedOutputs;

  /** Check an input size ([C, H, W]) before tracing: throw a ConfigError/ShapeError naming what is wrong. */
  checkInputSize(_size: readonly [number, number, number]): void {}

  /** Map a foreign state dict (official names, other shapes) to this model's keys and shapes; `opts` are `loadWeights`'. */
  adaptStateDict(sd: Map<string, Tensor>, _opts: LoadWeightsOptions = {}): Map<string, Tensor> {
    return sd;
  }

  seed(seed: number): this {
    this.rng = new Rng(seed);
    return this;
  }

  get random(): Rng {
    return this.rng;
  }

  randomState(): RngState {
    return this.rng.getState();
  }

  setRandomState(s: RngState): void {
    this.rng = Rng.fromState(s);
  }

  protected requireBackend(): ModelBackend {
    if (!this.backend)
      throw new ConfigError(
        `model '${this.name || this.family}' is not attached to an engine: create it with createModel() from 'visionmix' (Node) or 'visionmix/web'`,
      );
    return this.backend;
  }

  /** Weights to load before the first run (`createModel(tag, { pretrained: true })`). */
  private pendingWeights: { source: string; opts: LoadWeightsOptions } | null = null;
  private loading: Promise<void> | null = null;

  /** Load `source` before the first `run`/`lossAndGrads` (or on `ready()`), not now. */
  loadWeightsLater(source: string, opts: LoadWeightsOptions = {}): this {
    this.pendingWeights = { source, opts };
    return this;
  }

  /** Resolves when weights asked for by `createModel(…, { pretrained: true })` are loaded. */
  async ready(): Promise<this> {
    if (this.pendingWeights && !this.loading) {
      const { source, opts } = this.pendingWeights;
      this.loading = this.loadWeights(source, opts).then(
        () => {
          this.pendingWeights = null;
          this.loading = null;
        },
        (err: unknown) => {
          this.loading = null;
          throw err;
        },
      );
    }
    if (this.loading) await this.loading;
    return this;
  }

  /**
   * Load weights (strict by default): a path or hub reference `hf:org/repo` (read by the engine,
   * downloads cached), or a state dict. Returns the keys that did not match (only possible with
   * `strict: false`).
   */
  async loadWeights(source: string | Map<string, Tensor> | Record<string, Tensor>, opts: LoadWeightsOptions = {}): Promise<LoadResult> {
    let checkpoint: CheckpointInfo | undefined;
    const raw =
      typeof source === 'string'
        ? await this.requireBackend().readWeights(source, {
            onProgress: opts.onProgress,
            offline: opts.offline,
            weightsKey: opts.weightsKey,
            onCheckpoint: (info) => {
              checkpoint = info;
              opts.onCheckpoint?.(info);
            },
          })
        : source instanceof Map
          ? source
          : new Map(Object.entries(source));
    const license = typeof source === 'string' ? licenseOf(source, this.pretrainedConfig) : undefined;
    if (license && isNonCommercial(license))
      this.requireBackend().warn(`${source}: these weights are licensed ${license} — non-commercial use only`);
    let sd = this.adaptStateDict(raw, opts);
    const where = typeof source === 'string' ? source : undefined;
    if (opts.backboneOnly) {
      const head = this.classifierPath;
      if (!head) throw new ConfigError(`${this.name || this.family} has no classifier: load its weights without backboneOnly`);
      const inHead = (k: string) => this.isClassifierKey(k);
      // The head module around the classifier ('head' of 'head.fc': its norm) may be missing too — an
      // FCMAE encoder has none — and then keeps its fresh initialisation, as the official fine-tuning does.
      const parent = head.includes('.') ? head.slice(0, head.lastIndexOf('.')) : null;
      const inHeadModule = (k: string) => parent !== null && k.startsWith(`${parent}.`);
      // The classifier keeps its own tensors; everything else is checked as usual.
      sd = new Map([...sd].filter(([k]) => !inHead(k)));
      for (const [k, t] of Object.entries(this.stateDict())) if (inHead(k) || (inHeadModule(k) && !sd.has(k))) sd.set(k, t);
    }
    const result = this.loadStateDict(sd, { strict: opts.strict ?? true, source: where });
    this.weightsChanged();
    return checkpoint ? { ...result, checkpoint } : result;
  }

  weightsChanged(): void {
    this.weightsVersion++;
    this.backend?.invalidate(this);
  }

  /**
   * timm's `forward_intermediates`: the stage feature maps (NCHW) at `indices`, and the final feature
   * map (the last stage) unless `intermediatesOnly`. Only the stages needed are computed.
   */
  async forwardIntermediates(x: Tensor, o: IntermediatesOptions = {}): Promise<{ final?: Tensor; intermediates: Tensor[] }> {
    const stages = this.featureInfo.length;
    const idx =
      o.indices === undefined
        ? [...Array(stages).keys()]
        : typeof o.indices === 'number'
          ? [...Array(Math.min(o.indices, stages)).keys()].map((i) => stages - Math.min(o.indices as number, stages) + i)
          : [...o.indices].map((i) => (i < 0 ? stages + i : i));
    const want = o.intermediatesOnly ? idx : [...new Set([...idx, stages - 1])].sort((a, b) => a - b);
    const out = await this.run(x, { features: want, logits: false });
    const byStage = new Map(want.map((s, i) => [s, out.features[i]!] as const));
    return { final: o.intermediatesOnly ? undefined : byStage.get(stages - 1), intermediates: idx.map((s) => byStage.get(s)!) };
  }

  /** Per stage: channels, reduction (stride) and module — read off the traced graph at the default input size. */
  get featureInfo(): FeatureInfo[] {
    this.featureInfoCache ??= this.describeFeatures();
    return this.featureInfoCache;
  }

  private featureInfoCache: FeatureInfo[] | null = null;

  private describeFeatures(): FeatureInfo[] {
    const [, h] = this.defaultInputSize;
    const { outputs } = traceModel(this, [1, ...this.defaultInputSize]);
    return outputs.features.map((f) => ({
      numChs: f.shape[1]!,
      reduction: Math.round(h / f.shape[2]!),
      // The module whose forward produced the map, at stage level ('stages.2' of 'stages.2.blocks.8').
      module: (f.producer?.scope ?? '').split('.').slice(0, 2).join('.'),
    }));
  }

  /**
   * Replace the classifier with a freshly initialised one for `numClasses` classes (0: none, the
   * model then returns its pooled features), as timm's `reset_classifier`.
   */
  resetClassifier(numClasses: number): this {
    if (!(Number.isInteger(numClasses) && numClasses >= 0)) throw new ConfigError(`resetClassifier: numClasses must be an integer ≥ 0, got ${numClasses}`);
    if (!this.classifierPath) throw new ConfigError(`${this.name || this.family} has no classifier to reset`);
    const parts = this.classifierPath.split('.');
    const name = parts.pop()!;
    let parent: Module = this;
    for (const p of parts) parent = (parent as unknown as Record<string, Module>)[p]!;
    const current = (parent as unknown as Record<string, unknown>)[name];
    const inDim = current instanceof Linear ? current.inFeatures : (parent as { inDim?: number }).inDim;
    if (inDim === undefined) throw new ConfigError(`${this.name || this.family}: cannot reset the classifier at '${this.classifierPath}'`);
    (parent as unknown as Record<string, Module>)[name] = numClasses > 0 ? new Linear(inDim, numClasses, { init: 'trunc_normal' }) : new Identity();
    (this as { numClasses: number }).numClasses = numClasses;
    this.bindKeys();
    this.featureInfoCache = null;
    this.weightsVersion++;
    this.backend?.invalidate(this, true);
    return this;
  }

  /** Run the model on a float32 batch [N, C, H, W]; returns `logits` and the outputs asked for. */
  async run(x: Tensor, opts: RunOptions = {}): Promise<RunOutput> {
    // ONNX Runtime reads the input after this call has returned its promise: copy it now, so that a
    // caller refilling its buffer for the next batch does not change this one.
    const input = x instanceof Tensor ? new Tensor(x.data.slice(), x.shape, x.dtype) : x;
    await this.ready();
    return this.requireBackend().run(this, input, opts);
  }

  /**
   * The loss of a batch and its gradient per parameter. Default objective: mean cross-entropy against
   * `targets` — integer labels [N] or soft targets (a Tensor [N, K]). In train mode this is one
   * train-mode forward: BatchNorm running statistics are updated as in PyTorch.
   */
  async lossAndGrads(x: Tensor, targets: unknown, opts: LossOptions = {}): Promise<LossAndGrads> {
    const input = x instanceof Tensor ? new Tensor(x.data.slice(), x.shape, x.dtype) : x;
    await this.ready();
    return this.requireBackend().lossAndGrads(this, input, targets, opts);
  }
}

/** The licence of weights loaded from `source`: the model's own tag's, when the source is its hub repository. */
function licenseOf(source: string, pc: PretrainedConfig | undefined): string | undefined {
  if (!pc?.hubId) return undefined;
  const repo = /^hf:([^@:]+)/.exec(source)?.[1];
  return repo === pc.hubId ? pc.license : undefined;
}
