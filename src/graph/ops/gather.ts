/** Gather, and the ScatterND-add its gradient is made of. */
import { attr } from '../emit.js';
import { currentGraph, defineOp, type Value, type VjpArgs } from '../graph.js';
import { fmt, normAxis } from '../shape.js';
import { apply1, scalar } from './core.js';
import { cast } from './elementwise.js';
import { expand, reshape, transpose } from './layout.js';

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
 * ScatterND with reduction = 'add' (opset ≥ 16): adds each update slice into `data` at its index,
 * accumulating duplicates. Only used by the Gather VJP, so it has no VJP of its own.
 */
const ScatterNDAdd = defineOp<null>({
  type: 'ScatterND',
  nonDiff: [1],
  infer: ([data, indices, updates], _a, fail) => {
    if (indices!.dtype !== 'int64') fail(`indices must be int64, got ${indices!.dtype}`);
    const kq = indices!.shape[indices!.rank - 1]!;
    const want = [...indices!.shape.slice(0, -1), ...data!.shape.slice(kq)];
    if (updates!.dtype !== data!.dtype) fail(`updates dtype ${updates!.dtype} differs from data ${data!.dtype}`);
    if (updates!.rank !== want.length || updates!.shape.some((d, i) => d !== want[i]))
      fail(`updates ${fmt(updates!.shape)} must be ${fmt(want)}`);
    return [{ shape: data!.shape, dtype: data!.dtype }];
  },
  emit: (e, n) => {
    e.node('ScatterND', n.inputs, n.outputs, { reduction: attr.str('add') });
  },
});

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
  const frontShape = [x!.shape[axis]!, ...x!.shape.slice(0, axis), ...x!.shape.slice(axis + 1)];
  const zeros = expand(scalar(0, x!.dtype), frontShape);
  const indices = reshape(cast(idx!, 'int64'), [...idx!.shape, 1]);
  const g = currentGraph().apply(ScatterNDAdd, [zeros, indices, updates], null)[0]!;
  return [transpose(g, [...range(1, axis + 1), 0, ...range(axis + 1, x!.rank)]), null];
};

