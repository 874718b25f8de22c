/**
 * Module, Parameter and Buffer. Child modules and parameters are discovered from a module's own
 * properties, in declaration order, so a property named `conv_dw` inside `stages.0.blocks.1`
 * becomes the state-dict key `stages.0.blocks.1.conv_dw.weight` — exactly timm's names.
 */
import { WeightsError } from '../errors.js';
import { currentGraph, type Value } from '../graph/graph.js';
import { Tensor, sizeOf } from '../tensor.js';
import type { Rng } from '../util/rng.js';
import { initRngFor } from './init.js';

/** A deferred initialiser: the tensor is drawn on first use, from an Rng seeded by the key. */
export interface LazyInit {
  shape: number[];
  init: (rng: Rng) => Tensor;
}

export function lazy(shape: number[], init: (rng: Rng) => Tensor): LazyInit {
  return { shape, init };
}

abstract class Slot {
  /** Full state-dict key, assigned once by the root module (`Module.bindKeys`). */
  key = '';
  /** The init seed of the model this slot belongs to (assigned with the key by `Module.bindKeys`). */
  initSeed = 0;
  private _tensor: Tensor | null;
  private readonly initFn: ((rng: Rng) => Tensor) | null;
  readonly shape: number[];

  constructor(init: Tensor | LazyInit) {
    if (init instanceof Tensor) {
      this._tensor = init;
      this.initFn = null;
      this.shape = init.shape;
    } else {
      this._tensor = null;
      this.initFn = init.init;
      this.shape = [...init.shape];
    }
  }

  /** The tensor (initialised on first access, from a generator seeded by the key). */
  get tensor(): Tensor {
    if (!this._tensor) {
      if (!this.key) throw new Error('a parameter was read before its module tree was bound: call bindKeys() on the root module');
      this._tensor = this.initFn!(initRngFor(this.key, this.initSeed));
    }
    return this._tensor;
  }

  set tensor(t: Tensor) {
    if (t.shape.length !== this.shape.length || t.shape.some((d, i) => d !== this.shape[i]))
      throw new WeightsError(`${this.key}: cannot assign a tensor of shape [${t.shape}] to a slot of shape [${this.shape}]`);
    this._tensor = t;
  }

  /** Parameters are trained; buffers (BatchNorm running statistics) are not, and parameter counts skip them. */
  abstract readonly trainable: boolean;

  get dtype(): Tensor['dtype'] {
    return this._tensor?.dtype ?? 'float32';
  }

  get value(): Value {
    if (!this.key) throw new Error('a parameter was traced before its module tree was bound: call bindKeys() on the root module');
    return currentGraph().bindParameter(this, this.key, this);
  }
}

/** A trainable tensor. `value` binds it into the graph being traced. */
export class Parameter extends Slot {
  readonly trainable = true;
  /** Weight decay applies by default to tensors of rank ≥ 2 (matrices, kernels). */
  noWeightDecay: boolean;

  constructor(init: Tensor | LazyInit, opts: { noWeightDecay?: boolean } = {}) {
    super(init);
    this.noWeightDecay = opts.noWeightDecay ?? this.shape.length <= 1;
  }
}

/** A non-trainable tensor saved in the state dict (BatchNorm running statistics, …). */
export class Buffer extends Slot {
  readonly trainable = false;
  /** A strict load may lack it (the current value is kept): BatchNorm's num_batches_tracked. */
  readonly optional: boolean;

  constructor(init: Tensor | LazyInit, opts: { optional?: boolean } = {}) {
    super(init);
    this.optional = opts.optional ?? false;
  }
}

export abstract class Module {
  training = false;
  /**
   * Seed of the parameters' random initialisation, when this module is the root of a model: its
   * parameters draw from generators seeded by (this seed, their key) on first access. Set it before
   * `bindKeys` (createModel's `seed` option does); it is the model's own, not a global setting.
   */
  initSeed = 0;
  /** Full module path from the root (`stages.1.blocks.0`): its scope while tracing. */
  path = '';

  /** Children in declaration order (own properties that are modules). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) if (v instanceof Module) out.push([k, v]);
    return out;
  }

  /** This module and its descendants with their paths relative to this module. Does not change anything. */
  *modules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.modules(prefix ? `${prefix}.${k}` : k);
  }

  private *slots(): Generator<[string, Slot]> {
    for (const [path, m] of this.modules())
      for (const [k, v] of Object.entries(m)) if (v instanceof Slot) yield [path ? `${path}.${k}` : k, v];
  }

  /**
   * Make this module the root of its tree: every module's `path` and every parameter's and buffer's
   * `key` become their full names from here (timm's state-dict keys). Called by `createModel` and
   * before tracing a model; a sub-module's names are never changed by reading them.
   */
  bindKeys(): this {
    for (const [path, m] of this.modules()) m.path = path;
    for (const [name, s] of this.slots()) (s.key = name), (s.initSeed = this.initSeed);
    return this;
  }

  /**
   * Give names relative to this module to parameters and buffers that have none yet (a module used
   * on its own, never bound by a root): names already bound by a root are left alone.
   */
  private bindUnboundKeys(): void {
    if ([...this.slots()].some(([, s]) => !s.key)) {
      for (const [path, m] of this.modules()) if (!m.path) m.path = path;
      for (const [name, s] of this.slots()) if (!s.key) (s.key = name), (s.initSeed = this.initSeed);
    }
  }

  /** Parameters with their names relative to this module (the state-dict keys when called on the root). */
  namedParameters(): [string, Parameter][] {
    return [...this.slots()].filter((e): e is [string, Parameter] => e[1] instanceof Parameter);
  }

  namedBuffers(): [string, Buffer][] {
    return [...this.slots()].filter((e): e is [string, Buffer] => e[1] instanceof Buffer);
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + sizeOf(p.shape), 0);
  }

  /** name → tensor (parameters then buffers), timm key names. Tensors are shared, not copied. */
  stateDict(): Record<string, Tensor> {
    this.bindUnboundKeys();
    const sd: Record<string, Tensor> = {};
    for (const [k, p] of this.namedParameters()) sd[k] = p.tensor;
    for (const [k, b] of this.namedBuffers()) sd[k] = b.tensor;
    return sd;
  }

  /**
   * Load tensors by key. Strict (default): every key must be present, none unexpected, all shapes
   * equal — otherwise a WeightsError lists every missing, unexpected and mis-shaped key.
   * Non-strict: loads what fits and returns the lists.
   */
  loadStateDict(
    sd: Record<string, Tensor> | Map<string, Tensor>,
    opts: { strict?: boolean; source?: string } = {},
  ): { missing: string[]; unexpected: string[] } {
    this.bindUnboundKeys();
    const strict = opts.strict ?? true;
    const entries = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const targets = new Map<string, Parameter | Buffer>([...this.namedParameters(), ...this.namedBuffers()]);
    const missing = [...targets].filter(([k, t]) => !entries.has(k) && !(t instanceof Buffer && t.optional)).map(([k]) => k);
    const unexpected = [...entries.keys()].filter((k) => !targets.has(k));
    const misShaped: { key: string; expected: number[]; got: number[] }[] = [];
    for (const [k, t] of entries) {
      const target = targets.get(k);
      if (!target) continue;
      const exp = target.shape;
      if (t.shape.length !== exp.length || t.shape.some((d, i) => d !== exp[i]))
        misShaped.push({ key: k, expected: exp, got: t.shape });
    }
    if (misShaped.length || (strict && (missing.length || unexpected.length))) {
      throw new WeightsError(describeMismatch(opts.source, missing, unexpected, misShaped), missing, unexpected, misShaped);
    }
    for (const [k, t] of entries) {
      const target = targets.get(k);
      if (!target) continue;
      target.tensor = toDtype(t, target.dtype);
    }
    return { missing, unexpected };
  }

  /** Run `forward` inside this module's scope, so shape errors and profiles name its path. */
  call<A extends unknown[], R>(this: Module & { forward(...a: A): R }, ...args: A): R {
    return currentGraph().inScope(this.path, () => this.forward(...args));
  }

  train(on = true): this {
    for (const [, m] of this.modules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }
}

function toDtype(t: Tensor, dtype: Tensor['dtype']): Tensor {
  if (t.dtype === dtype) return t;
  if (dtype === 'float32' && (t.dtype === 'float64' || t.dtype === 'int32' || t.dtype === 'uint8'))
    return new Tensor(Float32Array.from(t.data as ArrayLike<number>), t.shape, 'float32');
  if (dtype === 'float64' && t.dtype === 'float32') return new Tensor(Float64Array.from(t.data as Float32Array), t.shape, 'float64');
  if (dtype === 'float32' && t.dtype === 'int64')
    return new Tensor(Float32Array.from(t.data as BigInt64Array, (v) => Number(v)), t.shape, 'float32');
  if (dtype === 'int64' && t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'float16')
    return new Tensor(BigInt64Array.from(t.toArray(), (v) => BigInt(v)), t.shape, 'int64');
  throw new WeightsError(`cannot convert a ${t.dtype} tensor to ${dtype}`);
}

function describeMismatch(
  source: string | undefined,
  missing: string[],
  unexpected: string[],
  misShaped: { key: string; expected: number[]; got: number[] }[],
): string {
  const list = (xs: string[]) => (xs.length > 12 ? [...xs.slice(0, 12), `… (${xs.length - 12} more)`] : xs).join(', ');
  const parts = [`state dict${source ? ` from ${source}` : ''} does not match the model:`];
  if (missing.length) parts.push(`missing keys (${missing.length}): ${list(missing)}`);
  if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${list(unexpected)}`);
  if (misShaped.length)
    parts.push(
      `mis-shaped keys (${misShaped.length}): ${list(misShaped.map((m) => `${m.key} expected [${m.expected}] got [${m.got}]`))}`,
    );
  return parts.join('\n  ');
}

