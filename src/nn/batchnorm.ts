/**
 * BatchNorm2d with torch/timm semantics and state-dict names (`weight`, `bias`, `running_mean`,
 * `running_var`, `num_batches_tracked`).
 *
 * Training mode is emitted as primitives (ReduceMean, Sub, Mul, …) rather than ONNX
 * `BatchNormalization(training_mode=1)`: that op returns no saved statistics for the backward pass
 * and updates running_var with the *biased* variance, whereas torch uses the unbiased one
 * (ENGINE.md, pitfalls). One graph op (`F.batchNormTrain`) emits them and gives the closed-form VJP.
 */
import { ConfigError, ShapeError } from '../errors.js';
import { currentGraph, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { Tensor } from '../tensor.js';
import { full, zeros } from './init.js';
import { Buffer, Module, Parameter, lazy } from './module.js';

/** Batch statistics of a train-mode batch norm, as the running-stat update needs them. */
export interface BatchNormTrainResult {
  y: Value;
  /** Per-channel mean over N, H, W: shape [C]. */
  mean: Value;
  /** Per-channel biased variance (divided by n = N·H·W) used to normalise: shape [C]. */
  variance: Value;
  /** Elements per channel, n = N·H·W. */
  count: number;
}

function checkInput(x: Value, weight: Value, bias: Value): number {
  if (x.rank !== 4) throw new ShapeError(`BatchNorm2d at ${currentGraph().scope || '<root>'}: expects NCHW input, got ${x.toString()}`);
  const c = x.shape[1]!;
  for (const [name, v] of [['weight', weight], ['bias', bias]] as const)
    if (v.rank !== 1 || v.shape[0] !== c)
      throw new ShapeError(
        `BatchNorm2d at ${currentGraph().scope || '<root>'}: ${name} ${v.toString()} does not match ${c} channels of input ${x.toString()}`,
      );
  return c;
}

/**
 * Train-mode batch norm on an NCHW tensor: y = (x − mean)·w/√(var + eps) + b with the batch's mean
 * and biased variance over N, H, W. Differentiable w.r.t. x, weight and bias.
 */
export function batchNorm2dTrain(x: Value, weight: Value, bias: Value, eps: number): BatchNormTrainResult {
  const c = checkInput(x, weight, bias);
  const [n, , h, w] = x.shape as [number, number, number, number];
  // One graph op (graph/ops/norm.ts): the variance from the centred values (two passes) rather than
  // E[x²] − E[x]², which cancels badly when |mean| ≫ std, and a closed-form VJP.
  const [y, mean, variance] = F.batchNormTrain(x, weight, bias, eps);
  return { y, mean: F.reshape(mean, [c]), variance: F.reshape(variance, [c]), count: n * h * w };
}

/**
 * Eval-mode batch norm: y = x·scale + shift with scale = w/√(rv + eps), shift = b − rm·scale.
 * Every input of scale and shift is a parameter or buffer, so when they are initializers ORT
 * constant-folds both into [1, C, 1, 1] constants, and its Conv+Mul / Conv+Add fusions then fold
 * them into a preceding convolution.
 */
export function batchNorm2dEval(x: Value, weight: Value, bias: Value, runningMean: Value, runningVar: Value, eps: number): Value {
  const c = checkInput(x, weight, bias);
  const scale = F.div(weight, F.sqrt(F.add(runningVar, eps))); // [C]
  const shift = F.sub(bias, F.mul(runningMean, scale)); // [C]
  const chan = [1, c, 1, 1];
  return F.add(F.mul(x, F.reshape(scale, chan)), F.reshape(shift, chan));
}

export interface BatchNorm2dOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running averages (torch's momentum, default 0.1). */
  momentum?: number;
}

/**
 * torch.nn.BatchNorm2d (affine, track_running_stats). In train mode it normalises with batch
 * statistics and registers the running-statistic updates with the graph (`Graph.updateBuffer`);
 * a train-step graph returns them as outputs. In eval mode it uses the running statistics.
 */
export class BatchNorm2d extends Module {
  weight: Parameter;
  bias: Parameter;
  running_mean: Buffer;
  running_var: Buffer;
  /** torch stores this as a 0-d int64 tensor; kept for state-dict compatibility (a load may omit it). */
  num_batches_tracked: Buffer;
  readonly eps: number;
  readonly momentum: number;

  constructor(
    readonly numFeatures: number,
    opts: BatchNorm2dOptions = {},
  ) {
    super();
    if (!(Number.isInteger(numFeatures) && numFeatures > 0))
      throw new ConfigError(`BatchNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    if (!(this.eps > 0)) throw new ConfigError(`BatchNorm2d: eps must be > 0, got ${this.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1))
      throw new ConfigError(`BatchNorm2d: momentum must be in [0, 1], got ${this.momentum}`);
    const c = numFeatures;
    this.weight = new Parameter(lazy([c], () => full([c], 1)));
    this.bias = new Parameter(lazy([c], () => zeros([c])));
    this.running_mean = new Buffer(zeros([c]));
    this.running_var = new Buffer(full([c], 1));
    // Optional on load: checkpoints (and golden files) often leave this counter out; it only matters
    // for momentum=None, which is not supported here.
    this.num_batches_tracked = new Buffer(new Tensor(BigInt64Array.of(0n), [], 'int64'), { optional: true });
  }

  /**
   * The eval-mode BatchNorm folded into the preceding convolution: W' = W·s and b' = (b − μ)·s + β
   * with s = γ/√(σ² + eps) per output channel. Every input is a parameter or buffer, so in an
   * inference graph (weights as initializers) ORT computes W' and b' once, at load.
   */
  foldInto(convWeight: Value, convBias: Value | null): { weight: Value; bias: Value } {
    const c = this.numFeatures;
    if (convWeight.shape[0] !== c)
      throw new ShapeError(`BatchNorm2d at ${currentGraph().scope || '<root>'}: cannot fold into a conv with ${convWeight.shape[0]} output channels (have ${c})`);
    const scale = F.div(this.weight.value, F.sqrt(F.add(this.running_var.value, this.eps))); // [C]
    const weight = F.mul(convWeight, F.reshape(scale, [c, 1, 1, 1]));
    const centred = convBias ? F.sub(convBias, this.running_mean.value) : F.neg(this.running_mean.value);
    return { weight, bias: F.add(F.mul(centred, scale), this.bias.value) };
  }

  forward(x: Value): Value {
    const w = this.weight.value;
    const b = this.bias.value;
    if (!this.training) return batchNorm2dEval(x, w, b, this.running_mean.value, this.running_var.value, this.eps);

    const { y, mean, variance, count } = batchNorm2dTrain(x, w, b, this.eps);
    if (count < 2)
      throw new ShapeError(
        `BatchNorm2d at ${currentGraph().scope || '<root>'}: training needs more than one value per channel, got input ${x.toString()}`,
      );
    // torch updates running_var with the unbiased variance (Bessel's correction n/(n−1)) while it
    // normalises with the biased one.
    const m = this.momentum;
    const g = currentGraph();
    const mix = (running: Value, batch: Value) => F.add(F.mul(running, 1 - m), F.mul(batch, m));
    g.updateBuffer(this.running_mean.key, mix(this.running_mean.value, mean));
    g.updateBuffer(this.running_var.key, mix(this.running_var.value, F.mul(variance, count / (count - 1))));
    g.updateBuffer(this.num_batches_tracked.key, F.add(this.num_batches_tracked.value, 1));
    return y;
  }
}
