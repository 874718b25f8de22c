/**
 * Convs with weights fed at run time on ONNX Runtime's NCHWc kernels: the emission conv.ts's
 * `emitConv` chooses for depthwise and dense k×k convs (`isNchwcConv`) in train steps on
 * onnxruntime-node's CPU EP (`EmitOptions.nchwcBlock`).
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
 * Dense convs get their weights in MLAS's OIHWBiBo order by a Pad, a Reshape and a Transpose.
 * The block size B is the machine's (MLAS picks it from the CPU), so the graph is only valid there:
 * never exported, never run by another runtime. The sums are the same products in another order, so
 * results differ from ONNX's Conv by rounding only.
 */
import { attr, NCHWC_DOMAIN, type Emitter } from '../emit.js';
import type { Shape, Value } from '../graph.js';
import { convAttrs, type ConvAttrs } from './conv.js';

/**
 * A conv `emitNchwc` can emit: depthwise (one input channel per group, one output per input
 * channel), or dense (one group) with a kernel larger than 1×1 at stride 1 — no dilation either way,
 * and input channels a multiple of 4 (the only counts ReorderInput takes). Dense 3×3 convs ran
 * 1.2–3.1× faster so (MobileViT's on 4²–16² maps, batch 128); 1×1 convs did not gain (their
 * reorders cost what the GEMM saves, up to 2.7× slower), nor were strided dense convs measured.
 */
export function isNchwcConv(xShape: Shape, wShape: Shape, a: ConvAttrs): boolean {
  const c = xShape[1]!;
  const [o, cg, kh, kw] = wShape as [number, number, number, number];
  const depthwise = cg === 1 && o === c && a.groups === c;
  const dense = a.groups === 1 && kh * kw > 1 && a.strides.every((s) => s === 1);
  return (depthwise || dense) && c % 4 === 0 && a.dilations.every((d) => d === 1);
}

/** The ONNX nodes of y = Conv(x, w) + b (`isNchwcConv`) on the NCHWc kernels of block `e.nchwcBlock`. */
export function emitNchwc(e: Emitter, x: Value, w: Value, b: Value | null, y: Value, a: ConvAttrs): void {
  const block = e.nchwcBlock;
  const roundUp = (channels: number) => Math.ceil(channels / block) * block;
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  const c = x.shape[1]!;
  const depthwise = a.groups > 1;
  const [outPadded, inPadded] = [roundUp(o), roundUp(c)];
  let wBlocked: string;
  if (depthwise) {
    // The weights' blocked order [Cp/B, kh, kw, B] is the NCHWc layout of w seen as one image of C
    // channels: ReorderInput makes it (and the zero channels) faster than a Transpose, which matters
    // where the "weights" are a whole map (conv.ts's depthwise weight gradient).
    const [wImage] = e.node('Reshape', [w, e.int64s([1, c, kh, kw])], 1);
    const [wImageBlocked] = e.node('ReorderInput', [wImage!], 1, {}, NCHWC_DOMAIN);
    [wBlocked] = e.node('Reshape', [wImageBlocked!, e.int64s([outPadded, 1, kh, kw])], 1) as [string];
  } else {
    // Dense: zero output and input channels up to the blocks, then MLAS's OIHWBiBo order
    // [Op/B, Ip/B, kh, kw, B (in), B (out)].
    const padded = outPadded === o && inPadded === cg ? e.name(w) : e.node('Pad', [w, e.int64s([0, 0, 0, 0, outPadded - o, inPadded - cg, 0, 0])], 1)[0]!;
    const [split] = e.node('Reshape', [padded, e.int64s([outPadded / block, block, inPadded / block, block, kh, kw])], 1);
    const [ordered] = e.node('Transpose', [split!], 1, { perm: attr.ints([0, 2, 4, 5, 3, 1]) });
    [wBlocked] = e.node('Reshape', [ordered!, e.int64s([outPadded, inPadded, kh, kw])], 1) as [string];
  }
  const [xBlocked] = e.node('ReorderInput', [x], 1, {}, NCHWC_DOMAIN);
  const bias = !b || outPadded === o ? b : e.node('Pad', [b, e.int64s([0, outPadded - o])], 1)[0]!;
  const inputs = [xBlocked!, wBlocked, ...(bias ? [bias] : [])];
  const [yBlocked] = e.node('Conv', inputs, 1, convAttrs({ ...a, groups: depthwise ? outPadded : 1 }, [kh, kw]), NCHWC_DOMAIN);
  e.node('ReorderOutput', [yBlocked!], [y], { channels: attr.int(o) }, NCHWC_DOMAIN);
}
