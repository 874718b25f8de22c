/** Normalisation: LayerNormalization with its statistics kept for the backward pass; train-mode batch norm. */
import { attr } from '../emit.js';
import { defineOp, type Value } from '../graph.js';
import { fmt, normAxis, sameShape } from '../shape.js';
import { FLOAT_TYPES, apply, scalarTensor } from './core.js';
import { add, cast, div, mul, reciprocal, sqrt, sub } from './elementwise.js';
import { expand, reshape } from './layout.js';
import { emitReduceNode, reduceMean, reduceSum } from './reduce.js';
import { emitBinary } from './broadcast_emit.js';

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


// ---- batch normalisation (train mode) ---------------------------------------------------------------

/**
 * Train-mode batch norm over N, H, W of an NCHW tensor, y = (x − μ)·w/√(σ² + eps) + b with the
 * batch's mean μ and biased variance σ². Outputs [y, μ, σ², x − μ, 1/√(σ² + eps)] (statistics
 * [1, C, 1, 1]); the last two are for the VJP.
 *
 * Why an op rather than its primitives: the forward is the same ONNX nodes either way, but the
 * primitives' VJPs add up to 13 passes over the activation (the variance's x·x alone gives two
 * equal products and their sum), where the closed form
 *   dx = s·(dy − mean(dy)) − (x − μ)·s·r²·mean(dy·(x − μ)),  s = w·r, r = 1/√(σ² + eps)
 * takes 7 (three of them the reductions that dw and db need anyway). BatchNorm sits after almost
 * every conv of MobileViT, CMT and GLNet.
 */
const BatchNormTrain = defineOp<{ eps: number }>({
  type: 'BatchNormTrain',
  infer: ([x, w, b], _a, fail) => {
    if (x!.rank !== 4) fail(`expects an NCHW input, got ${fmt(x!.shape)}`);
    if (!FLOAT_TYPES.has(x!.dtype)) fail(`needs a float tensor, got ${x!.dtype}`);
    const c = x!.shape[1]!;
    for (const v of [w!, b!]) if (v.rank !== 1 || v.shape[0] !== c || v.dtype !== x!.dtype) fail(`weight and bias must be ${x!.dtype}[${c}], got ${v.toString()}`);
    const stat = { shape: [1, c, 1, 1], dtype: x!.dtype };
    return [{ shape: x!.shape, dtype: x!.dtype }, stat, stat, { shape: x!.shape, dtype: x!.dtype }, stat];
  },
  emit: (e, n) => {
    const [x, w, b] = n.inputs as [Value, Value, Value];
    const [y, mean, variance, centred, invStd] = n.outputs as [Value, Value, Value, Value, Value];
    const out = (v: Value) => (e.isUsed(v) ? [e.name(v)] : 1);
    const reduceMean = (v: string, to: Value): string => emitReduceNode(e, 'ReduceMean', v, [0, 2, 3], true, out(to));
    const c = x.shape[1]!;
    const stat = [1, c, 1, 1];
    // The full-size products go through `emitBinary` (its per-channel operands on small maps).
    const big = (type: string, name: string, chan: string, to: readonly (Value | string)[] | 1 = 1): string =>
      emitBinary(e, type, { name, shape: x.shape, known: () => false }, { name: chan, shape: stat, known: () => false }, x.shape, to);
    const chanShape = e.int64s(stat);
    const m = reduceMean(e.name(x), mean);
    const xc = big('Sub', e.name(x), m, out(centred));
    const [sq] = e.node('Mul', [xc, xc], 1);
    const v = reduceMean(sq!, variance);
    const [ve] = e.node('Add', [v, e.constant(scalarTensor(n.attrs.eps, x.dtype))], 1);
    const [sd] = e.node('Sqrt', [ve!], 1);
    const [r] = e.node('Reciprocal', [sd!], out(invStd));
    const [w4] = e.node('Reshape', [w, chanShape], 1);
    const [s] = e.node('Mul', [r!, w4!], 1);
    const xs = big('Mul', xc, s!);
    const [b4] = e.node('Reshape', [b, chanShape], 1);
    big('Add', xs, b4!, [y]);
  },
  vjp: ({ inputs: [x, w], outputs: [, , , centred, invStd], dys: [dy, dMean, dVariance, dCentred, dInvStd], needs }) => {
    if (dCentred || dInvStd) throw new Error('BatchNormTrain: its outputs x − μ and 1/√(σ² + eps) are for its own VJP only');
    const [n, c, h, wd] = x!.shape as [number, number, number, number];
    const count = n * h * wd;
    const axes = [0, 2, 3];
    let dx: Value | null = null;
    let dw: Value | null = null;
    let db: Value | null = null;
    if (dy) {
      const sumDy = reduceSum(dy, axes, true); // [1, C, 1, 1]
      const sumDyXc = reduceSum(mul(dy, centred!), axes, true);
      if (needs[2]) db = reshape(sumDy, [c]);
      if (needs[1]) dw = reshape(mul(sumDyXc, invStd!), [c]);
      if (needs[0]) {
        const s = mul(invStd!, reshape(w!, [1, c, 1, 1]));
        const k = mul(mul(s, mul(invStd!, invStd!)), div(sumDyXc, count));
        dx = sub(mul(sub(dy, div(sumDy, count)), s), mul(centred!, k));
      }
    }
    if (needs[0] && (dMean || dVariance)) {
      // The statistics read x directly too: ∂μ/∂x = 1/n, ∂σ²/∂x = 2(x − μ)/n (Σ(x − μ) = 0).
      let extra: Value | null = dMean ? expand(div(dMean, count), x!.shape) : null;
      if (dVariance) {
        const viaVariance = mul(centred!, mul(dVariance, 2 / count));
        extra = extra ? add(extra, viaVariance) : viaVariance;
      }
      dx = dx ? add(dx, extra!) : extra;
    }
    return [dx, dw, db];
  },
});

/** Train-mode batch norm of an NCHW tensor: [y, mean, biased variance] (statistics [1, C, 1, 1]). */
export function batchNormTrain(x: Value, weight: Value, bias: Value, eps: number): [Value, Value, Value] {
  const [y, mean, variance] = apply(BatchNormTrain, [x, weight, bias], { eps });
  return [y!, mean!, variance!];
}
