/** Layout ops: transpose, reshape, expand, concat, split, slice and pad. */
import { attr, WEBGPU_MAX_NODE_TENSORS } from '../emit.js';
import { defineOp, type Shape, type Value } from '../graph.js';
import { broadcastShapes, fmt, normAxis, prod, sameShape } from '../shape.js';
import { apply, apply1, scalar, scalarTensor, unbroadcast } from './core.js';

// ---- layout ----------------------------------------------------------------------------------------

const Transpose = defineOp<{ perm: number[] }>({
  type: 'Transpose',
  infer: ([x], { perm }, fail) => {
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== x!.rank || sorted.some((p, i) => p !== i)) fail(`perm [${perm}] is not a permutation of rank ${x!.rank}`);
    return [{ shape: perm.map((p) => x!.shape[p]!), dtype: x!.dtype }];
  },
  emit: (e, n) => {
    e.node('Transpose', n.inputs, n.outputs, { perm: attr.ints(n.attrs.perm) });
  },
  vjp: ({ dys: [dy], attrs: { perm } }) => {
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [transpose(dy!, inv)];
  },
});
export const transpose = (x: Value, perm: readonly number[]): Value =>
  perm.every((p, i) => p === i) ? x : apply1(Transpose, [x], { perm: [...perm] });

const Reshape = defineOp<{ shape: number[] }>({
  type: 'Reshape',
  infer: ([x], { shape }, fail) => {
    if (prod(shape) !== x!.size) fail(`cannot reshape ${fmt(x!.shape)} (${x!.size} elements) to ${fmt(shape)}`);
    return [{ shape, dtype: x!.dtype }];
  },
  emit: (e, n) => {
    // A leading dim equal to the input's is written 0 ("copy") and, in graphs exported with a
    // symbolic batch, another batch-dependent dim -1: see Emitter.reshapeShape.
    const x = n.inputs[0]!;
    e.node('Reshape', [x, e.reshapeShape(x.shape, n.attrs.shape)], n.outputs);
  },
  vjp: ({ inputs: [x], dys: [dy] }) => [reshape(dy!, x!.shape)],
});

/** Reshape with one optional -1 entry. A reshape of a reshape reads the first one's input (one node). */
export function reshape(x: Value, shape: readonly number[]): Value {
  if (x.producer?.op === Reshape) x = x.producer.inputs[0]!;
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const known = prod(s.filter((d, i) => i !== neg));
    s[neg] = known === 0 ? 0 : x.size / known;
    if (!Number.isInteger(s[neg])) s[neg] = -1; // let the shape rule report it
  }
  if (sameShape(s, x.shape)) return x;
  return apply1(Reshape, [x], { shape: s });
}

export const flatten = (x: Value, axis = 1): Value =>
  reshape(x, [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))]);

const Expand = defineOp<{ shape: number[] }>({
  type: 'Expand',
  infer: ([x], { shape }, fail) => {
    const s = broadcastShapes(x!.shape, shape);
    if (!s || !sameShape(s, shape)) fail(`cannot expand ${fmt(x!.shape)} to ${fmt(shape)}`);
    return [{ shape, dtype: x!.dtype }];
  },
  emit: (e, n) => {
    e.node('Expand', [n.inputs[0]!, e.int64s(n.attrs.shape)], n.outputs);
  },
  vjp: ({ inputs: [x], dys: [dy] }) => [unbroadcast(dy!, x!.shape)],
});
export const expand = (x: Value, shape: readonly number[]): Value =>
  sameShape(x.shape, shape) ? x : apply1(Expand, [x], { shape: [...shape] });

const Concat = defineOp<{ axis: number }>({
  type: 'Concat',
  infer: (xs, { axis }, fail) => {
    if (xs.length === 0) fail('needs at least one input');
    const first = xs[0]!;
    if (axis < 0 || axis >= first.rank) fail(`axis ${axis} out of range`);
    let total = 0;
    for (const x of xs) {
      if (x.dtype !== first.dtype) fail('dtype mismatch');
      if (x.rank !== first.rank || x.shape.some((d, i) => i !== axis && d !== first.shape[i]))
        fail(`shapes differ outside axis ${axis}`);
      total += x.shape[axis]!;
    }
    const shape = [...first.shape];
    shape[axis] = total;
    return [{ shape, dtype: first.dtype }];
  },
  emit: (e, n) => {
    const axis = { axis: attr.int(n.attrs.axis) };
    // WebGPU: a tree of Concats, each node within the storage-buffer limit (exact: concatenation is associative).
    const width = e.target === 'webgpu' ? WEBGPU_MAX_NODE_TENSORS - 1 : Infinity;
    let parts: (Value | string)[] = [...n.inputs];
    while (parts.length > width) {
      const next: (Value | string)[] = [];
      for (let i = 0; i < parts.length; i += width) {
        const chunk = parts.slice(i, i + width);
        next.push(chunk.length === 1 ? chunk[0]! : e.node('Concat', chunk, 1, axis)[0]!);
      }
      parts = next;
    }
    e.node('Concat', parts, n.outputs, axis);
  },
  vjp: ({ inputs, dys: [dy], attrs: { axis }, needs }) => {
    let start = 0;
    return inputs.map((x, i) => {
      const len = x.shape[axis]!;
      const g = needs[i] ? slice(dy!, [start], [start + len], [axis]) : null;
      start += len;
      return g;
    });
  },
});
export function concat(xs: readonly Value[], axis: number): Value {
  if (xs.length === 1) return xs[0]!;
  return apply1(Concat, [...xs], { axis: normAxis(axis, xs[0]!.rank) });
}

const Split = defineOp<{ axis: number; sizes: number[] }>({
  type: 'Split',
  infer: ([x], { axis, sizes }, fail) => {
    if (axis < 0 || axis >= x!.rank) fail(`axis ${axis} out of range`);
    if (sizes.reduce((a, b) => a + b, 0) !== x!.shape[axis]) fail(`sizes [${sizes}] do not sum to dim ${x!.shape[axis]}`);
    return sizes.map((s) => {
      const shape = [...x!.shape];
      shape[axis] = s;
      return { shape, dtype: x!.dtype };
    });
  },
  emit: (e, n) => {
    const { axis, sizes } = n.attrs;
    if (e.target === 'webgpu' && n.outputs.length + 2 > WEBGPU_MAX_NODE_TENSORS) {
      // WebGPU: one Slice per output read (the native EP throws on a Split with ≥ 10 outputs).
      let start = 0;
      n.outputs.forEach((o, i) => {
        if (e.isUsed(o)) e.node('Slice', [n.inputs[0]!, e.int64s([start]), e.int64s([start + sizes[i]!]), e.int64s([axis])], [o]);
        start += sizes[i]!;
      });
      return;
    }
    e.node('Split', [n.inputs[0]!, e.int64s(sizes)], n.outputs.map((o) => e.nameIfUsed(o) || e.tmp('unused')), {
      axis: attr.int(axis),
    });
  },
  vjp: ({ outputs, dys }) => [
    concat(
      outputs.map((o, i) => dys[i] ?? zerosLike(o)),
      (outputs[0]!.producer!.attrs as { axis: number }).axis,
    ),
  ],
});
export function split(x: Value, sizes: readonly number[], axis: number): Value[] {
  return apply(Split, [x], { axis: normAxis(axis, x.rank), sizes: [...sizes] });
}

export function zerosLike(x: Value): Value {
  return expand(scalar(0, x.dtype), x.shape);
}

interface SliceAttrs {
  starts: number[];
  ends: number[];
  axes: number[];
  steps: number[];
}

/** Resolve python-style start/end for a dim, ONNX clamping semantics. */
function sliceLen(dim: number, start: number, end: number, step: number): [number, number, number] {
  const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clampIdx(s, 0, dim);
    e = clampIdx(e, 0, dim);
    return [s, e, Math.max(0, Math.ceil((e - s) / step))];
  }
  s = clampIdx(s, 0, dim - 1);
  e = clampIdx(e, -1, dim - 1);
  return [s, e, Math.max(0, Math.ceil((e - s) / step))];
}

const Slice = defineOp<SliceAttrs>({
  type: 'Slice',
  infer: ([x], { starts, ends, axes, steps }, fail) => {
    const shape = [...x!.shape];
    axes.forEach((a, i) => {
      if (a < 0 || a >= x!.rank) fail(`axis ${a} out of range`);
      if (steps[i] === 0) fail('step 0');
      shape[a] = sliceLen(x!.shape[a]!, starts[i]!, ends[i]!, steps[i]!)[2];
    });
    return [{ shape, dtype: x!.dtype }];
  },
  emit: (e, n) => {
    const { starts, ends, axes, steps } = n.attrs;
    if (e.target !== 'webgpu' || steps.every((s) => s > 0)) {
      e.node('Slice', [n.inputs[0]!, e.int64s(starts), e.int64s(ends), e.int64s(axes), e.int64s(steps)], n.outputs);
      return;
    }
    // WebGPU: a reversed slice as a Gather of its indices, one axis at a time (JSEP returns the wrong
    // shape for a negative step); positive-step axes stay one Slice.
    const x = n.inputs[0]!;
    const forward = axes.map((_, i) => i).filter((i) => steps[i]! > 0);
    let cur: Value | string = x;
    if (forward.length) {
      const pick = (xs: number[]) => forward.map((i) => xs[i]!);
      cur = e.node('Slice', [x, e.int64s(pick(starts)), e.int64s(pick(ends)), e.int64s(pick(axes)), e.int64s(pick(steps))], 1)[0]!;
    }
    const reversed = axes.map((_, i) => i).filter((i) => steps[i]! < 0);
    reversed.forEach((i, k) => {
      const a = axes[i]!;
      const [s, , len] = sliceLen(x.shape[a]!, starts[i]!, ends[i]!, steps[i]!);
      const indices = Array.from({ length: len }, (_, j) => s + j * steps[i]!);
      const out = k === reversed.length - 1 ? n.outputs : 1;
      cur = e.node('Gather', [cur, e.int64s(indices)], out, { axis: attr.int(a) })[0]!;
    });
  },
  vjp: ({ inputs: [x], dys: [dy], attrs }) => [sliceGrad(dy!, x!.shape, attrs)],
});

/** Scatter `dy` (the gradient of a slice) back into zeros of the input shape. */
function sliceGrad(dy: Value, inShape: Shape, { starts, ends, axes, steps }: SliceAttrs): Value {
  let g = dy;
  const pads = new Array<number>(inShape.length * 2).fill(0);
  axes.forEach((a, i) => {
    const [s, , len] = sliceLen(inShape[a]!, starts[i]!, ends[i]!, steps[i]!);
    let step = steps[i]!;
    let first = s;
    if (step < 0) {
      // A reversed slice: reverse the gradient back, then treat it as a forward slice.
      g = slice(g, [-1], [-(g.shape[a]! + 1)], [a], [-1]);
      step = -step;
      first = s - (len - 1) * step;
    }
    if (step > 1) {
      // Dilate: interleave zeros along axis a (reshape [.., len, 1, ..] → pad to step → merge).
      const shp = [...g.shape];
      const withUnit = [...shp.slice(0, a + 1), 1, ...shp.slice(a + 1)];
      let u = reshape(g, withUnit);
      const p = new Array<number>(withUnit.length * 2).fill(0);
      p[withUnit.length + a + 1] = step - 1;
      u = pad(u, p);
      const merged = [...shp];
      merged[a] = len * step;
      g = reshape(u, merged);
      g = slice(g, [0], [(len - 1) * step + 1], [a]);
    }
    const covered = len === 0 ? 0 : (len - 1) * step + 1;
    pads[a] = first;
    pads[inShape.length + a] = inShape[a]! - first - covered;
  });
  return pad(g, pads);
}

export function slice(
  x: Value,
  starts: readonly number[],
  ends: readonly number[],
  axes?: readonly number[],
  steps?: readonly number[],
): Value {
  const ax = axes ? axes.map((a) => normAxis(a, x.rank)) : starts.map((_, i) => i);
  const st = steps ? [...steps] : starts.map(() => 1);
  return apply1(Slice, [x], { starts: [...starts], ends: [...ends], axes: ax, steps: st });
}

/** Constant padding; `pads` = [begin_0..begin_{r-1}, end_0..end_{r-1}], negative values crop. */
const Pad = defineOp<{ pads: number[]; value: number }>({
  type: 'Pad',
  infer: ([x], { pads }, fail) => {
    if (pads.length !== 2 * x!.rank) fail(`pads has ${pads.length} entries, need ${2 * x!.rank}`);
    const shape = x!.shape.map((d, i) => d + pads[i]! + pads[i + x!.rank]!);
    if (shape.some((d) => d < 0)) fail(`pads [${pads}] crop below zero`);
    return [{ shape, dtype: x!.dtype }];
  },
  emit: (e, n) => {
    const x = n.inputs[0]!;
    e.node('Pad', [x, e.int64s(n.attrs.pads), e.constant(scalarTensor(n.attrs.value, x.dtype))], n.outputs, {
      mode: attr.str('constant'),
    });
  },
  vjp: ({ inputs: [x], dys: [dy], attrs: { pads } }) => {
    // Added (positive) pads: slice them off dy. Cropped (negative) pads: those input elements did
    // not reach the output, so pad their gradient back with zeros.
    const r = x!.rank;
    const axes = x!.shape.map((_, i) => i);
    const begin = axes.map((i) => Math.max(pads[i]!, 0));
    const kept = axes.map((i) => x!.shape[i]! + Math.min(pads[i]!, 0) + Math.min(pads[i + r]!, 0));
    const g = pads.some((p) => p > 0) ? slice(dy!, begin, axes.map((i) => begin[i]! + kept[i]!), axes) : dy!;
    return [pad(g, pads.map((p) => Math.max(-p, 0)))];
  },
});
export function pad(x: Value, pads: readonly number[], value = 0): Value {
  if (pads.every((p) => p === 0)) return x;
  return apply1(Pad, [x], { pads: [...pads], value });
}

