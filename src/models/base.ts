/**
 * What every vision model offers (the public API contract in DESIGN.md). Execution and file access
 * belong to an engine that the entry point attaches to each model it creates (Node: ONNX Runtime +
 * fs; browser: onnxruntime-web + fetch), so model code stays free of ONNX Runtime and Node modules
 * and nothing is installed globally.
 */
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';
import { Rng, type RngState } from '../util/rng.js';
import type { PretrainedConfig } from './pretrained.js';

/** A model output: one traced value, a list (one per stage) or a record of them. */
export type OutputTree = Value | readonly OutputTree[] | { readonly [name: string]: OutputTree };

/**
 * The named outputs of a traced forward pass. Every model has `logits` and `features` (one NCHW map
 * per stage); families add their own (GLNet's `slots`, a token-labelling head's `aux_logits`, …).
 */
export interface TracedOutputs {
  logits: Value;
  features: Value[];
  [name: string]: OutputTree;
}

/** Concrete outputs, shaped like the traced ones. */
export type TensorTree = Tensor | TensorTree[] | { [name: string]: TensorTree };

export interface RunOutput {
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
  /** Also return the multi-scale feature maps (one per stage, NCHW). */
  features?: boolean;
  [output: string]: boolean | number | undefined;
}

export interface LoadWeightsOptions {
  /** Every model key present, none unexpected (default true). */
  strict?: boolean;
}

export interface LoadResult {
  /** Model keys the state dict did not have (empty when strict). */
  missing: string[];
  /** State-dict keys the model does not have (empty when strict). */
  unexpected: string[];
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
  /** Read a state dict from a path, URL or hub id. */
  readWeights(source: string): Promise<Map<string, Tensor>>;
  /** Drop compiled graphs that embed a model's weights (they changed). */
  invalidate(model: VisionModel): void;
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
  pretrainedConfig?: PretrainedConfig;
  /** Bumped whenever weights change, so compiled graphs with weights as constants are rebuilt. */
  weightsVersion = 0;
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

  /**
   * Load weights (strict by default): a path, URL or hub id (read by the engine), or a state dict.
   * Returns the keys that did not match (only possible with `strict: false`).
   */
  async loadWeights(source: string | Map<string, Tensor> | Record<string, Tensor>, opts: LoadWeightsOptions = {}): Promise<LoadResult> {
    const raw =
      typeof source === 'string'
        ? await this.requireBackend().readWeights(source)
        : source instanceof Map
          ? source
          : new Map(Object.entries(source));
    const result = this.loadStateDict(this.adaptStateDict(raw, opts), {
      strict: opts.strict ?? true,
      source: typeof source === 'string' ? source : undefined,
    });
    this.weightsChanged();
    return result;
  }

  weightsChanged(): void {
    this.weightsVersion++;
    this.backend?.invalidate(this);
  }

  /** Run the model on a float32 batch [N, C, H, W]; returns `logits` and the outputs asked for. */
  run(x: Tensor, opts: RunOptions = {}): Promise<RunOutput> {
    return this.requireBackend().run(this, x, opts);
  }

  /**
   * The loss of a batch and its gradient per parameter. Default objective: mean cross-entropy against
   * `targets` — integer labels [N] or soft targets (a Tensor [N, K]). In train mode this is one
   * train-mode forward: BatchNorm running statistics are updated as in PyTorch.
   */
  lossAndGrads(x: Tensor, targets: unknown, opts: LossOptions = {}): Promise<LossAndGrads> {
    return this.requireBackend().lossAndGrads(this, x, targets, opts);
  }
}
