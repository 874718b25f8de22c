/**
 * What every op file shares: operands, scalar/constant values, applying an op to the current graph,
 * and `unbroadcast` (the reduction every broadcasting VJP ends with).
 */
import { Tensor, type DType } from '../../tensor.js';
import type { Emitter } from '../emit.js';
import { currentGraph, type Node, type OpDef, type Shape, type Value } from '../graph.js';
import { reducedAxes, sameShape } from '../shape.js';
import { reduceSum } from './reduce.js';
import { reshape } from './layout.js';

export type Operand = Value | number;

export const FLOAT_TYPES: ReadonlySet<DType> = new Set(['float32', 'float64', 'float16']);

export function scalarTensor(v: number, dtype: DType): Tensor {
  switch (dtype) {
    case 'float64':
      return new Tensor(Float64Array.of(v), [], 'float64');
    case 'int64':
      return new Tensor(BigInt64Array.of(BigInt(v)), [], 'int64');
    case 'int32':
      return new Tensor(Int32Array.of(v), [], 'int32');
    case 'bool':
      return new Tensor(Uint8Array.of(v ? 1 : 0), [], 'bool');
    default:
      return new Tensor(Float32Array.of(v), [], 'float32');
  }
}

/** A scalar constant in the current graph. */
export function scalar(v: number, dtype: DType = 'float32'): Value {
  return currentGraph().constant(scalarTensor(v, dtype));
}

/** A constant tensor in the current graph (with a key, `t` may be a function building it on the key's first use). */
export function constant(t: Tensor | (() => Tensor), key?: string): Value {
  return currentGraph().constant(t, key);
}

export function apply<A>(op: OpDef<A>, inputs: Value[], attrs: A): Value[] {
  return currentGraph().apply(op, inputs, attrs);
}

export function apply1<A>(op: OpDef<A>, inputs: Value[], attrs: A): Value {
  return apply(op, inputs, attrs)[0]!;
}

/** Turn numeric operands into constants of the other operand's dtype. */
export function operands(a: Operand, b: Operand): [Value, Value] {
  if (typeof a === 'number' && typeof b === 'number') throw new Error('at least one operand must be a tensor');
  const dt = typeof a === 'number' ? (b as Value).dtype : a.dtype;
  return [typeof a === 'number' ? scalar(a, dt) : a, typeof b === 'number' ? scalar(b, dt) : b];
}

export function emitSimple(type: string) {
  return (e: Emitter, n: Node): void => {
    e.node(type, n.inputs, n.outputs);
  };
}

/** Sum `g` over the axes that broadcasting added, so it has `shape` again. */
export function unbroadcast(g: Value, shape: Shape): Value {
  if (sameShape(g.shape, shape)) return g;
  const axes = reducedAxes(shape, g.shape);
  let r = axes.length ? reduceSum(g, axes, true) : g;
  if (!sameShape(r.shape, shape)) r = reshape(r, shape);
  return r;
}
