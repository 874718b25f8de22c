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
import { idsFromOrdinals, type GroupMatcher, type LayerDecayMode, type LayerIds } from './layer_groups.js';
import { LIMITS } from './config.js';
import { MAX_MODEL_ELEMENTS, approxCount, countElements } from './model_size.js';
import type { CheckpointInfo, ReadWeightsOptions } from '../util/weights_options.js';
import { isNonCommercial, type PretrainedConfig } from './pretrained.js';
import { traceModel } from './trace.js';

export type { GroupMatcher, LayerDecayMode, LayerIds } from './layer_groups.js';

/** Global pooling of a classifier head: average over H×W, or none (the unpooled map). */
export type GlobalPool = 'avg' | '';

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

/**
 * The value of each named output `run` can return besides `logits` and `features`, by name. Each
 * family adds its own from its file (declaration merging:
 * `declare module './base.js' { interface NamedOutputs { slots: SlotMaps } }`), and its model class
 * names the ones it has (`class GLNet extends VisionModel<'final' | 'slots' | …>`).
 */
export interface NamedOutputs {
  /** The unpooled map the head reads (`forwardFeatures`). */
  final: Tensor;
}

/** A named output of some family (a flag of `RunOptions`). */
export type OutputName = keyof NamedOutputs;

/** What `run` returned, whatever was asked for (the engine's view; users get `RunOutput`). */
export interface RunResult {
  /** Absent only when `logits: false` was asked for. */
  logits: Tensor;
  /** One NCHW map per stage when `features` was asked for, else empty. */
  features: Tensor[];
  [name: string]: TensorTree;
}

/**
 * `run` options of a model whose named outputs are `N`: `threads`, `features`, `logits`, plus one
 * flag per output to return (`final: true`, GLNet's `slots: true`, …). A flag the model lacks does
 * not compile when the model's type is known (`createModel('convnext_atto')`), and is a ConfigError
 * naming the model's outputs when it runs.
 */
export type RunOptions<N extends OutputName = OutputName> = {
  /** Intra-op threads (default: every core; capped at the core count). */
  threads?: number;
  /**
   * Also return the multi-scale feature maps (one per stage, NCHW), or only those of the listed
   * stages (the network then stops after the last one listed).
   */
  features?: boolean | readonly number[];
  /** Compute the classifier (default true); `false` with `features` skips the head. */
  logits?: boolean;
} & { [K in N]?: boolean };

/**
 * What `run(x, opts)` returns for options of type `O`: `logits` (unless `logits: false`),
 * `features` (one NCHW map per stage when asked for, else empty) and each output flagged in `O` —
 * present for `true`, possibly undefined for a flag typed `boolean`.
 */
export type RunOutput<O extends RunOptions = RunOptions> = (O extends { logits: false } ? {} : { logits: Tensor }) & { features: Tensor[] } & {
  [K in OutputName & keyof O as O[K] extends false | undefined ? never : K]: O[K] extends true ? NamedOutputs[K] : NamedOutputs[K] | undefined;
};

/** `O`, with any key that `T` lacks refused (a generic's object literal gets no excess-property check). */
export type Exactly<O, T> = O & { [K in Exclude<keyof O, keyof T>]: never };

// Re-exported for the model API's users; defined in util/ so that runtime/ can name them too.
export type { CheckpointInfo, ReadWeightsOptions, WeightsProgress } from '../util/weights_options.js';

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

/** What a traced call is given besides its input. */
export interface ForwardOptions {
  /**
   * The formulation to trace, for models that have several of one network ('' or absent: the
   * model's `graphVariant`; FCMAE: 'dense' or 'sparse'). Part of every compile-cache key.
   */
  variant?: string;
}

export interface LossOptions extends ForwardOptions {
  /** What to minimise (default: mean cross-entropy against integer labels or soft targets). */
  objective?: ObjectiveRef;
  threads?: number;
}

export interface EvaluateOptions extends ForwardOptions {
  objective: ObjectiveRef;
  /** Named model outputs to return besides the loss and metrics. */
  outputs?: readonly string[];
  threads?: number;
}

export interface ObjectiveValues {
  loss: number;
  metrics: Record<string, number>;
  outputs: Record<string, TensorTree>;
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
  run(model: VisionModel, x: Tensor, opts: RunOptions): Promise<RunResult>;
  /** The head alone on a final feature map (`forwardHead`). */
  runHead(model: VisionModel, features: Tensor, opts: ForwardHeadOptions): Promise<Tensor>;
  lossAndGrads(model: VisionModel, x: Tensor, targets: unknown, opts: LossOptions): Promise<LossAndGrads>;
  /** An objective's loss and metrics (no gradients), and the named outputs asked for. */
  evaluate(model: VisionModel, x: Tensor, targets: unknown, opts: EvaluateOptions): Promise<ObjectiveValues>;
  /** Read a state dict from a path or a hub reference (`hf:org/repo`). */
  readWeights(source: string, opts?: ReadWeightsOptions): Promise<Map<string, Tensor>>;
  /** Tell the user something they must know (e.g. a non-commercial weights licence). */
  warn(message: string): void;
  /** Drop compiled graphs that embed a model's weights (they changed), or all of them (its layers changed). */
  invalidate(model: VisionModel, all?: boolean): void;
  /** A session over a serialized ONNX graph: int8 export runs the emitted graph on calibration images. */
  openGraph(bytes: Uint8Array, label: string): Promise<GraphSession>;
}

/** An ONNX graph opened on the model's runtime (`ModelBackend.openGraph`). */
export interface GraphSession {
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export interface ForwardHeadOptions {
  /** Return the head's pooled (and normalised) features before the classifier (timm's `pre_logits`). */
  preLogits?: boolean;
  threads?: number;
}

/** A graph of a model being compiled for its runtime (the first run of each input shape and output set), and done. */
export interface CompileProgress {
  status: 'compile' | 'compiled';
  /** The model's name. */
  model: string;
  /** Which graph ('forward', 'loss (…)', …). */
  graph: string;
  /** Milliseconds the compile took ('compiled'). */
  ms?: number;
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

/**
 * How another library builds this network, for a hand-off to it (tasks/timm_handoff.ts): timm's
 * model name and constructor keywords, or — for families timm does not have — the official
 * repository's factory name and keywords. The state dict's keys are already that library's.
 */
export interface TimmArchitecture {
  /** timm's model name, or the official repository's factory name. */
  architecture: string;
  /** Constructor keywords on top of the architecture's own (timm's config.json `model_args`). */
  modelArgs: Record<string, unknown>;
  /** 'timm', or the official repository and file defining the architecture when timm lacks the family. */
  source: 'timm' | { repo: string; file: string };
  /** Training-time rates, for train.py's --drop-path and --drop. */
  dropPathRate: number;
  dropRate: number;
}

/**
 * How Hugging Face transformers names this network, for a folder transformers.js loads
 * (io/transformers_export.ts): the model class, `model_type`, the image processor class, and the
 * keywords of the family's HF config class (`ConvNextConfig`, `MobileViTConfig`) that describe it.
 * transformers.js runs the exported ONNX graph and reads only the names and the labels; the keywords
 * are there for people and tools reading config.json.
 */
export interface TransformersArchitecture {
  /** The `…ForImageClassification` class (config.json `architectures`). */
  architecture: string;
  /** config.json `model_type`. */
  modelType: string;
  /** The family's image processor in transformers.js (preprocessor_config.json `image_processor_type`). */
  imageProcessor: 'ConvNextImageProcessor' | 'MobileViTImageProcessor';
  /** The HF config class's keywords for this network. */
  config: Record<string, unknown>;
}

/**
 * A model whose named outputs (besides `logits` and `features`) are `N`: `run`'s options and result
 * are typed by them.
 */
export abstract class VisionModel<N extends OutputName = OutputName> extends Module {
  /** Registry name, weight tag or family name for custom configs. */
  name = '';
  abstract readonly family: string;
  abstract readonly numClasses: number;
  /** Channels, height and width of the default input. */
  abstract readonly defaultInputSize: [number, number, number];
  /** Named outputs `run` can return (flags of `RunOptions`); `logits` always comes back. */
  readonly outputNames: readonly string[] = ['logits', 'features'];
  /** Module path of the classifier Linear (timm's pretrained_cfg `classifier`; '' when there is none). */
  abstract readonly classifierPath: string;
  /** Module path of the first convolution (timm's pretrained_cfg `first_conv`: adapted for other input channels). */
  abstract readonly firstConv: string;
  /** Channels of the features the classifier reads, after pooling (timm's `num_features`). */
  abstract get numFeatures(): number;
  /** Width of the head's pre-logits output (timm's `head_hidden_size`): `numFeatures` when the head has no hidden layer. */
  get headHiddenSize(): number {
    return this.numFeatures;
  }
  /** How the head pools the final map: 'avg' (global average) or '' (no pooling: `resetClassifier(0, '')`). */
  globalPool: GlobalPool = 'avg';

  /** The classifier module (timm's `get_classifier()`): a Linear, or an Identity when `numClasses` is 0. */
  abstract getClassifier(): Module;

  /**
   * timm's `group_matcher(coarse)`: a parameter key → its ordinal tuple (layer-wise lr decay groups
   * parameters by it: equal tuples share a layer id, ids follow the tuples' order); null for keys that
   * come after every group (the head). Coarse: one group per stage; fine: one per block.
   */
  abstract groupMatcher(coarse?: boolean): GroupMatcher;

  /**
   * The layer id of every parameter for layer-wise lr decay ('single': the fine matcher, 'group': the
   * coarse one), as timm's `param_groups_layer_decay` numbers them. A family whose reference code
   * numbers layers its own way overrides this (ConvNeXt: the official ConvNeXt-V2 fine-tuning ids).
   */
  layerIds(mode: LayerDecayMode = 'single'): LayerIds {
    return idsFromOrdinals(
      this.namedParameters().map(([k]) => k),
      this.groupMatcher(mode === 'group'),
    );
  }

  /** How timm (or the official code) builds this network (`TimmArchitecture`); a ConfigError when it cannot. */
  timmArchitecture(): TimmArchitecture {
    throw new ConfigError(`${this.name || this.family}: no timm hand-off is defined for family '${this.family}'`);
  }

  /**
   * How Hugging Face transformers names this network (`TransformersArchitecture`); a ConfigError for
   * a family transformers.js does not know (it runs ConvNeXt, ConvNeXt V2 and MobileViT).
   */
  transformersArchitecture(): TransformersArchitecture {
    throw new ConfigError(
      `format 'transformers': transformers.js has no ${this.family} model (it knows ConvNeXt, ConvNeXt V2 and MobileViT), so ${this.name || this.family} cannot be exported as a transformers.js folder; ` +
        `formats that work for it: 'onnx' (a plain ONNX file: visionmix export -o model.onnx, or exportOnnx) and timm's (visionmix export-timm)`,
    );
  }

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
  /** Told when one of this model's graphs is compiled (the first run of an input shape): progress for a page or a CLI. */
  onCompile?: (e: CompileProgress) => void;
  /** The engine that runs this model (attached by the entry's `createModel`). */
  backend: ModelBackend | null = null;
  /**
   * Draws random graph inputs (drop-path masks, dropout) for `run` and `lossAndGrads` in train mode.
   * Seed it with `seed()`; its state can be saved and restored, so such calls are reproducible.
   */
  private rng = new Rng(0);

  /**
   * Trace the whole network on a symbolic input; returns every named output. A classifier's
   * `final` output is the unpooled map its head reads (numFeatures channels), and its `logits` are
   * `forwardHeadTraced(final)`.
   */
  abstract forwardTraced(x: Value, o?: ForwardOptions): TracedOutputs;

  /**
   * The head on the final map [B, numFeatures, H, W] (the `final` output): logits, or with
   * `preLogits` the pooled features the classifier reads. Where the body ends and the head begins
   * is the family's choice (timm's split of `forward_features` / `forward_head`).
   */
  forwardHeadTraced(_final: Value, _o: { preLogits?: boolean } = {}): Value {
    throw new ConfigError(`${this.name || this.family} has no classifier head to run on its own (forwardHead)`);
  }

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
    // As any model: options of a generic N cannot be checked inside this class.
    const out = await (this as VisionModel).run(x, { features: want, logits: false });
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
   * model then returns its pooled features), as timm's `reset_classifier(num_classes, global_pool)`.
   * `globalPool` '' (no pooling) makes the head return the unpooled final map (after the family's
   * head norm, if any) and needs `numClasses` 0; 'avg' pools again.
   */
  resetClassifier(numClasses: number, globalPool?: GlobalPool): this {
    const name = this.name || this.family;
    if (!(Number.isInteger(numClasses) && numClasses >= 0 && numClasses <= LIMITS.classes))
      throw new ConfigError(`resetClassifier: numClasses must be an integer in [0, ${LIMITS.classes}], got ${numClasses}`);
    if (globalPool !== undefined && globalPool !== 'avg' && globalPool !== '')
      throw new ConfigError(`resetClassifier: globalPool must be 'avg' or '' (no pooling), got ${JSON.stringify(globalPool)}`);
    const pool = globalPool ?? this.globalPool;
    if (pool === '' && numClasses > 0)
      throw new ConfigError(`resetClassifier(${numClasses}, ''): a classifier needs pooled features — without pooling (globalPool '') the number of classes must be 0`);
    if (!this.classifierPath) throw new ConfigError(`${name} has no classifier to reset`);
    const headElements = (this.numFeatures + 1) * numClasses;
    const others = countElements(this) - countElements(this.getClassifier());
    if (others + headElements > MAX_MODEL_ELEMENTS)
      throw new ConfigError(
        `resetClassifier(${numClasses}): a ${this.numFeatures}×${numClasses} classifier gives ${name} ~${approxCount(others + headElements)} parameters, more than the ${approxCount(MAX_MODEL_ELEMENTS)} visionmix builds`,
      );
    this.globalPool = pool;
    this.replaceClassifier(numClasses);
    (this as { numClasses: number }).numClasses = numClasses;
    this.bindKeys();
    this.featureInfoCache = null;
    this.weightsVersion++;
    this.backend?.invalidate(this, true);
    return this;
  }

  /**
   * The family's part of `resetClassifier`: put a fresh classifier for `numClasses` (0: an Identity)
   * where `getClassifier()` finds it (and any auxiliary classifier the family has); `globalPool` is
   * already the new pooling.
   */
  protected abstract replaceClassifier(numClasses: number): void;

  /**
   * A fresh classifier from the pooled features to `numClasses` (an Identity for 0): timm's
   * trunc_normal(.02) init, as every family here initialises its head.
   */
  protected newClassifier(numClasses: number): Linear | Identity {
    return numClasses > 0 ? new Linear(this.numFeatures, numClasses, { init: 'trunc_normal' }) : new Identity();
  }

  /**
   * timm's `forward_features`: the unpooled final feature map [N, numFeatures, H', W'] that the
   * head pools (ConvNeXt: the last stage's map; MobileViT: after `final_conv`; CMT: after `_fc`,
   * `_bn` and SiLU; GLNet: after its final norm). The head is not computed.
   */
  async forwardFeatures(x: Tensor, o: { threads?: number } = {}): Promise<Tensor> {
    if (!this.outputNames.includes('final'))
      throw new ConfigError(`${this.name || this.family} has no final feature map for a head (forwardFeatures); use run(x, { features: true })`);
    // Every family with a head has a `final` output (checked above); N does not say so.
    const out = await (this as VisionModel).run(x, { final: true, logits: false, threads: o.threads });
    return out.final;
  }

  /**
   * timm's `forward_head`: the head on a map from `forwardFeatures` — the logits (equal to
   * `run(x).logits`), or with `preLogits: true` the pooled features [N, numFeatures] (the head's
   * hidden width for heads that have one).
   */
  async forwardHead(features: Tensor, o: ForwardHeadOptions = {}): Promise<Tensor> {
    const input = features instanceof Tensor ? new Tensor(features.data.slice(), features.shape, features.dtype) : features;
    await this.ready();
    return this.requireBackend().runHead(this, input, o);
  }

  /**
   * Run the model on a float32 batch [N, C, H, W]; returns `logits` and the outputs asked for
   * (typed by `opts`: `run(x, { final: true })` has `final: Tensor`).
   */
  async run<const O extends RunOptions<N> = {}>(x: Tensor, opts?: Exactly<O, RunOptions<N>>): Promise<RunOutput<O>> {
    // ONNX Runtime reads the input after this call has returned its promise: copy it now, so that a
    // caller refilling its buffer for the next batch does not change this one.
    const input = x instanceof Tensor ? new Tensor(x.data.slice(), x.shape, x.dtype) : x;
    await this.ready();
    // The engine returns what `opts` asked for (and refuses outputs the model lacks).
    return (await this.requireBackend().run(this, input, opts ?? {})) as unknown as RunOutput<O>;
  }

  /**
   * An objective's loss and metrics on a batch, without gradients (in the current train/eval mode),
   * and the named outputs asked for: how tasks evaluate.
   */
  async evaluateObjective(x: Tensor, targets: unknown, opts: EvaluateOptions): Promise<ObjectiveValues> {
    const input = x instanceof Tensor ? new Tensor(x.data.slice(), x.shape, x.dtype) : x;
    await this.ready();
    return this.requireBackend().evaluate(this, input, targets, opts);
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
  if (pc?.url && source === pc.url) return pc.license;
  if (!pc?.hubId) return undefined;
  const repo = /^hf:([^@:]+)/.exec(source)?.[1];
  return repo === pc.hubId ? pc.license : undefined;
}
