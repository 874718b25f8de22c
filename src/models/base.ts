/**
 * What every vision model offers (the public API contract in DESIGN.md). Execution and file access
 * are delegated to a backend installed by the entry point (Node: ONNX Runtime + fs; browser:
 * onnxruntime-web), so model code stays free of ONNX Runtime and Node modules.
 */
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';

export interface RunOptions {
  /** Also return the multi-scale feature maps (one per stage, NCHW). */
  features?: boolean;
  threads?: number;
}

export interface RunOutput {
  logits: Tensor;
  features: Tensor[];
}

export interface LoadWeightsOptions {
  /** Every model key present, none unexpected (default true). */
  strict?: boolean;
}

export interface LossAndGrads {
  loss: number;
  grads: Record<string, Tensor>;
}

export interface ModelBackend {
  run(model: VisionModel, x: Tensor, opts: RunOptions): Promise<RunOutput>;
  lossAndGrads(model: VisionModel, x: Tensor, labels: Int32Array | number[]): Promise<LossAndGrads>;
  /** Read a state dict from a path, URL or hub id. */
  readWeights(source: string): Promise<Map<string, Tensor>>;
  /** Drop compiled graphs of a model (its weights changed). */
  invalidate(model: VisionModel): void;
}

let backend: ModelBackend | null = null;

export function setBackend(b: ModelBackend): void {
  backend = b;
}

function requireBackend(): ModelBackend {
  if (!backend) throw new ConfigError('no execution backend installed: import visionmix (Node) or visionmix/web');
  return backend;
}

/** Traced outputs of a model. */
export interface TracedOutputs {
  logits: Value;
  features: Value[];
}

/** Where the model came from and how inputs should be prepared (timm's pretrained_cfg). */
export interface PretrainedConfig {
  inputSize: [number, number, number];
  mean: [number, number, number];
  std: [number, number, number];
  cropPct: number;
  interpolation: 'bicubic' | 'bilinear';
  hubId?: string;
}

export abstract class VisionModel extends Module {
  /** Registry name or family name for custom configs. */
  name = '';
  abstract readonly family: string;
  abstract readonly numClasses: number;
  /** Channels, height and width of the default input. */
  abstract readonly defaultInputSize: [number, number, number];
  pretrainedConfig?: PretrainedConfig;
  /** Bumped whenever weights change, so compiled graphs with weights as constants are rebuilt. */
  weightsVersion = 0;

  /** Trace the whole network on a symbolic input. */
  abstract forwardTraced(x: Value): TracedOutputs;

  /** Map a foreign state dict (official names, other shapes) to this model's keys and shapes. */
  adaptStateDict(sd: Map<string, Tensor>): Map<string, Tensor> {
    return sd;
  }

  async loadWeights(source: string | Map<string, Tensor> | Record<string, Tensor>, opts: LoadWeightsOptions = {}): Promise<this> {
    const raw =
      typeof source === 'string'
        ? await requireBackend().readWeights(source)
        : source instanceof Map
          ? source
          : new Map(Object.entries(source));
    this.loadStateDict(this.adaptStateDict(raw), {
      strict: opts.strict ?? true,
      source: typeof source === 'string' ? source : undefined,
    });
    this.weightsChanged();
    return this;
  }

  weightsChanged(): void {
    this.weightsVersion++;
    backend?.invalidate(this);
  }

  run(x: Tensor, opts: RunOptions = {}): Promise<RunOutput> {
    return requireBackend().run(this, x, opts);
  }

  /** Mean cross-entropy of the logits against integer labels, and its gradient per parameter. */
  lossAndGrads(x: Tensor, labels: Int32Array | number[]): Promise<LossAndGrads> {
    return requireBackend().lossAndGrads(this, x, labels);
  }
}
