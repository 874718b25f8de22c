/**
 * Serialise a traced `Graph` to an ONNX ModelProto (opset-aware; opset 17 by default).
 *
 * Only nodes that the outputs depend on are emitted, and optional outputs nobody reads are left
 * unnamed — ORT then skips computing them (LayerNormalization's Mean/InvStdDev in inference).
 */
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

export interface EmitOptions {
  opset?: number;
  /** The runtime the graph is for (default 'cpu'): see `Target`. */
  target?: Target;
  /** Mark dim 0 of inputs/outputs as the symbolic 'batch' (export). */
  dynamicBatch?: boolean;
  producer?: string;
  /** Write parameters bound as initializers into the model (default true). */
  includeInitializers?: boolean;
}

interface OnnxNode {
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
  ) {
    this.opset = opset;
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

  /** A constant initializer, shared by value (or by `key` for large ones); returns its name. */
  constant(tensor: Tensor, key?: string): string {
    key ??= `${tensor.dtype}|${tensor.shape.join(',')}|${Array.from(tensor.data as ArrayLike<number | bigint>).join(',')}`;
    let n = this.constNames.get(key);
    if (n === undefined) {
      n = `const_${this.constNames.size}`;
      this.constNames.set(key, n);
      this.extraInitializers.push({ name: n, tensor });
    }
    return n;
  }

  int64s(values: readonly number[]): string {
    return this.constant(new Tensor(BigInt64Array.from(values, (v) => BigInt(v)), [values.length], 'int64'));
  }
}

function tensorProto(name: string, t: Tensor): ProtoWriter {
  const w = new ProtoWriter();
  w.packedInts(1, t.shape);
  w.int(2, onnxDType(t.dtype));
  w.string(8, name);
  const d = t.data;
  w.bytes(9, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  return w;
}

function valueInfo(name: string, shape: readonly number[], dtype: DType, dynamicBatch: boolean): ProtoWriter {
  const shapeW = new ProtoWriter();
  shape.forEach((d, i) => {
    const dim = new ProtoWriter();
    if (dynamicBatch && i === 0) dim.string(2, 'batch');
    else dim.int(1, d);
    shapeW.message(1, dim);
  });
  const tensorType = new ProtoWriter().int(1, onnxDType(dtype)).message(2, shapeW);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, type);
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
function emitNodes(graph: Graph, opset: number, target: Target = 'cpu'): { e: Emitter; used: Set<Value> } {
  const e = new Emitter(opset, graph.bindings, target);
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
export function onnxOpCounts(graph: Graph, opts: Pick<EmitOptions, 'opset' | 'target'> = {}): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of emitNodes(graph, opts.opset ?? 17, opts.target).e.nodes) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
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

export function toModelProto(graph: Graph, opts: EmitOptions = {}): Uint8Array {
  const opset = opts.opset ?? 17;
  const dyn = opts.dynamicBatch ?? false;
  const { e, used } = emitNodes(graph, opset, opts.target);

  const g = new ProtoWriter();
  for (const n of e.nodes) {
    const w = new ProtoWriter();
    for (const x of n.inputs) w.string(1, x);
    for (const y of n.outputs) w.string(2, y);
    w.string(3, n.name).string(4, n.opType);
    if (n.domain) w.string(7, n.domain);
    for (const [k, a] of Object.entries(n.attrs)) w.message(5, attributeProto(k, a));
    g.message(1, w);
  }
  g.string(2, graph.name);
  const includeInit = opts.includeInitializers ?? true;
  for (const [v, b] of graph.bindings) {
    if (!used.has(v)) continue;
    if (b.kind === 'constant') g.message(5, tensorProto(e.name(v), b.tensor));
    else if (b.kind === 'param' && !b.asInput && includeInit) g.message(5, tensorProto(e.name(v), b.source.tensor));
  }
  for (const { name, tensor } of e.extraInitializers) g.message(5, tensorProto(name, tensor));
  for (const v of graph.inputs) {
    // Unused inputs are still declared so that callers can feed a fixed signature.
    g.message(11, valueInfo(e.name(v), v.shape, v.dtype, dyn));
  }
  for (const v of graph.outputs) {
    g.message(12, valueInfo(graph.outputNames.get(v)!, v.shape, v.dtype, dyn));
  }

  const m = new ProtoWriter();
  m.int(1, opset >= 21 ? 10 : opset >= 19 ? 9 : 8); // IR version matching the opset
  m.string(2, opts.producer ?? 'visionmix');
  m.string(3, '0.1.0');
  m.message(7, g);
  m.message(8, new ProtoWriter().string(1, '').int(2, opset));
  m.message(8, new ProtoWriter().string(1, 'com.microsoft').int(2, 1));
  return m.finish();
}
