/** Normalisation: LayerNormalization with its statistics kept for the backward pass. */
import { attr } from '../emit.js';
import { defineOp, type Value } from '../graph.js';
import { fmt, normAxis, sameShape } from '../shape.js';
import { apply } from './core.js';
import { add, cast, mul, reciprocal, sqrt, sub } from './elementwise.js';
import { reduceMean, reduceSum } from './reduce.js';

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

