/** Elementwise ops: arithmetic, comparisons, `where`, unary functions, pow, GELU and casts. */
import type { DType } from '../../tensor.js';
import { attr } from '../emit.js';
import { defineOp, type OpDef, type Value } from '../graph.js';
import { broadcastShapes, fmt, sameShape } from '../shape.js';
import { emitBroadcasting } from './broadcast_emit.js';
import { FLOAT_TYPES, apply1, emitSimple, operands, scalar, scalarTensor, unbroadcast, type Operand } from './core.js';

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
  emit: emitBroadcasting('Add'),
  vjp: ({ inputs: [a, b], dys: [dy] }) => [unbroadcast(dy!, a!.shape), unbroadcast(dy!, b!.shape)],
});
const Sub = defineOp<null>({
  type: 'Sub',
  infer: binaryInfer,
  emit: emitBroadcasting('Sub'),
  vjp: ({ inputs: [a, b], dys: [dy], needs }) => [
    unbroadcast(dy!, a!.shape),
    // Negate after summing a broadcast operand's gradient: a pass over its own (smaller) shape (exact).
    needs[1] ? neg(unbroadcast(dy!, b!.shape)) : null,
  ],
});
const Mul = defineOp<null>({
  type: 'Mul',
  infer: binaryInfer,
  emit: emitBroadcasting('Mul'),
  vjp: ({ inputs: [a, b], dys: [dy], needs }) => {
    // x·x: one product with 2x rather than two equal products and their sum (the same numbers:
    // doubling is exact), two passes over the tensor instead of three.
    if (a === b) return [needs[0] ? mul(dy!, mul(a!, 2)) : null, null];
    return [needs[0] ? unbroadcast(mul(dy!, b!), a!.shape) : null, needs[1] ? unbroadcast(mul(dy!, a!), b!.shape) : null];
  },
});
const Div = defineOp<null>({
  type: 'Div',
  infer: binaryInfer,
  emit: emitBroadcasting('Div'),
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

/**
 * The arithmetic ops broadcast, so an operand made by Expand is read at its source where that gives
 * the same result shape: the expanded copy (a full pass over the big tensor) is then not made unless
 * something else needs it. Gradients of reductions come as such Expands (ReduceSum's and
 * ReduceMean's VJPs), and most meet an Add or Mul next. Exact: the same values meet the same ops.
 */
function readExpandedAtSource([a, b]: [Value, Value]): [Value, Value] {
  const out = broadcastShapes(a.shape, b.shape);
  const source = (v: Value, other: Value): Value => {
    const src = v.producer?.op.type === 'Expand' ? v.producer.inputs[0]! : undefined;
    const same = src && out && broadcastShapes(src.shape, other.shape);
    return src && same && sameShape(same, out!) ? src : v;
  };
  const a1 = source(a, b);
  return [a1, source(b, a1)];
}
const arithmetic = (op: OpDef<null>) => (a: Operand, b: Operand): Value => apply1(op, readExpandedAtSource(operands(a, b)), null);
export const add = arithmetic(Add);
export const sub = arithmetic(Sub);
export const mul = arithmetic(Mul);
export const div = arithmetic(Div);
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

/** SiLU / Swish, x·σ(x): ORT fuses the pattern; the VJP comes from Mul's and Sigmoid's. */
export const silu = (x: Value): Value => mul(x, sigmoid(x));

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

