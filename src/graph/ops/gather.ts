/** Gather and its adjoint ScatterAdd (each is the other's VJP), and both on the positions of NCHW maps. */
import { attr } from '../emit.js';
import { defineOp, type Value, type VjpArgs } from '../graph.js';
import { fmt, normAxis } from '../shape.js';
import { apply1, scalarTensor } from './core.js';
import { cast } from './elementwise.js';
import { reshape, transpose } from './layout.js';

export const Gather = defineOp<{ axis: number }>({
  type: 'Gather',
  nonDiff: [1],
  infer: ([x, idx], { axis }, fail) => {
    if (idx!.dtype !== 'int64' && idx!.dtype !== 'int32') fail(`indices must be int64/int32, got ${idx!.dtype}`);
    if (axis < 0 || axis >= x!.rank) fail(`axis ${axis} out of range`);
    return [{ shape: [...x!.shape.slice(0, axis), ...idx!.shape, ...x!.shape.slice(axis + 1)], dtype: x!.dtype }];
  },
  emit: (e, n) => {
    e.node('Gather', n.inputs, n.outputs, { axis: attr.int(n.attrs.axis) });
  },
  vjp: gatherVjp,
});
export const gather = (x: Value, indices: Value, axis = 0): Value =>
  apply1(Gather, [x, indices], { axis: normAxis(axis, x.rank) });

/**
 * Gather's adjoint along axis 0: a zero tensor [rows, ...rest] into which each slice of `updates`
 * [...indices.shape, ...rest] is added at its index, duplicates accumulating (ScatterND with
 * reduction 'add', opset ≥ 16). With distinct indices it places rows: the sparse FCMAE encoder
 * writes the per-position MLP's rows back into a map this way.
 */
const ScatterAdd = defineOp<{ rows: number }>({
  type: 'ScatterAdd',
  nonDiff: [1],
  infer: ([updates, indices], { rows }, fail) => {
    if (indices!.dtype !== 'int64') fail(`indices must be int64, got ${indices!.dtype}`);
    if (!(Number.isInteger(rows) && rows > 0)) fail(`rows must be a positive integer, got ${rows}`);
    const q = indices!.rank;
    if (updates!.rank < q || indices!.shape.some((d, i) => d !== updates!.shape[i]))
      fail(`updates ${fmt(updates!.shape)} must start with the indices' shape ${fmt(indices!.shape)}`);
    return [{ shape: [rows, ...updates!.shape.slice(q)], dtype: updates!.dtype }];
  },
  emit: (e, n) => {
    const [updates, indices] = n.inputs as [Value, Value];
    const out = n.outputs[0]!;
    const [zeros] = e.node('Expand', [e.constant(scalarTensor(0, out.dtype)), e.int64s(out.shape)], 1);
    const [idx] = e.node('Reshape', [indices, e.int64s([...indices.shape, 1])], 1);
    e.node('ScatterND', [zeros!, idx!, updates], n.outputs, { reduction: attr.str('add') });
  },
  // Each update row was added at its index: its gradient is read back from there.
  vjp: ({ inputs: [, indices], dys: [dy] }) => [gather(dy!, indices!, 0), null],
});
export const scatterAdd = (updates: Value, indices: Value, rows: number): Value => apply1(ScatterAdd, [updates, indices], { rows });

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/*
 * y = Gather(x, idx, axis) copies slices of x; its VJP adds each dy slice back at its index, with
 * repeated indices accumulating (a relative-position-bias table is read many times per entry).
 * ScatterND-add does exactly that along the leading axis, so the gathered axis is moved to the
 * front and back. Works for runtime indices too, negative ones included.
 */
function gatherVjp({ inputs: [x, idx], dys: [dy], attrs: { axis } }: VjpArgs<{ axis: number }>): (Value | null)[] {
  const q = idx!.rank;
  // dy is [x.shape[:axis], idx.shape, x.shape[axis+1:]]; ScatterND wants [idx.shape, rest].
  const updates = transpose(dy!, [...range(axis, axis + q), ...range(0, axis), ...range(axis + q, dy!.rank)]);
  const g = scatterAdd(updates, cast(idx!, 'int64'), x!.shape[axis]!);
  return [transpose(g, [...range(1, axis + 1), 0, ...range(axis + 1, x!.rank)]), null];
}

// ---- positions of an NCHW map ----------------------------------------------------------------------

/**
 * The channel vectors of an NCHW map at flat positions p = n·H·W + y·W + x, as rows [M, C]: the
 * per-position (1×1) part of a network can then run on some positions only (FCMAE's visible ones).
 */
export function gatherPositions(x: Value, positions: Value): Value {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return gather(reshape(transpose(x, [0, 2, 3, 1]), [n * h * w, c]), positions, 0);
}

/** The inverse of `gatherPositions` (distinct positions): an NCHW map `shape`, zero except `rows` [M, C] at `positions`. */
export function scatterPositions(rows: Value, positions: Value, shape: readonly number[]): Value {
  const [n, c, h, w] = shape as [number, number, number, number];
  return transpose(reshape(scatterAdd(rows, positions, n * h * w), [n, h, w, c]), [0, 3, 1, 2]);
}

