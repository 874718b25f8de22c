/** Layers shared by every model family. Property names are timm's state-dict names. */
import { ConfigError } from '../errors.js';
import { currentGraph, type RandomDraw, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { Tensor, sizeOf } from '../tensor.js';
import type { Rng } from '../util/rng.js';
import { Module, Parameter, lazy } from './module.js';
import { full, truncNormal, uniformFanIn, zeros } from './init.js';

/**
 * Weight init: 'trunc_normal' (timm ConvNeXt/ViT: trunc_normal(std=.02), zero bias), 'torch_default'
 * (PyTorch's kaiming_uniform(a=√5) = U(±1/√fan_in), bias likewise), 'kaiming_fan_out' (ml-cvnets'
 * conv init: kaiming_normal(mode='fan_out') = N(0, 2/(out·kh·kw)) — fan_out counts every output
 * channel even for grouped convs, as PyTorch does — zero bias).
 */
export type Init = 'trunc_normal' | 'torch_default' | 'kaiming_fan_out';

/** A weight of `shape` ([out, in, kh, kw] or [out, in]) drawn by `init`, with PyTorch's fan-in `fanIn`. */
function initWeight(init: Init | undefined, shape: number[], fanIn: number, r: Rng): Tensor {
  switch (init) {
    case 'trunc_normal':
      return truncNormal(shape, 0.02, r);
    case 'kaiming_fan_out': {
      const fanOut = shape[0]! * shape.slice(2).reduce((a, b) => a * b, 1);
      return truncNormal(shape, Math.sqrt(2 / fanOut), r, -Infinity, Infinity);
    }
    default:
      return uniformFanIn(shape, fanIn, r);
  }
}

function initBias(init: Init | undefined, n: number, fanIn: number, r: Rng): Tensor {
  return init === undefined || init === 'torch_default' ? uniformFanIn([n], fanIn, r) : zeros([n]);
}

export interface Conv2dOptions extends F.ConvOptions {
  bias?: boolean;
  /** Weight init: timm ConvNeXt uses trunc_normal(std=.02); PyTorch's default otherwise. */
  init?: Init;
}

function pairOf(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

export class Conv2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly options: F.ConvOptions;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernel: number | [number, number],
    opts: Conv2dOptions = {},
  ) {
    super();
    const [kh, kw] = pairOf(kernel);
    const groups = opts.groups ?? 1;
    if (inChannels % groups || outChannels % groups)
      throw new ConfigError(`Conv2d: channels ${inChannels}→${outChannels} must be divisible by groups=${groups}`);
    const shape = [outChannels, inChannels / groups, kh, kw];
    const fanIn = (inChannels / groups) * kh * kw;
    this.weight = new Parameter(lazy(shape, (r) => initWeight(opts.init, shape, fanIn, r)));
    this.bias = opts.bias === false ? null : new Parameter(lazy([outChannels], (r) => initBias(opts.init, outChannels, fanIn, r)));
    this.options = { stride: opts.stride, padding: opts.padding, dilation: opts.dilation, groups };
  }

  forward(x: Value): Value {
    return F.conv2d(x, this.weight.value, this.bias?.value ?? null, this.options);
  }
}

/** y = x·Wᵀ + b over the last axis; weight is [out, in] as in PyTorch. */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: {
      bias?: boolean;
      init?: Init;
      /** Store the weight as a 1×1 conv kernel [out, in, 1, 1] (timm's conv_mlp checkpoints). */
      convWeight?: boolean;
    } = {},
  ) {
    super();
    const shape = opts.convWeight ? [outFeatures, inFeatures, 1, 1] : [outFeatures, inFeatures];
    this.weight = new Parameter(lazy(shape, (r) => initWeight(opts.init, shape, inFeatures, r)));
    this.bias = opts.bias === false ? null : new Parameter(lazy([outFeatures], (r) => initBias(opts.init, outFeatures, inFeatures, r)));
  }

  forward(x: Value): Value {
    const w = F.reshape(this.weight.value, [this.outFeatures, this.inFeatures]);
    const y = F.matmul(x, F.transpose(w, [1, 0]));
    return this.bias ? F.add(y, this.bias.value) : y;
  }
}

/** LayerNorm over the last axis (channels-last, NHWC or [N, L, C]). */
export class LayerNorm extends Module {
  weight: Parameter;
  bias: Parameter;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = new Parameter(lazy([dim], () => full([dim], 1)));
    this.bias = new Parameter(lazy([dim], () => zeros([dim])));
  }

  forward(x: Value): Value {
    return F.layerNorm(x, this.weight.value, this.bias.value, -1, this.eps);
  }
}

/**
 * LayerNorm over the channel axis of an NCHW tensor. ONNX LayerNormalization normalises trailing
 * axes only, so this moves channels last and back; ORT cancels adjacent transposes between layers.
 */
export class LayerNorm2d extends LayerNorm {
  override forward(x: Value): Value {
    const y = F.layerNorm(F.transpose(x, [0, 2, 3, 1]), this.weight.value, this.bias.value, -1, this.eps);
    return F.transpose(y, [0, 3, 1, 2]);
  }
}

/**
 * Global Response Normalization (ConvNeXt V2) on a channels-last tensor [N, H, W, C]:
 * out = γ·(x·Nx) + β + x with Nx = ‖x‖₂(H,W) / (mean_c ‖x‖₂ + eps). Written as x·(γ·Nx + 1) + β so
 * the large tensor is touched by one multiply and one add.
 */
export class GRN extends Module {
  weight: Parameter;
  bias: Parameter;

  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = new Parameter(lazy([dim], () => zeros([dim])));
    this.bias = new Parameter(lazy([dim], () => zeros([dim])));
  }

  forward(x: Value): Value {
    // Σ_hw x² (emitted as a ones-GEMV, ~3x faster in ORT than ReduceSumSquare over middle axes;
    // its gradient is one broadcast multiply of x).
    const sumSq = F.reduceSumSquare(x, [1, 2], true);
    // ‖x‖ has an infinite derivative at 0 (a channel that is zero everywhere, e.g. GELU-saturated on
    // a 1×1 map); flooring the squared norm at 1e-30 makes that gradient 0, as torch's norm backward
    // does, and changes the value by at most 1e-15.
    const gx = F.sqrt(F.maximum(sumSq, 1e-30));
    const nx = F.div(gx, F.add(F.reduceMean(gx, [3], true), this.eps));
    const scale = F.add(F.mul(nx, this.weight.value), 1);
    return F.add(F.mul(x, scale), this.bias.value);
  }
}

export class GELU extends Module {
  forward(x: Value): Value {
    return F.gelu(x);
  }
}

/** SiLU / Swish: x·σ(x). */
export class SiLU extends Module {
  forward(x: Value): Value {
    return F.silu(x);
  }
}

export class Identity extends Module {
  forward(x: Value): Value {
    return x;
  }
}

export type Activation = 'gelu' | 'silu' | 'relu' | 'identity';

/** An activation module by name (as the reference configs spell them). */
export function activation(name: Activation): Module & { forward(x: Value): Value } {
  switch (name) {
    case 'gelu':
      return new GELU();
    case 'silu':
      return new SiLU();
    case 'relu':
      return new ReLU();
    case 'identity':
      return new Identity();
  }
}

export class ReLU extends Module {
  forward(x: Value): Value {
    return F.relu(x);
  }
}

/**
 * Keep-mask draws: each element is 1/keep with probability `keep`, else 0 — inverted dropout's
 * scaling folded into the mask, so the graph needs one multiply.
 */
export interface KeepMask extends RandomDraw {
  /** Probability of keeping an element (or sample). */
  readonly keep: number;
}

export function keepMask(keep: number, what: string): KeepMask {
  return {
    keep,
    describe: `${what}, keep ${keep}`,
    draw(rng, shape) {
      const d = new Float32Array(sizeOf(shape));
      for (let i = 0; i < d.length; i++) d[i] = rng.random() < keep ? 1 / keep : 0;
      return new Tensor(d, shape, 'float32');
    },
  };
}

/**
 * Stochastic depth on a residual branch: per sample, keep with probability 1−p and scale by
 * 1/(1−p). The keep mask is a graph input drawn in TypeScript from the caller's seeded Rng.
 */
export class DropPath extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new ConfigError(`DropPath: drop probability must be in [0, 1), got ${p}`);
  }

  forward(x: Value): Value {
    if (!this.training || this.p === 0) return x;
    const g = currentGraph();
    const n = x.shape[0]!;
    const mask = g.randomInput(`droppath.${g.scope}`, [n, ...x.shape.slice(1).map(() => 1)], keepMask(1 - this.p, 'drop path'));
    return F.mul(x, F.cast(mask, x.dtype));
  }
}

/** Element-wise dropout (training only), scaled by 1/(1−p) as torch's nn.Dropout. */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new ConfigError(`Dropout: drop probability must be in [0, 1), got ${p}`);
  }

  forward(x: Value): Value {
    if (!this.training || this.p === 0) return x;
    const g = currentGraph();
    const mask = g.randomInput(`dropout.${g.scope}`, x.shape, keepMask(1 - this.p, 'dropout'));
    return F.mul(x, F.cast(mask, x.dtype));
  }
}

/**
 * Layer scale (CaiT; timm's LayerScale): a learned per-channel factor `gamma`, initialised to a small
 * constant. `channelsFirst` shapes it [1, C, 1, 1] for NCHW inputs (as GLNet stores it), else [C].
 */
export class LayerScale extends Module {
  gamma: Parameter;

  constructor(readonly dim: number, initValue: number, opts: { channelsFirst?: boolean } = {}) {
    super();
    const shape = opts.channelsFirst ? [1, dim, 1, 1] : [dim];
    this.gamma = new Parameter(lazy(shape, () => full(shape, initValue)));
  }

  forward(x: Value): Value {
    return F.mul(x, this.gamma.value);
  }
}

export class Sequential extends Module {
  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => ((this as unknown as Record<string, Module>)[String(i)] = m));
  }

  get length(): number {
    return this.namedChildren().length;
  }

  at(i: number): Module {
    return (this as unknown as Record<string, Module>)[String(i)]!;
  }

  forward(x: Value): Value {
    for (const [, m] of this.namedChildren()) x = (m as Module & { forward(v: Value): Value }).call(x);
    return x;
  }
}

export class ModuleList<M extends Module = Module> extends Module {
  constructor(items: M[] = []) {
    super();
    items.forEach((m, i) => ((this as unknown as Record<string, M>)[String(i)] = m));
  }

  get length(): number {
    return this.namedChildren().length;
  }

  at(i: number): M {
    return (this as unknown as Record<string, M>)[String(i)]!;
  }

  *[Symbol.iterator](): Iterator<M> {
    for (const [, m] of this.namedChildren()) yield m as M;
  }
}
