/**
 * The traced graph: symbolic values, nodes, and the op definitions they point to.
 *
 * A model's forward pass, run on `Value`s, appends `Node`s to the current `Graph`. Each node refers
 * to an `OpDef`, the single place that knows the op's shape rule, its ONNX emission and its VJP rule.
 */
import { ShapeError } from '../errors.js';
import type { DType, Tensor } from '../tensor.js';
import type { Rng } from '../util/rng.js';
import type { Emitter } from './emit.js';

export type Shape = readonly number[];

/** A symbolic tensor: static shape and dtype, produced by a node (or a graph input / constant). */
export class Value {
  /** Optional stable name (graph inputs/outputs, parameters); others get `v<id>`. */
  name: string | undefined;

  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly producer: Node | null,
    /** Index of this value among its producer's outputs. */
    readonly outputIndex = 0,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }

  toString(): string {
    return `${this.dtype}[${this.shape.join(',')}]`;
  }
}

export interface Node<A = unknown> {
  readonly id: number;
  readonly op: OpDef<A>;
  readonly inputs: Value[];
  readonly outputs: Value[];
  readonly attrs: A;
  /** Module path active when the node was traced (for errors and profiles). */
  readonly scope: string;
}

export interface OutputSpec {
  shape: Shape;
  dtype: DType;
}

/** Gradient context handed to VJP rules: the forward node plus helpers. */
export interface VjpArgs<A> {
  node: Node<A>;
  inputs: Value[];
  outputs: Value[];
  attrs: A;
  /** Gradients of the loss w.r.t. each output; null where an output does not reach the loss. */
  dys: (Value | null)[];
  /** Which inputs need a gradient (rules may skip work for the others). */
  needs: boolean[];
}

export interface OpDef<A = unknown> {
  /** Our op name (usually the ONNX op type). */
  readonly type: string;
  /** Shape rule: validates inputs and returns output shapes/dtypes. Throw `ShapeError` via `fail`. */
  infer(inputs: Value[], attrs: A, fail: (msg: string) => never): OutputSpec[];
  /** ONNX emission: one or more ONNX nodes computing `outputs` from `inputs`. */
  emit(e: Emitter, node: Node<A>): void;
  /** VJP rule: gradients w.r.t. inputs (null = no gradient). Absent = not differentiable. */
  vjp?(args: VjpArgs<A>): (Value | null)[];
  /** Inputs that never carry a gradient (indices, shapes). */
  readonly nonDiff?: readonly number[];
}

/** Every op defined so far, by type: the op set, enumerable (tests check each VJP rule has a gradient check). */
const registry = new Map<string, OpDef<never>>();

/** Define an op and register it under its type; two definitions of one type are a programming error. */
export function defineOp<A>(def: OpDef<A>): OpDef<A> {
  if (registry.has(def.type)) throw new Error(`defineOp: an op of type '${def.type}' is already defined`);
  registry.set(def.type, def as OpDef<never>);
  return def;
}

/** One registered op: its type, its definition, and whether it has a VJP rule (is differentiable). */
export interface RegisteredOp {
  readonly type: string;
  readonly op: OpDef<never>;
  readonly hasVjp: boolean;
}

/** The registered ops in definition order (import `graph/ops/index.js` first to have the whole op set). */
export function registeredOps(): RegisteredOp[] {
  return [...registry].map(([type, op]) => ({ type, op, hasVjp: op.vjp !== undefined }));
}

/** What a graph value is bound to when it is not computed by a node. */
export type Binding =
  | { kind: 'input' }
  | { kind: 'constant'; tensor: Tensor }
  /** A model parameter: an initializer in inference graphs, an input in training graphs. */
  | { kind: 'param'; key: string; source: ParamSource; asInput: boolean };

/** Where a parameter's tensor comes from (read only when the graph is serialised or fed). */
export interface ParamSource {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly tensor: Tensor;
  /** False for buffers (BatchNorm running statistics): state, not parameters, in the counts. */
  readonly trainable?: boolean;
}

/**
 * How a random graph input is drawn for each run, from the caller's seeded generator (drop-path keep
 * masks, FCMAE patch masks, Mixup permutations, …). Whoever declares the input says how to draw it.
 */
export interface RandomDraw {
  /** What is drawn, for messages and tests ('drop path, keep 0.9'). */
  readonly describe: string;
  draw(rng: Rng, shape: Shape): Tensor;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly bindings = new Map<Value, Binding>();
  private nextId = 0;
  private scopes: string[] = [];
  private constCache = new Map<string, Value>();

  constructor(readonly name = 'visionmix') {}

  get scope(): string {
    return this.scopes[this.scopes.length - 1] ?? '';
  }

  /** Run `fn` with `path` (an absolute module path such as `stages.1.blocks.0`) as the scope. */
  inScope<T>(path: string, fn: () => T): T {
    this.scopes.push(path);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private newValue(shape: Shape, dtype: DType, producer: Node | null, index = 0): Value {
    return new Value(this, this.nextId++, [...shape], dtype, producer, index);
  }

  /** A named graph input (batch, labels, lr, …). */
  input(name: string, shape: Shape, dtype: DType = 'float32'): Value {
    const v = this.newValue(shape, dtype, null);
    v.name = name;
    this.inputs.push(v);
    this.bindings.set(v, { kind: 'input' });
    return v;
  }

  /** A parameter with its state-dict key; becomes an initializer or (asInput) a graph input. */
  param(key: string, source: ParamSource, asInput: boolean): Value {
    const v = this.newValue(source.shape, source.dtype, null);
    v.name = key;
    this.bindings.set(v, { kind: 'param', key, source, asInput });
    if (asInput) this.inputs.push(v);
    return v;
  }

  /** Parameters become graph inputs (training graphs) instead of initializers (inference). */
  paramsAsInputs = false;
  /**
   * ONNX Runtime's NCHWc block size the graph will be emitted for (`EmitOptions.nchwcBlock`), set
   * before differentiating a train step's loss: gradient formulations that only pay on the NCHWc
   * kernels are chosen by it (conv.ts's dense weight gradient). 0: standard ONNX.
   */
  nchwcBlock = 0;
  private paramValues = new Map<object, Value>();

  /** The graph value of a model parameter (created on first use, then shared). */
  bindParameter(owner: object, key: string, source: ParamSource): Value {
    let v = this.paramValues.get(owner);
    if (!v) {
      v = this.param(key, source, this.paramsAsInputs);
      this.paramValues.set(owner, v);
    }
    return v;
  }

  /** Bound parameter values by state-dict key. */
  parameterValues(): Map<string, Value> {
    const m = new Map<string, Value>();
    for (const v of this.paramValues.values()) m.set(v.name!, v);
    return m;
  }

  /**
   * Random inputs requested while tracing (drop-path keep masks, …). They are generated in
   * TypeScript from a seeded PRNG and fed each step, because ORT's random ops cannot be seeded per
   * run (and its Bernoulli is inverted in 1.30; see ENGINE.md).
   */
  readonly randomInputs: { value: Value; spec: RandomDraw }[] = [];

  randomInput(name: string, shape: Shape, spec: RandomDraw, dtype: DType = 'float32'): Value {
    // A module called twice in one forward (the reference CMT block applies one `drop_path` to both
    // branches, its IRFFN one `drop` twice) draws independently each time: later calls get `name.2`, …
    let unique = name;
    for (let i = 2; this.inputs.some((v) => v.name === unique); i++) unique = `${name}.${i}`;
    const v = this.input(unique, shape, dtype);
    this.randomInputs.push({ value: v, spec });
    return v;
  }

  /**
   * Inputs computed in TypeScript from another input once its value is known (FCMAE's visible-position
   * indices from the patch mask, drawn or given): data preparation, fed like any input.
   */
  readonly derivedInputs: { value: Value; from: Value; derive: (source: Tensor) => Tensor }[] = [];

  /** `derive` runs at every feed; it may throw a typed error for a source it cannot serve. */
  derivedInput(name: string, shape: Shape, dtype: DType, from: Value, derive: (source: Tensor) => Tensor): Value {
    if (!from.name || !this.inputs.includes(from)) throw new Error(`derivedInput ${name}: its source must be a named graph input`);
    const v = this.input(name, shape, dtype);
    this.derivedInputs.push({ value: v, from, derive });
    return v;
  }

  /**
   * Draw every random input, in declaration order, from `rng` — except those `given` already
   * (a caller may fix a mask) — then compute the derived inputs from the drawn and given values.
   * The order is the graph's, so a seeded run repeats exactly.
   */
  drawRandomInputs(rng: Rng, given: Record<string, unknown> = {}): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const { value, spec } of this.randomInputs) {
      if (value.name! in given) continue;
      feeds[value.name!] = spec.draw(rng, value.shape);
    }
    for (const { value, from, derive } of this.derivedInputs) {
      if (value.name! in given) continue;
      const source = (feeds[from.name!] ?? given[from.name!]) as Tensor | undefined;
      if (!source) throw new Error(`input ${value.name} is derived from ${from.name}, which was neither drawn nor given`);
      const t = derive(source);
      if (t.dtype !== value.dtype || t.shape.length !== value.rank || t.shape.some((d, i) => d !== value.shape[i]))
        throw new Error(`derived input ${value.name}: got ${t.dtype} [${t.shape}], the graph wants ${value.toString()}`);
      feeds[value.name!] = t;
    }
    return feeds;
  }

  /**
   * New values for buffers computed in training mode (BatchNorm running statistics). A train-step
   * graph returns them as outputs; inference graphs ignore them.
   */
  readonly bufferUpdates = new Map<string, Value>();

  updateBuffer(key: string, value: Value): void {
    this.bufferUpdates.set(key, value);
  }

  /**
   * A constant tensor (an initializer). Small constants are shared by value; large ones by `key`
   * where the caller names what determines their values (two keyed constants must not differ).
   */
  constant(make: Tensor | (() => Tensor), key?: string): Value {
    // A keyed constant is looked up before it is made: given as a function, a large one is only
    // built on the key's first use.
    const build = () => (typeof make === 'function' ? make() : make);
    let cacheKey = key === undefined ? undefined : `key|${key}`;
    let tensor: Tensor | undefined;
    if (cacheKey === undefined) {
      tensor = build();
      if (tensor.size <= 16) cacheKey = `${tensor.dtype}|${tensor.shape.join(',')}|${tensor.toArray().join(',')}`;
    }
    const hit = cacheKey === undefined ? undefined : this.constCache.get(cacheKey);
    if (hit) return hit;
    tensor ??= build();
    const v = this.newValue(tensor.shape, tensor.dtype, null);
    this.bindings.set(v, { kind: 'constant', tensor });
    if (cacheKey) this.constCache.set(cacheKey, v);
    return v;
  }

  /** Output names by value; a value is an output at most once. */
  readonly outputNames = new Map<Value, string>();

  markOutput(v: Value, name: string): void {
    if (v.graph !== this) throw new Error(`markOutput: value ${name} belongs to another graph`);
    if (this.outputNames.has(v)) throw new Error(`markOutput: value is already output ${this.outputNames.get(v)}`);
    this.outputs.push(v);
    this.outputNames.set(v, name);
  }

  /** Append a node after running the op's shape rule. */
  apply<A>(op: OpDef<A>, inputs: Value[], attrs: A): Value[] {
    for (const x of inputs) {
      if (x.graph !== this)
        throw new ShapeError(`${op.type} at ${this.scope || '<root>'}: an input belongs to another graph`);
    }
    const scope = this.scope;
    const fail = (msg: string): never => {
      throw new ShapeError(
        `${op.type} at ${scope || '<root>'}: ${msg} (inputs: ${inputs.map((x) => x.toString()).join(', ')})`,
      );
    };
    const specs = op.infer(inputs, attrs, fail);
    const node: Node<A> = { id: this.nodes.length, op, inputs, outputs: [], attrs, scope };
    specs.forEach((s, i) => node.outputs.push(this.newValue(s.shape, s.dtype, node as Node, i)));
    this.nodes.push(node as Node);
    return node.outputs;
  }
}

// ---- the current graph (tracing context) ------------------------------------------------------

const stack: Graph[] = [];

export function currentGraph(): Graph {
  const g = stack[stack.length - 1];
  if (!g) throw new Error('no graph is being traced (call inside trace())');
  return g;
}

export function tracing(): boolean {
  return stack.length > 0;
}

export function withGraph<T>(g: Graph, fn: () => T): T {
  stack.push(g);
  try {
    return fn();
  } finally {
    stack.pop();
  }
}
