/** Average pooling; its gradient is the input gradient of a depthwise conv with 1/count taps. */
import { attr } from '../emit.js';
import { defineOp, type Value, type VjpArgs } from '../graph.js';
import { apply1 } from './core.js';
import { convInputGrad, convOut, floatConstant, pair } from './conv.js';
import { mul } from './elementwise.js';
import { reduceMean } from './reduce.js';

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
  vjp: averagePoolVjp,
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

/**
 * Divisor of each output of AveragePool along one axis, as ORT computes it: the window clipped to
 * the padded extent (count_include_pad) or to the input itself (exclude padding).
 */
function poolCounts(len: number, outLen: number, kernel: number, stride: number, pb: number, pe: number, includePad: boolean): number[] {
  const counts: number[] = [];
  for (let i = 0; i < outLen; i++) {
    const start = i * stride - pb;
    const end = Math.min(start + kernel, len + pe);
    counts.push(includePad ? end - start : Math.min(end, len) - Math.max(start, 0));
  }
  return counts;
}

/*
 * AveragePool is a depthwise conv whose taps are 1/count, so its input gradient is that conv's
 * input gradient (convInputGrad picks flipped-conv / broadcast / ConvTranspose as for any
 * depthwise conv). When the divisor is the same for every window the taps are constant; when it
 * varies (count_include_pad = 0 with padding), dy is divided by the per-window count first.
 */
function averagePoolVjp({ inputs: [x], dys: [dy], attrs: a }: VjpArgs<PoolAttrs>): (Value | null)[] {
  const [, c, h, w] = x!.shape as [number, number, number, number];
  const [, , ho, wo] = dy!.shape as [number, number, number, number];
  const [kh, kw] = a.kernel as [number, number];
  const [pt, pl, pb, pr] = a.pads as [number, number, number, number];
  const rows = poolCounts(h, ho, kh, a.strides[0]!, pt, pb, a.countIncludePad);
  const cols = poolCounts(w, wo, kw, a.strides[1]!, pl, pr, a.countIncludePad);
  const uniform = rows.every((r) => r === kh) && cols.every((q) => q === kw);
  let g = dy!;
  let tap = 1 / (kh * kw);
  if (!uniform) {
    const inv = new Float64Array(ho * wo);
    for (let i = 0; i < ho; i++) for (let j = 0; j < wo; j++) inv[i * wo + j] = 1 / (rows[i]! * cols[j]!);
    g = mul(g, floatConstant(inv, [ho, wo], g.dtype));
    tap = 1;
  }
  const kernel = floatConstant(new Float64Array(c * kh * kw).fill(tap), [c, 1, kh, kw], g.dtype);
  return [convInputGrad(g, kernel, x!.shape, { strides: [...a.strides], pads: [...a.pads], dilations: [1, 1], groups: c })];
};

