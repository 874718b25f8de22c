/**
 * Transposed convolution: shape rule, emission and VJP rule. ConvTranspose is also the general input
 * gradient of Conv (conv.ts's `convInputGrad`), and its own gradients are Conv's.
 */
import { attr } from '../emit.js';
import { currentGraph, defineOp, type Value, type VjpArgs } from '../graph.js';
import { fmt } from '../shape.js';
import { apply1 } from './core.js';
import { applyConv, convAttrs, convAttrsFrom, convWeightGrad, cropSpatial, pair, type ConvAttrs, type ConvOptions } from './conv.js';
import { reduceSum } from './reduce.js';

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
  vjp: convTransposeVjp,
});

export function convTranspose2d(
  x: Value,
  w: Value,
  b: Value | null,
  o: ConvOptions & { outputPadding?: number | [number, number] } = {},
): Value {
  return apply1(ConvTranspose, b ? [x, w, b] : [x, w], { ...convAttrsFrom(o), outputPadding: pair(o.outputPadding, 0) });
}

export function applyConvTranspose(x: Value, w: Value, a: ConvTransposeAttrs): Value {
  return currentGraph().apply(ConvTranspose, [x, w], a)[0]!;
}

/*
 * ConvTranspose(x, W) is the adjoint of Conv(·, W) with the same strides/pads/dilations/groups
 * (its weight [C_in, C_out/g, kh, kw] is laid out like that Conv's [O, C/g, kh, kw]). So:
 *   dx = Conv(dy, W)                         — the adjoint of the adjoint;
 *   dW = the Conv weight gradient with the roles swapped: "input" dy, "output gradient" x.
 */
function convTransposeVjp({ inputs: [x, w, b], dys: [dy], attrs, needs }: VjpArgs<ConvTransposeAttrs>): (Value | null)[] {
  const conv: ConvAttrs = { strides: attrs.strides, pads: attrs.pads, dilations: attrs.dilations, groups: attrs.groups };
  let dx: Value | null = null;
  if (needs[0]) {
    // output_padding rows are never read back by the conv's windows, except that an
    // output_padding ≥ stride yields extra output rows: crop them.
    dx = cropSpatial(applyConv(dy!, w!, conv), x!.shape[2]!, x!.shape[3]!);
  }
  return [dx, needs[1] ? convWeightGrad(dy!, x!, w!.shape, conv) : null, b && needs[2] ? reduceSum(dy!, [0, 2, 3]) : null];
};

