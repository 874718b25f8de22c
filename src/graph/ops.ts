/**
 * The op set. Each op is defined once: shape rule (`infer`), ONNX emission (`emit`) and VJP rule
 * (`vjp`). The exported functions are the tracing API used by nn/ and models/.
 */
import { Tensor, type DType } from '../tensor.js';
import { attr, type Attr, type Emitter } from './emit.js';
import { currentGraph, defineOp, type Node, type OpDef, type Shape, type Value, type VjpArgs } from './graph.js';
import { broadcastShapes, fmt, normAxis, prod, reducedAxes, sameShape } from './shape.js';

export type Operand = Value | number;

const FLOAT_TYPES: ReadonlySet<DType> = new Set(['float32', 'float64', 'float16']);

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

/** A constant tensor in the current graph. */
export function constant(t: Tensor): Value {
  return currentGraph().constant(t);
}

function apply<A>(op: OpDef<A>, inputs: Value[], attrs: A): Value[] {
  return currentGraph().apply(op, inputs, attrs);
}

function apply1<A>(op: OpDef<A>, inputs: Value[], attrs: A): Value {
  return apply(op, inputs, attrs)[0]!;
}

/** Turn numeric operands into constants of the other operand's dtype. */
function operands(a: Operand, b: Operand): [Value, Value] {
  if (typeof a === 'number' && typeof b === 'number') throw new Error('at least one operand must be a tensor');
  const dt = typeof a === 'number' ? (b as Value).dtype : a.dtype;
  return [typeof a === 'number' ? scalar(a, dt) : a, typeof b === 'number' ? scalar(b, dt) : b];
}

function emitSimple(type: string) {
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

// ---- elementwise binary ------------------------------------------------------------------------

function binaryInfer(inputs: Value[], _a: unknown, fail: (m: string) => never) {
  const [a, b] = inputs as [Value, Value];
  if (a.dtype !== b.dtype) fail(`dtype mismatch ${a.dtype} vs ${b.dtype}`);
  const s = broadcastShapes(a.shape, b.shape);
  if (!s) fail(`shapes ${fmt(a.shape)} and ${fmt(b.shape)} do not broadcast`);
  return [{ shape: s!, dtype: a.dtype }];
}

const Add = defineOp<null>({
  type: 'Add',
  infer: binaryInfer,
  emit: emitSimple('Add'),
  vjp: ({ inputs: [a, b], dys: [dy] }) => [unbroadcast(dy!, a!.shape), unbroadcast(dy!, b!.shape)],
});
const Sub = defineOp<null>({
  type: 'Sub',
  infer: binaryInfer,
  emit: emitSimple('Sub'),
  vjp: ({ inputs: [a, b], dys: [dy], needs }) => [
    unbroadcast(dy!, a!.shape),
    needs[1] ? unbroadcast(neg(dy!), b!.shape) : null,
  ],
});
const Mul = defineOp<null>({
  type: 'Mul',
  infer: binaryInfer,
  emit: emitSimple('Mul'),
  vjp: ({ inputs: [a, b], dys: [dy], needs }) => [
    needs[0] ? unbroadcast(mul(dy!, b!), a!.shape) : null,
    needs[1] ? unbroadcast(mul(dy!, a!), b!.shape) : null,
  ],
});
const Div = defineOp<null>({
  type: 'Div',
  infer: binaryInfer,
  emit: emitSimple('Div'),
  vjp: ({ inputs: [a, b], outputs: [y], dys: [dy], needs }) => {
    const da = needs[0] || needs[1] ? div(dy!, b!) : null;
    return [
      needs[0] ? unbroadcast(da!, a!.shape) : null,
      needs[1] ? unbroadcast(neg(mul(da!, y!)), b!.shape) : null,
    ];
  },
});
const Max = defineOp<null>({
  type: 'Max',
  infer: binaryInfer,
  emit: emitSimple('Max'),
  vjp: ({ inputs: [a, b], dys: [dy], needs }) => {
    // Ties go to the first operand (as torch.maximum splits them, the difference is measure-zero).
    const takeA = greaterOrEqual(a!, b!);
    const z = scalar(0, dy!.dtype);
    return [
      needs[0] ? unbroadcast(where(takeA, dy!, z), a!.shape) : null,
      needs[1] ? unbroadcast(where(takeA, z, dy!), b!.shape) : null,
    ];
  },
});
const Min = defineOp<null>({
  type: 'Min',
  infer: binaryInfer,
  emit: emitSimple('Min'),
  vjp: ({ inputs: [a, b], dys: [dy], needs }) => {
    const takeA = lessOrEqual(a!, b!);
    const z = scalar(0, dy!.dtype);
    return [
      needs[0] ? unbroadcast(where(takeA, dy!, z), a!.shape) : null,
      needs[1] ? unbroadcast(where(takeA, z, dy!), b!.shape) : null,
    ];
  },
});

function compareOp(type: string): OpDef<null> {
  return defineOp<null>({
    type,
    infer: (inputs, a, fail) => [{ shape: binaryInfer(inputs, a, fail)[0]!.shape, dtype: 'bool' }],
    emit: emitSimple(type),
  });
}
const Equal = compareOp('Equal');
const Greater = compareOp('Greater');
const Less = compareOp('Less');
const GreaterOrEqual = compareOp('GreaterOrEqual');
const LessOrEqual = compareOp('LessOrEqual');

export const add = (a: Operand, b: Operand): Value => apply1(Add, operands(a, b), null);
export const sub = (a: Operand, b: Operand): Value => apply1(Sub, operands(a, b), null);
export const mul = (a: Operand, b: Operand): Value => apply1(Mul, operands(a, b), null);
export const div = (a: Operand, b: Operand): Value => apply1(Div, operands(a, b), null);
export const maximum = (a: Operand, b: Operand): Value => apply1(Max, operands(a, b), null);
export const minimum = (a: Operand, b: Operand): Value => apply1(Min, operands(a, b), null);
export const equal = (a: Operand, b: Operand): Value => apply1(Equal, operands(a, b), null);
export const greater = (a: Operand, b: Operand): Value => apply1(Greater, operands(a, b), null);
export const less = (a: Operand, b: Operand): Value => apply1(Less, operands(a, b), null);
export const greaterOrEqual = (a: Operand, b: Operand): Value => apply1(GreaterOrEqual, operands(a, b), null);
export const lessOrEqual = (a: Operand, b: Operand): Value => apply1(LessOrEqual, operands(a, b), null);

const Where = defineOp<null>({
  type: 'Where',
  nonDiff: [0],
  infer: ([c, a, b], _x, fail) => {
    if (c!.dtype !== 'bool') fail(`condition must be bool, got ${c!.dtype}`);
    if (a!.dtype !== b!.dtype) fail(`dtype mismatch ${a!.dtype} vs ${b!.dtype}`);
    const s1 = broadcastShapes(a!.shape, b!.shape);
    const s = s1 && broadcastShapes(c!.shape, s1);
    if (!s) fail('shapes do not broadcast');
    return [{ shape: s!, dtype: a!.dtype }];
  },
  emit: emitSimple('Where'),
  vjp: ({ inputs: [c, a, b], dys: [dy], needs }) => {
    const z = scalar(0, dy!.dtype);
    return [
      null,
      needs[1] ? unbroadcast(where(c!, dy!, z), a!.shape) : null,
      needs[2] ? unbroadcast(where(c!, z, dy!), b!.shape) : null,
    ];
  },
});

export function where(cond: Value, a: Operand, b: Operand): Value {
  const [x, y] = operands(a, b);
  return apply1(Where, [cond, x, y], null);
}

// ---- elementwise unary -------------------------------------------------------------------------

function unaryOp(
  type: string,
  vjp?: (x: Value, y: Value, dy: Value) => Value,
  floatOnly = true,
): OpDef<null> {
  return defineOp<null>({
    type,
    infer: ([x], _a, fail) => {
      if (floatOnly && !FLOAT_TYPES.has(x!.dtype)) fail(`needs a float tensor, got ${x!.dtype}`);
      return [{ shape: x!.shape, dtype: x!.dtype }];
    },
    emit: emitSimple(type),
    vjp: vjp ? ({ inputs: [x], outputs: [y], dys: [dy] }) => [vjp(x!, y!, dy!)] : undefined,
  });
}

const Neg = unaryOp('Neg', (_x, _y, dy) => neg(dy), false);
const Exp = unaryOp('Exp', (_x, y, dy) => mul(dy, y));
const Log = unaryOp('Log', (x, _y, dy) => div(dy, x));
const Sqrt = unaryOp('Sqrt', (_x, y, dy) => div(mul(dy, 0.5), y));
const Reciprocal = unaryOp('Reciprocal', (_x, y, dy) => neg(mul(dy, mul(y, y))));
const Erf = unaryOp('Erf', (x, _y, dy) => mul(dy, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI))));
const Sigmoid = unaryOp('Sigmoid', (_x, y, dy) => mul(dy, mul(y, sub(1, y))));
const Tanh = unaryOp('Tanh', (_x, y, dy) => mul(dy, sub(1, mul(y, y))));
const Relu = unaryOp('Relu', (x, _y, dy) => where(greater(x, 0), dy, 0));
const Abs = unaryOp('Abs', (x, _y, dy) => where(less(x, 0), neg(dy), dy));
const Identity = unaryOp('Identity', (_x, _y, dy) => dy, false);

export const neg = (x: Value): Value => apply1(Neg, [x], null);
export const exp = (x: Value): Value => apply1(Exp, [x], null);
export const log = (x: Value): Value => apply1(Log, [x], null);
export const sqrt = (x: Value): Value => apply1(Sqrt, [x], null);
export const reciprocal = (x: Value): Value => apply1(Reciprocal, [x], null);
export const erf = (x: Value): Value => apply1(Erf, [x], null);
export const sigmoid = (x: Value): Value => apply1(Sigmoid, [x], null);
export const tanh = (x: Value): Value => apply1(Tanh, [x], null);
export const relu = (x: Value): Value => apply1(Relu, [x], null);
export const abs = (x: Value): Value => apply1(Abs, [x], null);
export const identity = (x: Value): Value => apply1(Identity, [x], null);

/** x ** p for a constant exponent. */
const PowScalar = defineOp<{ p: number }>({
  type: 'Pow',
  infer: ([x], _a, fail) => {
    if (!FLOAT_TYPES.has(x!.dtype)) fail(`needs a float tensor, got ${x!.dtype}`);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  emit: (e, n) => {
    e.node('Pow', [n.inputs[0]!, e.constant(scalarTensor(n.attrs.p, n.inputs[0]!.dtype))], n.outputs);
  },
  vjp: ({ inputs: [x], attrs: { p }, dys: [dy] }) => [mul(dy!, mul(pow(x!, p - 1), p))],
});
export const pow = (x: Value, p: number): Value => (p === 1 ? x : apply1(PowScalar, [x], { p }));

/** Exact (erf) GELU, emitted as the erf pattern ORT fuses into one Gelu kernel. */
const Gelu = defineOp<null>({
  type: 'Gelu',
  infer: ([x], _a, fail) => {
    if (!FLOAT_TYPES.has(x!.dtype)) fail(`needs a float tensor, got ${x!.dtype}`);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  emit: (e, n) => {
    const x = n.inputs[0]!;
    const c = (v: number) => e.constant(scalarTensor(v, x.dtype));
    const [s] = e.node('Div', [x, c(Math.SQRT2)], 1);
    const [er] = e.node('Erf', [s!], 1);
    const [p1] = e.node('Add', [er!, c(1)], 1);
    const [xm] = e.node('Mul', [x, p1!], 1);
    e.node('Mul', [xm!, c(0.5)], n.outputs);
  },
  vjp: ({ inputs: [x], dys: [dy] }) => {
    // d/dx [x Φ(x)] = Φ(x) + x φ(x); with s = x/√2: 2·gelu'(x) = 1 + erf(s) + (2/√π)·s·e^(−s²).
    // ORT has no fused GeluGrad here and runs each op as a full pass over the (largest) MLP tensor,
    // so the form matters: s/exp(s²) yields s·e^(−s²) without a negation or a second scaling of x
    // (exp overflows to ∞ only where the term is 0 anyway).
    const s = mul(x!, Math.SQRT1_2);
    const sExpNeg = div(s, exp(mul(s, s)));
    const twice = add(add(erf(s), 1), mul(sExpNeg, 2 / Math.sqrt(Math.PI)));
    return [mul(mul(dy!, twice), 0.5)];
  },
});
export const gelu = (x: Value): Value => apply1(Gelu, [x], null);

const Cast = defineOp<{ to: DType }>({
  type: 'Cast',
  infer: ([x], { to }) => [{ shape: x!.shape, dtype: to }],
  emit: (e, n) => {
    const codes: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 };
    e.node('Cast', n.inputs, n.outputs, { to: attr.int(codes[n.attrs.to]) });
  },
  vjp: ({ inputs: [x], dys: [dy] }) => [FLOAT_TYPES.has(x!.dtype) ? cast(dy!, x!.dtype) : null],
});
export const cast = (x: Value, to: DType): Value => (x.dtype === to ? x : apply1(Cast, [x], { to }));

// ---- softmax -----------------------------------------------------------------------------------

const Softmax = defineOp<{ axis: number }>({
  type: 'Softmax',
  infer: ([x], { axis }, fail) => {
    if (axis < 0 || axis >= x!.rank) fail(`axis ${axis} out of range`);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  emit: (e, n) => {
    e.node('Softmax', n.inputs, n.outputs, { axis: attr.int(n.attrs.axis) });
  },
  vjp: ({ outputs: [y], dys: [dy], attrs: { axis } }) => {
    // P·(dP − Σ dP·P)
    const s = reduceSum(mul(dy!, y!), [axis], true);
    return [mul(y!, sub(dy!, s))];
  },
});
const LogSoftmax = defineOp<{ axis: number }>({
  type: 'LogSoftmax',
  infer: ([x], { axis }, fail) => {
    if (axis < 0 || axis >= x!.rank) fail(`axis ${axis} out of range`);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  emit: (e, n) => {
    e.node('LogSoftmax', n.inputs, n.outputs, { axis: attr.int(n.attrs.axis) });
  },
  vjp: ({ outputs: [y], dys: [dy], attrs: { axis } }) => [sub(dy!, mul(exp(y!), reduceSum(dy!, [axis], true)))],
});
export const softmax = (x: Value, axis = -1): Value => apply1(Softmax, [x], { axis: normAxis(axis, x.rank) });
export const logSoftmax = (x: Value, axis = -1): Value => apply1(LogSoftmax, [x], { axis: normAxis(axis, x.rank) });

// ---- reductions ---------------------------------------------------------------------------------

interface ReduceAttrs {
  axes: number[];
  keepdims: boolean;
}

function reduceOp(type: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceSumSquare'): OpDef<ReduceAttrs> {
  return defineOp<ReduceAttrs>({
    type,
    infer: ([x], { axes, keepdims }, fail) => {
      for (const a of axes) if (a < 0 || a >= x!.rank) fail(`axis ${a} out of range for rank ${x!.rank}`);
      if (new Set(axes).size !== axes.length) fail(`repeated axes [${axes}]`);
      const shape: number[] = [];
      x!.shape.forEach((d, i) => {
        if (!axes.includes(i)) shape.push(d);
        else if (keepdims) shape.push(1);
      });
      return [{ shape, dtype: x!.dtype }];
    },
    emit: (e, n) => {
      const { axes, keepdims } = n.attrs;
      // An empty axes list means "reduce everything" in ONNX, but "nothing" here.
      if (axes.length === 0) {
        const x = n.inputs[0]!;
        if (type === 'ReduceSumSquare') e.node('Mul', [x, x], n.outputs);
        else e.node('Identity', [x], n.outputs);
      }
      else if (type !== 'ReduceMax' && emitReduceAsGemv(e, n, type)) return;
      // ReduceSum takes axes as an input since opset 13, the others since opset 18.
      else if (type === 'ReduceSum' || e.opset >= 18)
        e.node(type, [n.inputs[0]!, e.int64s(axes)], n.outputs, { keepdims: attr.int(keepdims ? 1 : 0) });
      else e.node(type, n.inputs, n.outputs, { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
    },
    vjp: ({ inputs: [x], outputs: [y], dys: [dy], attrs: { axes, keepdims } }) => {
      const kshape = x!.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const g = keepdims ? dy! : reshape(dy!, kshape);
      switch (type) {
        case 'ReduceSum':
          return [expand(g, x!.shape)];
        case 'ReduceMean':
          return [expand(mul(g, 1 / prod(axes.map((a) => x!.shape[a]!))), x!.shape)];
        case 'ReduceSumSquare':
          // Scale the small gradient, not the large product: one pass over x instead of two.
          return [mul(x!, mul(g, 2))];
        case 'ReduceMax': {
          // Split the gradient evenly among tied maxima (as torch.amax does).
          const yk = keepdims ? y! : reshape(y!, kshape);
          const mask = cast(equal(x!, yk), x!.dtype);
          const count = reduceSum(mask, axes, true);
          return [mul(mask, div(g, count))];
        }
      }
    },
  });
}
/**
 * Sums over a contiguous block of axes that leaves the last axis alone (bias and norm-weight
 * gradients, per-sample spatial sums) run ~2.5x faster in ORT as a GEMV with a ones vector,
 * ones[1,M]·x[B,M,R], than as ReduceSum over non-innermost axes (sums of squares: x·x first).
 * Returns false when the pattern does not apply (then the plain reduction is emitted).
 */
function emitReduceAsGemv(e: Emitter, n: Node<ReduceAttrs>, type: 'ReduceSum' | 'ReduceMean' | 'ReduceSumSquare'): boolean {
  const mean = type === 'ReduceMean';
  const x = n.inputs[0]!;
  const { axes } = n.attrs;
  const r = x.rank;
  const first = axes[0]!;
  const last = axes[axes.length - 1]!;
  const contiguous = axes.every((a, i) => a === first + i);
  if (!contiguous || last === r - 1 || !FLOAT_TYPES.has(x.dtype) || x.dtype === 'float16' || x.size < 65536) return false;
  const b = prod(x.shape.slice(0, first));
  const m = prod(x.shape.slice(first, last + 1));
  const rest = prod(x.shape.slice(last + 1));
  const ones = x.dtype === 'float64' ? new Float64Array(m) : new Float32Array(m);
  ones.fill(mean ? 1 / m : 1);
  const onesName = e.constant(new Tensor(ones, [1, m], x.dtype), `reduce-ones|${x.dtype}|${m}|${mean}`);
  const summed = type === 'ReduceSumSquare' ? e.node('Mul', [x, x], 1)[0]! : x;
  const [x3] = e.node('Reshape', [summed, e.int64s([b, m, rest])], 1);
  const [y] = e.node('MatMul', [onesName, x3!], 1);
  e.node('Reshape', [y!, e.int64s(n.outputs[0]!.shape)], n.outputs);
  return true;
}

const ReduceSum = reduceOp('ReduceSum');
const ReduceMean = reduceOp('ReduceMean');
const ReduceMax = reduceOp('ReduceMax');
const ReduceSumSquare = reduceOp('ReduceSumSquare');

function axesOf(x: Value, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  return list.map((a) => normAxis(a, x.rank)).sort((a, b) => a - b);
}
export const reduceSum = (x: Value, axes?: number | readonly number[], keepdims = false): Value =>
  apply1(ReduceSum, [x], { axes: axesOf(x, axes), keepdims });
export const reduceMean = (x: Value, axes?: number | readonly number[], keepdims = false): Value =>
  apply1(ReduceMean, [x], { axes: axesOf(x, axes), keepdims });
export const reduceMax = (x: Value, axes?: number | readonly number[], keepdims = false): Value =>
  apply1(ReduceMax, [x], { axes: axesOf(x, axes), keepdims });
export const reduceSumSquare = (x: Value, axes?: number | readonly number[], keepdims = false): Value =>
  apply1(ReduceSumSquare, [x], { axes: axesOf(x, axes), keepdims });

const ArgMax = defineOp<{ axis: number; keepdims: boolean }>({
  type: 'ArgMax',
  infer: ([x], { axis, keepdims }, fail) => {
    if (axis < 0 || axis >= x!.rank) fail(`axis ${axis} out of range`);
    const shape = x!.shape.flatMap((d, i) => (i === axis ? (keepdims ? [1] : []) : [d]));
    return [{ shape, dtype: 'int64' }];
  },
  emit: (e, n) => {
    e.node('ArgMax', n.inputs, n.outputs, {
      axis: attr.int(n.attrs.axis),
      keepdims: attr.int(n.attrs.keepdims ? 1 : 0),
    });
  },
});
export const argMax = (x: Value, axis = -1, keepdims = false): Value =>
  apply1(ArgMax, [x], { axis: normAxis(axis, x.rank), keepdims });

// ---- matmul --------------------------------------------------------------------------------------

const MatMul = defineOp<null>({
  type: 'MatMul',
  infer: ([a, b], _x, fail) => {
    if (a!.dtype !== b!.dtype) fail(`dtype mismatch ${a!.dtype} vs ${b!.dtype}`);
    if (a!.rank < 2 || b!.rank < 2) fail('both operands must have rank >= 2');
    const [m, k] = a!.shape.slice(-2) as [number, number];
    const [k2, n] = b!.shape.slice(-2) as [number, number];
    if (k !== k2) fail(`inner dimensions differ: ${fmt(a!.shape)} @ ${fmt(b!.shape)}`);
    const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    if (!batch) fail(`batch dimensions do not broadcast: ${fmt(a!.shape)} @ ${fmt(b!.shape)}`);
    return [{ shape: [...batch!, m, n], dtype: a!.dtype }];
  },
  emit: emitSimple('MatMul'),
  vjp: ({ inputs: [a, b], dys: [dy], needs }) => [
    needs[0] ? matmulOperandGrad(dy!, b!, a!, false) : null,
    needs[1] ? matmulOperandGrad(dy!, a!, b!, true) : null,
  ],
});

/**
 * Gradient of one MatMul operand. When that operand is a plain matrix shared across the other's
 * batch dims (a Linear weight applied to [N,H,W,C]), the batch dims fold into the GEMM's inner
 * dimension — one large GEMM instead of N·H small ones followed by a huge ReduceSum.
 */
function matmulOperandGrad(dy: Value, other: Value, self: Value, selfIsRight: boolean): Value {
  if (selfIsRight && self.rank === 2 && other.rank > 2) {
    // y = a·b with b [K,N] shared: db = Σ_batch aᵀ·dy = (a as [M·batch, K])ᵀ · (dy as [M·batch, N]).
    const a2 = reshape(other, [-1, other.shape[other.rank - 1]!]);
    const d2 = reshape(dy, [-1, dy.shape[dy.rank - 1]!]);
    // With a long contraction axis, ORT's GEMM is ~1.6x faster when the small product has more
    // columns than rows (measured: [160,40] 60 ms vs its transpose [40,160] 37 ms at K = 100k),
    // so compute the wider orientation and transpose the small result.
    if (a2.shape[1]! > d2.shape[1]!) return transposeLast2(matmul(transposeLast2(d2), a2));
    return matmul(transposeLast2(a2), d2);
  }
  const g = selfIsRight ? matmul(transposeLast2(other), dy) : matmul(dy, transposeLast2(other));
  return unbroadcast(g, self.shape);
}
export const matmul = (a: Value, b: Value): Value => apply1(MatMul, [a, b], null);

export function transposeLast2(x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  const r = x.rank;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return transpose(x, perm);
}

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
    // Leading dims equal to the input's are written as 0 ("copy"), so exported graphs keep a
    // dynamic batch dimension without re-tracing.
    const x = n.inputs[0]!;
    const target = n.attrs.shape.map((d, i) => (i === 0 && d === x.shape[0] && d !== 0 ? 0 : d));
    e.node('Reshape', [x, e.int64s(target)], n.outputs);
  },
  vjp: ({ inputs: [x], dys: [dy] }) => [reshape(dy!, x!.shape)],
});

/** Reshape with one optional -1 entry. */
export function reshape(x: Value, shape: readonly number[]): Value {
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
    e.node('Concat', n.inputs, n.outputs, { axis: attr.int(n.attrs.axis) });
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
    e.node('Split', [n.inputs[0]!, e.int64s(n.attrs.sizes)], n.outputs.map((o) => e.nameIfUsed(o) || e.tmp('unused')), {
      axis: attr.int(n.attrs.axis),
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
    e.node('Slice', [n.inputs[0]!, e.int64s(starts), e.int64s(ends), e.int64s(axes), e.int64s(steps)], n.outputs);
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

// ---- normalisation ----------------------------------------------------------------------------------

interface LayerNormAttrs {
  axis: number;
  eps: number;
}

/**
 * LayerNormalization over dims [axis, rank). Outputs [y, mean, invStd]; the statistics are only
 * computed when a VJP reads them (unused optional outputs are not emitted).
 */
const LayerNorm = defineOp<LayerNormAttrs>({
  type: 'LayerNormalization',
  infer: ([x, w, b], { axis }, fail) => {
    if (axis < 0 || axis >= x!.rank) fail(`axis ${axis} out of range`);
    const normShape = x!.shape.slice(axis);
    if (!sameShape(w!.shape, normShape)) fail(`weight ${fmt(w!.shape)} must be ${fmt(normShape)}`);
    if (b && !sameShape(b.shape, normShape)) fail(`bias ${fmt(b.shape)} must be ${fmt(normShape)}`);
    const statShape = x!.shape.map((d, i) => (i < axis ? d : 1));
    // Mean and InvStdDev are float32 whatever the input type (ONNX: type U, stash_type = 1).
    return [
      { shape: x!.shape, dtype: x!.dtype },
      { shape: statShape, dtype: 'float32' },
      { shape: statShape, dtype: 'float32' },
    ];
  },
  emit: (e, n) => {
    const [y, mean, inv] = n.outputs as [Value, Value, Value];
    const outs = [e.name(y), e.nameIfUsed(mean), e.nameIfUsed(inv)];
    while (outs[outs.length - 1] === '') outs.pop();
    e.node('LayerNormalization', n.inputs, outs, {
      axis: attr.int(n.attrs.axis),
      epsilon: attr.float(n.attrs.eps),
    });
  },
  vjp: ({ inputs: [x, w, b], outputs: [, mean32, inv32], dys: [dy], attrs: { axis, eps }, needs }) => {
    const normAxes = x!.shape.map((_, i) => i).filter((i) => i >= axis);
    const outerAxes = x!.shape.map((_, i) => i).filter((i) => i < axis);
    let mean: Value;
    let inv: Value;
    if (x!.dtype === 'float64') {
      // The saved statistics are float32; recompute them in double to keep float64 exact.
      mean = reduceMean(x!, normAxes, true);
      const xc = sub(x!, mean);
      inv = reciprocal(sqrt(add(reduceMean(mul(xc, xc), normAxes, true), eps)));
    } else {
      mean = cast(mean32!, x!.dtype);
      inv = cast(inv32!, x!.dtype);
    }
    const xhat = mul(sub(x!, mean), inv);
    const dw = needs[1] ? reduceSum(mul(dy!, xhat), outerAxes) : null;
    const db = b && needs[2] ? reduceSum(dy!, outerAxes) : null;
    let dx: Value | null = null;
    if (needs[0]) {
      const dxhat = mul(dy!, w!);
      const m1 = reduceMean(dxhat, normAxes, true);
      const m2 = reduceMean(mul(dxhat, xhat), normAxes, true);
      dx = mul(sub(sub(dxhat, m1), mul(xhat, m2)), inv);
    }
    return [dx, dw, db];
  },
});
export function layerNorm(x: Value, weight: Value, bias: Value | null, axis = -1, eps = 1e-5): Value {
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return apply(LayerNorm, inputs, { axis: normAxis(axis, x.rank), eps })[0]!;
}

// ---- convolution & pooling --------------------------------------------------------------------------

export interface ConvAttrs {
  strides: number[];
  /** ONNX order: [begin_h, begin_w, end_h, end_w]. */
  pads: number[];
  dilations: number[];
  groups: number;
}

function convOut(inp: number, k: number, s: number, pb: number, pe: number, d: number): number {
  return Math.floor((inp + pb + pe - d * (k - 1) - 1) / s) + 1;
}

function convAttrs(a: ConvAttrs, kernel: readonly number[]): Record<string, Attr> {
  return {
    kernel_shape: attr.ints(kernel),
    strides: attr.ints(a.strides),
    pads: attr.ints(a.pads),
    dilations: attr.ints(a.dilations),
    group: attr.int(a.groups),
  };
}

export const Conv = defineOp<ConvAttrs>({
  type: 'Conv',
  infer: ([x, w, b], a, fail) => {
    if (x!.rank !== 4 || w!.rank !== 4) fail('expects NCHW input and OIHW weight');
    const [n, c, h, wd] = x!.shape as [number, number, number, number];
    const [o, cg, kh, kw] = w!.shape as [number, number, number, number];
    if (c % a.groups !== 0 || o % a.groups !== 0) fail(`channels ${c}→${o} not divisible by groups ${a.groups}`);
    if (cg * a.groups !== c) fail(`weight expects ${cg * a.groups} input channels, input has ${c}`);
    if (b && (b.rank !== 1 || b.shape[0] !== o)) fail(`bias ${fmt(b.shape)} must be [${o}]`);
    const oh = convOut(h, kh, a.strides[0]!, a.pads[0]!, a.pads[2]!, a.dilations[0]!);
    const ow = convOut(wd, kw, a.strides[1]!, a.pads[1]!, a.pads[3]!, a.dilations[1]!);
    if (oh <= 0 || ow <= 0) fail(`output would be ${oh}x${ow} (input ${h}x${wd}, kernel ${kh}x${kw})`);
    return [{ shape: [n, o, oh, ow], dtype: x!.dtype }];
  },
  emit: (e, n) => {
    const w = n.inputs[1]!;
    e.node('Conv', n.inputs, n.outputs, convAttrs(n.attrs, w.shape.slice(2)));
  },
  // VJP installed by graph/conv_grad.ts
});

export interface ConvOptions {
  stride?: number | [number, number];
  /** Symmetric padding per spatial dim, or explicit [top, left, bottom, right]. */
  padding?: number | [number, number] | [number, number, number, number];
  dilation?: number | [number, number];
  groups?: number;
}

function pair(v: number | [number, number] | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  return typeof v === 'number' ? [v, v] : v;
}

export function convAttrsFrom(o: ConvOptions): ConvAttrs {
  const p = o.padding ?? 0;
  const pads =
    typeof p === 'number' ? [p, p, p, p] : p.length === 2 ? [p[0], p[1], p[0], p[1]] : [...p];
  return { strides: pair(o.stride, 1), pads, dilations: pair(o.dilation, 1), groups: o.groups ?? 1 };
}

export function conv2d(x: Value, w: Value, b: Value | null, o: ConvOptions = {}): Value {
  return apply1(Conv, b ? [x, w, b] : [x, w], convAttrsFrom(o));
}

export interface ConvTransposeAttrs extends ConvAttrs {
  outputPadding: number[];
}

export const ConvTranspose = defineOp<ConvTransposeAttrs>({
  type: 'ConvTranspose',
  infer: ([x, w, b], a, fail) => {
    if (x!.rank !== 4 || w!.rank !== 4) fail('expects NCHW input and [C_in, C_out/g, kh, kw] weight');
    const [n, c, h, wd] = x!.shape as [number, number, number, number];
    const [ci, og, kh, kw] = w!.shape as [number, number, number, number];
    if (ci !== c) fail(`weight expects ${ci} input channels, input has ${c}`);
    const o = og * a.groups;
    if (b && (b.rank !== 1 || b.shape[0] !== o)) fail(`bias ${fmt(b.shape)} must be [${o}]`);
    const oh = a.strides[0]! * (h - 1) + a.outputPadding[0]! + (kh - 1) * a.dilations[0]! + 1 - a.pads[0]! - a.pads[2]!;
    const ow = a.strides[1]! * (wd - 1) + a.outputPadding[1]! + (kw - 1) * a.dilations[1]! + 1 - a.pads[1]! - a.pads[3]!;
    if (oh <= 0 || ow <= 0) fail(`output would be ${oh}x${ow}`);
    return [{ shape: [n, o, oh, ow], dtype: x!.dtype }];
  },
  emit: (e, n) => {
    const w = n.inputs[1]!;
    e.node('ConvTranspose', n.inputs, n.outputs, {
      ...convAttrs(n.attrs, w.shape.slice(2)),
      output_padding: attr.ints(n.attrs.outputPadding),
    });
  },
  // VJP installed by graph/conv_grad.ts
});

export function convTranspose2d(
  x: Value,
  w: Value,
  b: Value | null,
  o: ConvOptions & { outputPadding?: number | [number, number] } = {},
): Value {
  return apply1(ConvTranspose, b ? [x, w, b] : [x, w], { ...convAttrsFrom(o), outputPadding: pair(o.outputPadding, 0) });
}

export interface PoolAttrs {
  kernel: number[];
  strides: number[];
  pads: number[];
  countIncludePad: boolean;
}

export const AveragePool = defineOp<PoolAttrs>({
  type: 'AveragePool',
  infer: ([x], a, fail) => {
    if (x!.rank !== 4) fail('expects NCHW input');
    const [n, c, h, w] = x!.shape as [number, number, number, number];
    const oh = convOut(h, a.kernel[0]!, a.strides[0]!, a.pads[0]!, a.pads[2]!, 1);
    const ow = convOut(w, a.kernel[1]!, a.strides[1]!, a.pads[1]!, a.pads[3]!, 1);
    if (oh <= 0 || ow <= 0) fail(`output would be ${oh}x${ow}`);
    return [{ shape: [n, c, oh, ow], dtype: x!.dtype }];
  },
  emit: (e, n) => {
    e.node('AveragePool', n.inputs, n.outputs, {
      kernel_shape: attr.ints(n.attrs.kernel),
      strides: attr.ints(n.attrs.strides),
      pads: attr.ints(n.attrs.pads),
      count_include_pad: attr.int(n.attrs.countIncludePad ? 1 : 0),
    });
  },
  // VJP installed by graph/conv_grad.ts
});

export function avgPool2d(
  x: Value,
  kernel: number | [number, number],
  o: { stride?: number | [number, number]; padding?: number | [number, number]; countIncludePad?: boolean } = {},
): Value {
  const k = pair(kernel, 1);
  const p = pair(o.padding, 0);
  return apply1(AveragePool, [x], {
    kernel: k,
    strides: pair(o.stride, k[0]),
    pads: [p[0], p[1], p[0], p[1]],
    countIncludePad: o.countIncludePad ?? false,
  });
}

/** Mean over H and W, keeping [N, C, 1, 1]. */
export const globalAvgPool = (x: Value): Value => reduceMean(x, [2, 3], true);

// ---- gather & resize -------------------------------------------------------------------------------

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
  // VJP installed by graph/conv_grad.ts
});
export const gather = (x: Value, indices: Value, axis = 0): Value =>
  apply1(Gather, [x, indices], { axis: normAxis(axis, x.rank) });

export interface ResizeAttrs {
  size: number[];
  mode: 'linear' | 'nearest' | 'cubic';
  coordinateMode: 'half_pixel' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric';
}

/** Resize the trailing two (spatial) dims of an NCHW tensor. */
export const Resize = defineOp<ResizeAttrs>({
  type: 'Resize',
  infer: ([x], { size }, fail) => {
    if (x!.rank !== 4) fail('expects NCHW input');
    if (size.length !== 2 || size.some((s) => !(s > 0))) fail(`size [${size}] must be two positive ints`);
    return [{ shape: [x!.shape[0]!, x!.shape[1]!, size[0]!, size[1]!], dtype: x!.dtype }];
  },
  emit: (e, n) => {
    const x = n.inputs[0]!;
    const sizes = e.int64s([x.shape[0]!, x.shape[1]!, ...n.attrs.size]);
    const a: Record<string, Attr> = {
      mode: attr.str(n.attrs.mode),
      coordinate_transformation_mode: attr.str(n.attrs.coordinateMode),
    };
    if (n.attrs.mode === 'nearest') a.nearest_mode = attr.str('floor');
    if (n.attrs.mode === 'cubic') a.cubic_coeff_a = attr.float(-0.75);
    e.node('Resize', [x, '', '', sizes], n.outputs, a);
  },
  // VJP installed by graph/conv_grad.ts
});
export function resize(
  x: Value,
  size: [number, number],
  mode: ResizeAttrs['mode'] = 'linear',
  coordinateMode: ResizeAttrs['coordinateMode'] = 'half_pixel',
): Value {
  if (x.shape[2] === size[0] && x.shape[3] === size[1]) return x;
  return apply1(Resize, [x], { size: [...size], mode, coordinateMode });
}

export type { VjpArgs };
