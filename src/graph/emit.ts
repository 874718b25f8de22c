/**
 * Serialise a traced `Graph` to an ONNX ModelProto (opset-aware; opset 17 by default), in two steps:
 * `emitModel` turns the graph into an `OnnxModel` (plain ONNX nodes, initializers, inputs and
 * outputs) that graph-to-graph passes may rewrite (fp16 weights: graph/fp16.ts), and `serializeModel`
 * writes it, optionally with large tensors as external data. `toModelProto` does both.
 *
 * Only nodes that the outputs depend on are emitted, and optional outputs nobody reads are left
 * unnamed — ORT then skips computing them (LayerNormalization's Mean/InvStdDev in inference).
 *
 * A symbolic batch dimension (export): shapes are static while tracing, so an exported graph is
 * traced at a stand-in batch size, `SYMBOLIC_BATCH`, a prime larger than any other dimension — any
 * integer the emission writes that is a multiple of it depends on the batch and nothing else can
 * be. The emitter then writes such shapes so that they hold for any batch: Reshape targets with 0
 * (copy the input's dim) or -1 (infer it), other shapes computed from the input's `Shape`. Inputs
 * and outputs get the `dim_param` 'batch'. A graph that bakes the batch anywhere else (an attribute,
 * a constant) throws `StaticBatchError`, naming the node, and is exported with a static batch instead.
 */
import { ShapeError } from '../errors.js';
import { Tensor, type DType } from '../tensor.js';
import { ProtoWriter } from './protobuf.js';
import type { Binding, Graph, Node, Value } from './graph.js';

export type Attr =
  | { i: number }
  | { f: number }
  | { s: string }
  | { ints: readonly number[] }
  | { floats: readonly number[] }
  | { t: Tensor };

export const attr = {
  int: (i: number): Attr => ({ i }),
  float: (f: number): Attr => ({ f }),
  str: (s: string): Attr => ({ s }),
  ints: (ints: readonly number[]): Attr => ({ ints }),
  floats: (floats: readonly number[]): Attr => ({ floats }),
};

const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

export function onnxDType(d: DType): number {
  return ONNX_DTYPE[d];
}

/**
 * What the graph is emitted for. One graph builder serves every target; where a runtime cannot run a
 * node as the CPU emission writes it, the op's emission lowers it exactly for that target:
 *  - 'webgpu': no node touches more than `WEBGPU_MAX_NODE_TENSORS` tensors (the WebGPU EP's
 *    storage-buffer limit: wide Concats become trees, wide Splits one Slice per output) and no Slice
 *    has a negative step (onnxruntime-web's JSEP build gets its shape wrong: a Gather of the reversed
 *    indices instead). See ../shared/ENGINE.md, "WebGPU" and "The browser, measured".
 */
export type Target = 'cpu' | 'wasm' | 'webgpu';

/** Inputs + outputs of one node, at most, on WebGPU (native EP: Split ≥ 10 outputs throws; JSEP: > 8 buffers is garbage). */
export const WEBGPU_MAX_NODE_TENSORS = 7;

/**
 * The stand-in batch size of graphs exported with a symbolic batch: a prime above any dimension a
 * model has (channels, tokens, classes, …), so a multiple of it can only come from the batch. Graphs
 * are only traced at it, never run (products of shapes stay far below 2^53).
 */
export const SYMBOLIC_BATCH = 1_000_003;

/** The graph bakes the batch size where the emitter cannot make it symbolic (export falls back to a static batch). */
export class StaticBatchError extends ShapeError {}

export interface EmitOptions {
  opset?: number;
  /** The runtime the graph is for (default 'cpu'): see `Target`. */
  target?: Target;
  /**
   * The graph was traced with `SYMBOLIC_BATCH` as its batch size (or this value): emit it as the
   * symbolic dimension 'batch' (see the file comment). Throws `StaticBatchError` where impossible.
   */
  symbolicBatch?: number;
  producer?: string;
  /** Write parameters bound as initializers into the model (default true). */
  includeInitializers?: boolean;
  /**
   * ONNX Runtime's NCHWc block size on this machine (`nchwcBlockSize` in runtime/node.ts: 16 with
   * AVX-512, 8 with AVX2), for graphs only onnxruntime-node's CPU EP runs (train steps): depthwise
   * and dense k×k convs with weights fed at run time are emitted as its `com.microsoft.nchwc`
   * kernels (see conv_nchwc.ts). 0 or absent (exports, browsers, other EPs): standard ONNX only.
   */
  nchwcBlock?: number;
}

export interface OnnxNode {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
  name: string;
}

/** Handed to each op's `emit`: builds ONNX nodes and names values. */
export class Emitter {
  readonly opset: number;
  readonly nodes: OnnxNode[] = [];
  readonly extraInitializers: { name: string; tensor: Tensor }[] = [];
  private tmpCount = 0;
  private used = new Set<Value>();
  private names = new Map<Value, string>();
  private constNames = new Map<string, string>();
  currentScope = '';

  /**
   * `bindings`: what the graph's non-computed values are bound to, so that an emission rule can choose
   * by whether an input is known when the model is built (a constant or an initializer) or fed at run
   * time. Without them every value counts as fed.
   */
  constructor(
    opset: number,
    private readonly bindings: ReadonlyMap<Value, Binding> = new Map(),
    readonly target: Target = 'cpu',
    /** The traced batch size standing for the symbolic batch (0: all shapes static). */
    readonly symbolicBatch = 0,
    /** The graph input whose dim 0 is the batch (its `Shape` gives the batch at run time). */
    private readonly batchSource = '',
    /** `EmitOptions.nchwcBlock` (0: no NCHWc kernels). */
    readonly nchwcBlock = 0,
  ) {
    this.opset = opset;
  }

  /** k where `d` = k × the symbolic batch, else 0 (a static dimension). */
  batchFactor(d: number): number {
    return this.symbolicBatch > 0 && d !== 0 && d % this.symbolicBatch === 0 ? d / this.symbolicBatch : 0;
  }

  /** True for a value written into the model (a constant, or a parameter bound as an initializer); false for inputs and computed values. */
  isInitializer(v: Value): boolean {
    const b = this.bindings.get(v);
    return b?.kind === 'constant' || (b?.kind === 'param' && !b.asInput);
  }

  /** @internal */ setUsed(used: Set<Value>, names: Map<Value, string>): void {
    this.used = used;
    this.names = names;
  }

  name(v: Value): string {
    let n = this.names.get(v);
    if (n === undefined) {
      n = v.name ?? `v${v.id}`;
      this.names.set(v, n);
    }
    return n;
  }

  /** The value's name if anything reads it, else '' (an omitted optional output). */
  nameIfUsed(v: Value): string {
    return this.used.has(v) ? this.name(v) : '';
  }

  isUsed(v: Value): boolean {
    return this.used.has(v);
  }

  tmp(hint = 't'): string {
    return `${hint}_${this.tmpCount++}`;
  }

  /** Append an ONNX node; inputs/outputs may be Values or names. Returns the output names. */
  node(
    opType: string,
    inputs: readonly (Value | string)[],
    outputs: readonly (Value | string)[] | number,
    attrs: Record<string, Attr> = {},
    domain = '',
  ): string[] {
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.tmp(opType))
        : outputs.map((o) => (typeof o === 'string' ? o : this.name(o)));
    this.nodes.push({
      opType,
      domain,
      inputs: inputs.map((x) => (typeof x === 'string' ? x : this.name(x))),
      outputs: outs,
      attrs,
      name: `${this.currentScope ? this.currentScope + '/' : ''}${opType}_${this.nodes.length}`,
    });
    return outs;
  }

  /**
   * A constant initializer, shared by value (or by `key` for large ones, which may then come as a
   * function that builds the tensor on the key's first use); returns its name.
   */
  constant(make: Tensor | (() => Tensor), key?: string): string {
    const known = key === undefined ? undefined : this.constNames.get(key);
    if (known !== undefined) return known;
    const tensor = typeof make === 'function' ? make() : make;
    key ??= `${tensor.dtype}|${tensor.shape.join(',')}|${Array.from(tensor.data as ArrayLike<number | bigint>).join(',')}`;
    let n = this.constNames.get(key);
    if (n === undefined) {
      n = `const_${this.constNames.size}`;
      this.constNames.set(key, n);
      this.extraInitializers.push({ name: n, tensor });
    }
    return n;
  }

  /** A 1-D int64 shape (or index list); with a symbolic batch, one computed at run time where it depends on the batch. */
  int64s(values: readonly number[]): string {
    if (values.some((v) => this.batchFactor(v) !== 0)) return this.batchDependentInts(values);
    return this.constant(new Tensor(BigInt64Array.from(values, (v) => BigInt(v)), [values.length], 'int64'));
  }

  /**
   * The shape input of a Reshape of a tensor shaped `input` to `target`: a leading dim equal to the
   * input's is written 0 ("copy") — that keeps a symbolic batch without computing anything — and a
   * single remaining batch-dependent dim -1 ("infer"); only a target with two or more batch-dependent
   * dims left needs a shape computed at run time.
   */
  reshapeShape(input: readonly number[], target: readonly number[]): string {
    const spec = target.map((d, i) => (i === 0 && d === input[0] && d !== 0 ? 0 : d));
    const dependent = spec.flatMap((d, i) => (this.batchFactor(d) !== 0 ? [i] : []));
    if (dependent.length === 1) spec[dependent[0]!] = -1;
    return this.int64s(dependent.length <= 1 ? spec : target);
  }

  /** Batch-dependent int lists already computed, by value. */
  private batchNames = new Map<string, string>();
  private batchSizeName = '';

  /** [N] (int64, shape [1]) read from the batch source at run time. */
  private batchSize(): string {
    if (!this.batchSizeName) {
      if (!this.batchSource) throw new StaticBatchError('symbolic batch: no graph input has the batch as its first dimension');
      this.batchSizeName = this.node('Shape', [this.batchSource], 1, { start: attr.int(0), end: attr.int(1) })[0]!;
    }
    return this.batchSizeName;
  }

  /** Concat of constant runs and k·N pieces: a shape that holds for any batch N. */
  private batchDependentInts(values: readonly number[]): string {
    const key = values.join(',');
    const hit = this.batchNames.get(key);
    if (hit !== undefined) return hit;
    const pieces: string[] = [];
    let run: number[] = [];
    const flush = () => {
      if (run.length) pieces.push(this.int64s(run));
      run = [];
    };
    for (const v of values) {
      const k = this.batchFactor(v);
      if (k === 0) {
        run.push(v);
        continue;
      }
      flush();
      pieces.push(k === 1 ? this.batchSize() : this.node('Mul', [this.batchSize(), this.int64s([k])], 1)[0]!);
    }
    flush();
    const [out] = pieces.length === 1 ? pieces : this.node('Concat', pieces, 1, { axis: attr.int(0) });
    this.batchNames.set(key, out!);
    return out!;
  }
}

/** The operator set of ONNX Runtime's NCHWc kernels (CPU EP only; `EmitOptions.nchwcBlock`). */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** An initializer of an emitted model. */
export interface OnnxInitializer {
  name: string;
  tensor: Tensor;
  /** A model parameter or buffer (its weights), as opposed to a constant of the graph itself. */
  param: boolean;
  /** Written as ONNX INT8 (the bytes of a uint8 tensor: visionmix tensors have no int8 dtype). */
  onnxType?: 'int8';
}

/** A graph input or output: its dims are sizes or symbolic names ('batch'). */
export interface OnnxValueInfo {
  name: string;
  dtype: DType;
  dims: (number | string)[];
  /** Written without a shape (`dims` ignored): an intermediate value read out for inspection (int8 calibration). */
  shapeUnknown?: boolean;
}

/** An emitted ONNX model before serialisation: what graph-to-graph passes (graph/fp16.ts) rewrite. */
export interface OnnxModel {
  name: string;
  opset: number;
  producer: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** ModelProto.metadata_props, in order. */
  metadata: [string, string][];
  /** Extra operator sets imported besides the default domain (name → version). */
  domains: Record<string, number>;
}

/** Nodes the given outputs depend on, in trace order, and every value they read. */
export function liveSet(graph: Graph): { nodes: Node[]; used: Set<Value> } {
  const used = new Set<Value>(graph.outputs);
  const live: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i]!;
    if (!n.outputs.some((o) => used.has(o))) continue;
    live.push(n);
    for (const x of n.inputs) used.add(x);
  }
  live.reverse();
  return { nodes: live, used };
}

/** The ONNX nodes a graph emits (the live nodes' emissions), with the values it uses. */
function emitNodes(graph: Graph, opset: number, target: Target = 'cpu', symbolicBatch = 0, nchwcBlock = 0): { e: Emitter; used: Set<Value> } {
  const source = symbolicBatch > 0 ? graph.inputs.find((v) => v.shape[0] === symbolicBatch) : undefined;
  const e = new Emitter(opset, graph.bindings, target, symbolicBatch, source ? (source.name ?? `v${source.id}`) : '', nchwcBlock);
  const { nodes, used } = liveSet(graph);

  // Output values take their output names, unless they are also graph inputs/bound values
  // (then an Identity node produces the output).
  const names = new Map<Value, string>();
  const identities: [Value, string][] = [];
  for (const v of graph.outputs) {
    const outName = graph.outputNames.get(v)!;
    if (v.producer === null) identities.push([v, outName]);
    else names.set(v, outName);
  }
  e.setUsed(used, names);

  for (const n of nodes) {
    e.currentScope = n.scope;
    n.op.emit(e, n);
  }
  e.currentScope = '';
  for (const [v, outName] of identities) e.node('Identity', [v], [outName]);
  return { e, used };
}

/** ONNX nodes the graph emits, by op type (what a runtime is handed before its own fusions). */
export function onnxOpCounts(graph: Graph, opts: Pick<EmitOptions, 'opset' | 'target' | 'nchwcBlock'> = {}): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of emitNodes(graph, opts.opset ?? 17, opts.target, 0, opts.nchwcBlock).e.nodes) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
  return counts;
}

/**
 * The ONNX nodes as emitted for a target — op type, input and output names, and the values of the
 * int64 constants among the inputs (null for other inputs) — for checks of what a runtime is handed.
 */
export function emittedNodes(
  graph: Graph,
  opts: Pick<EmitOptions, 'opset' | 'target'> = {},
): { opType: string; inputs: string[]; outputs: string[]; intInputs: (number[] | null)[] }[] {
  const { e } = emitNodes(graph, opts.opset ?? 17, opts.target);
  const ints = new Map(e.extraInitializers.filter((c) => c.tensor.dtype === 'int64').map((c) => [c.name, c.tensor.toArray()] as const));
  return e.nodes.map((n) => ({ opType: n.opType, inputs: [...n.inputs], outputs: [...n.outputs], intInputs: n.inputs.map((i) => ints.get(i) ?? null) }));
}

/** Emit a traced graph as an `OnnxModel` (nodes, initializers, signature), ready for passes and `serializeModel`. */
export function emitModel(graph: Graph, opts: EmitOptions = {}): OnnxModel {
  const opset = opts.opset ?? 17;
  const batch = opts.symbolicBatch ?? 0;
  const { e, used } = emitNodes(graph, opset, opts.target, batch, opts.nchwcBlock);
  const initializers: OnnxInitializer[] = [];
  const includeInit = opts.includeInitializers ?? true;
  for (const [v, b] of graph.bindings) {
    if (!used.has(v)) continue;
    if (b.kind === 'constant') initializers.push({ name: e.name(v), tensor: b.tensor, param: false });
    else if (b.kind === 'param' && !b.asInput && includeInit) initializers.push({ name: e.name(v), tensor: b.source.tensor, param: true });
  }
  for (const { name, tensor } of e.extraInitializers) initializers.push({ name, tensor, param: false });
  const dims = (shape: readonly number[]): (number | string)[] =>
    shape.map((d) => {
      const k = e.batchFactor(d);
      return k === 0 ? d : k === 1 ? 'batch' : `${k}*batch`;
    });
  const model: OnnxModel = {
    name: graph.name,
    opset,
    producer: opts.producer ?? 'visionmix',
    nodes: e.nodes,
    initializers,
    // Unused inputs are still declared so that callers can feed a fixed signature.
    inputs: graph.inputs.map((v) => ({ name: e.name(v), dtype: v.dtype, dims: dims(v.shape) })),
    outputs: graph.outputs.map((v) => ({ name: graph.outputNames.get(v)!, dtype: v.dtype, dims: dims(v.shape) })),
    metadata: [],
    domains: { 'com.microsoft': 1, ...(e.nodes.some((n) => n.domain === NCHWC_DOMAIN) ? { [NCHWC_DOMAIN]: 1 } : {}) },
  };
  if (batch > 0) checkNoBakedBatch(model, e);
  return model;
}

/**
 * With a symbolic batch, no integer the graph holds may still be a multiple of the stand-in batch
 * (the emitter rewrote those in shapes it writes): one left in an attribute or a constant means the
 * graph only works at the traced batch. Float constants are checked too (a mean over the batch
 * divides by it). Weights are not looked at: they never depend on the batch; nor are constants over
 * 4096 elements (position tables, pooling matrices): their values are indices and coefficients, and
 * a batch-sized constant could not have been built at the stand-in batch anyway.
 */
function checkNoBakedBatch(m: OnnxModel, e: Emitter): void {
  const baked = (v: number) => {
    if (Math.abs(v) < e.symbolicBatch / 2) return false;
    const k = v / e.symbolicBatch;
    return Math.abs(k - Math.round(k)) < 1e-6 * Math.abs(k);
  };
  const fail = (where: string): never => {
    throw new StaticBatchError(`the graph bakes the batch size into ${where}: it cannot take a symbolic batch dimension`);
  };
  for (const n of m.nodes)
    for (const [k, a] of Object.entries(n.attrs)) {
      const vals = 'i' in a ? [a.i] : 'f' in a ? [a.f] : 'ints' in a ? a.ints : 'floats' in a ? a.floats : 't' in a ? tensorNumbers(a.t) : [];
      if (vals.some(baked)) fail(`attribute '${k}' of node ${n.name} (${n.opType})`);
    }
  for (const init of m.initializers) {
    if (init.param || init.tensor.size > 4096) continue;
    if (tensorNumbers(init.tensor).some(baked)) fail(`the constant ${init.name} [${init.tensor.shape.join(',')}]`);
  }
}

function tensorNumbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

// ---- serialisation ------------------------------------------------------------------------------

/** Where tensors go when they are written as ONNX external data. */
export interface ExternalDataOptions {
  /** The data file's name, relative to the model file (ONNX's `location`). */
  location: string;
  /** Tensors of at least this many bytes go to the file; smaller ones stay inline (default 1024, as onnx's tools). */
  threshold?: number;
}

/** A serialised model: the ModelProto bytes and, with external data, the data file's chunks in order. */
export interface SerializedModel {
  model: Uint8Array;
  /** Chunks of the external data file, each at its offset (aligned), in file order. */
  external: { offset: number; bytes: Uint8Array }[];
  /** The external data file's size in bytes (0 without external data). */
  externalBytes: number;
}

function rawBytes(t: Tensor): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

const ONNX_INT8 = 3;

function tensorProto(name: string, t: Tensor, int8 = false): ProtoWriter {
  const w = new ProtoWriter();
  w.packedInts(1, t.shape);
  w.int(2, int8 ? ONNX_INT8 : onnxDType(t.dtype));
  w.string(8, name);
  w.bytes(9, rawBytes(t));
  return w;
}

/** A TensorProto whose data lives in the external file (data_location EXTERNAL, location/offset/length entries). */
function externalTensorProto(name: string, t: Tensor, int8: boolean, location: string, offset: number, length: number): ProtoWriter {
  const w = new ProtoWriter();
  w.packedInts(1, t.shape);
  w.int(2, int8 ? ONNX_INT8 : onnxDType(t.dtype));
  w.string(8, name);
  const entry = (k: string, v: string) => new ProtoWriter().string(1, k).string(2, v);
  w.message(13, entry('location', location));
  w.message(13, entry('offset', String(offset)));
  w.message(13, entry('length', String(length)));
  w.int(14, 1); // data_location = EXTERNAL
  return w;
}

function valueInfo(v: OnnxValueInfo): ProtoWriter {
  const shapeW = new ProtoWriter();
  for (const d of v.dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'string') dim.string(2, d);
    else dim.int(1, d);
    shapeW.message(1, dim);
  }
  const tensorType = new ProtoWriter().int(1, onnxDType(v.dtype));
  if (!v.shapeUnknown) tensorType.message(2, shapeW);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}

function attributeProto(name: string, a: Attr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('i' in a) w.int(3, a.i).int(20, 2);
  else if ('f' in a) w.float(2, a.f).int(20, 1);
  else if ('s' in a) w.string(4, a.s).int(20, 3);
  else if ('ints' in a) w.packedInts(8, a.ints).int(20, 7);
  else if ('floats' in a) w.packedFloats(7, a.floats).int(20, 6);
  else w.message(5, tensorProto('', a.t)).int(20, 4);
  return w;
}

/** Offsets in external data files are aligned so that readers may map tensors directly. */
const EXTERNAL_ALIGN = 64;

/** Write an `OnnxModel` as ModelProto bytes, with tensors above the threshold as external data when asked. */
export function serializeModel(m: OnnxModel, opts: { externalData?: ExternalDataOptions } = {}): SerializedModel {
  const g = new ProtoWriter();
  for (const n of m.nodes) {
    const w = new ProtoWriter();
    for (const x of n.inputs) w.string(1, x);
    for (const y of n.outputs) w.string(2, y);
    w.string(3, n.name).string(4, n.opType);
    if (n.domain) w.string(7, n.domain);
    for (const [k, a] of Object.entries(n.attrs)) w.message(5, attributeProto(k, a));
    g.message(1, w);
  }
  g.string(2, m.name);
  const external: SerializedModel['external'] = [];
  let offset = 0;
  const ext = opts.externalData;
  for (const { name, tensor, onnxType } of m.initializers) {
    const bytes = rawBytes(tensor);
    const int8 = onnxType === 'int8';
    if (ext && bytes.byteLength >= (ext.threshold ?? 1024)) {
      offset = Math.ceil(offset / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      external.push({ offset, bytes });
      g.message(5, externalTensorProto(name, tensor, int8, ext.location, offset, bytes.byteLength));
      offset += bytes.byteLength;
    } else g.message(5, tensorProto(name, tensor, int8));
  }
  for (const v of m.inputs) g.message(11, valueInfo(v));
  for (const v of m.outputs) g.message(12, valueInfo(v));

  const w = new ProtoWriter();
  w.int(1, m.opset >= 21 ? 10 : m.opset >= 19 ? 9 : 8); // IR version matching the opset
  w.string(2, m.producer);
  w.string(3, '0.1.0');
  w.message(7, g);
  w.message(8, new ProtoWriter().string(1, '').int(2, m.opset));
  for (const [domain, version] of Object.entries(m.domains)) w.message(8, new ProtoWriter().string(1, domain).int(2, version));
  for (const [k, v] of m.metadata) w.message(14, new ProtoWriter().string(1, k).string(2, v));
  return { model: w.finish(), external, externalBytes: offset };
}

export function toModelProto(graph: Graph, opts: EmitOptions = {}): Uint8Array {
  return serializeModel(emitModel(graph, opts)).model;
}
