/**
 * A depthwise conv with weights fed at run time, on ONNX Runtime's NCHWc kernels: the emission
 * conv.ts's `emitConv` chooses for train steps on onnxruntime-node's CPU EP (`EmitOptions.nchwcBlock`).
 *
 * Why: ORT rewrites a Conv into its blocked-channel NCHWc kernels only when the weights are an
 * initializer (and, for depthwise ones, the channels a multiple of the block). In a train step the
 * weights are graph inputs, so every depthwise Conv — forward and input gradient — ran ORT's generic
 * grouped conv (an im2col and a one-row GEMM per channel and image): 1.2–4.5 GMAC/s on 7×7 kernels
 * here, where the NCHWc kernel, reorders included, ran the same convs at 10–24 GMAC/s (batch 32, 40
 * channels at 56² 44 → 10 ms, 80 at 28² 41 → 4.2 ms; batch 128, 24 channels at 32² 34 → 10 ms;
 * two threads, AVX-512). The kernels take their weights as an input, so we feed them reordered:
 *
 *   x [N, C, H, W] ─ ReorderInput → [N, Cp, H, W] blocked (Cp: C rounded up to the block, zero channels)
 *   w [C, 1, kh, kw] ─ as one image [1, C, kh, kw], ReorderInput → [Cp/B, kh·kw, B] in memory (MLAS's
 *                      OIHWBo order for depthwise weights), seen as [Cp, 1, kh, kw]
 *   nchwc.Conv(x, w, b padded to Cp), group Cp ─ ReorderOutput (channels C) → y [N, C, Ho, Wo]
 *
 * The block size B is the machine's (MLAS picks it from the CPU), so the graph is only valid there:
 * never exported, never run by another runtime. The sums are the same products in another order, so
 * results differ from ONNX's Conv by rounding only.
 */
import { attr, NCHWC_DOMAIN, type Emitter } from '../emit.js';
import type { Shape, Value } from '../graph.js';
import { convAttrs, type ConvAttrs } from './conv.js';

/**
 * A depthwise conv (one input channel per group, one output per input channel, no dilation) that
 * `emitDepthwiseNchwc` can emit: ReorderInput takes channel counts that are multiples of 4 only.
 */
export function isNchwcDepthwise(xShape: Shape, wShape: Shape, a: ConvAttrs): boolean {
  const c = xShape[1]!;
  const [o, cg] = wShape as [number, number];
  return cg === 1 && o === c && a.groups === c && c % 4 === 0 && a.dilations.every((d) => d === 1);
}

/** The ONNX nodes of y = depthwise Conv(x, w) + b on the NCHWc kernels of block `e.nchwcBlock`. */
export function emitDepthwiseNchwc(e: Emitter, x: Value, w: Value, b: Value | null, y: Value, a: ConvAttrs): void {
  const block = e.nchwcBlock;
  const c = x.shape[1]!;
  const [, , kh, kw] = w.shape as [number, number, number, number];
  const padded = Math.ceil(c / block) * block;
  // The weights' blocked order [Cp/B, kh, kw, B] is the NCHWc layout of w seen as one image of C
  // channels: ReorderInput makes it (and the zero channels) faster than a Transpose, which matters
  // where the "weights" are a whole map (conv.ts's depthwise weight gradient).
  const [wImage] = e.node('Reshape', [w, e.int64s([1, c, kh, kw])], 1);
  const [wImageBlocked] = e.node('ReorderInput', [wImage!], 1, {}, NCHWC_DOMAIN);
  const [wBlocked] = e.node('Reshape', [wImageBlocked!, e.int64s([padded, 1, kh, kw])], 1);
  const [xBlocked] = e.node('ReorderInput', [x], 1, {}, NCHWC_DOMAIN);
  const bias = !b || padded === c ? b : e.node('Pad', [b, e.int64s([0, padded - c])], 1)[0]!;
  const inputs = [xBlocked!, wBlocked!, ...(bias ? [bias] : [])];
  const [yBlocked] = e.node('Conv', inputs, 1, { ...convAttrs({ ...a, groups: padded }, [kh, kw]) }, NCHWC_DOMAIN);
  e.node('ReorderOutput', [yBlocked!], [y], { channels: attr.int(c) }, NCHWC_DOMAIN);
}
