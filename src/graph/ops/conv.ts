/**
 * Convolution: shape rule, emission and VJP rules side by side (transposed convolution, its
 * adjoint, in conv_transpose.ts).
 *
 * ORT's npm builds have
 * no fused gradient kernels (ConvGrad & co.), so every backward here is built from standard ONNX
 * ops. Which formulation a conv gets follows the measurements in ../shared/ENGINE.md (first match):
 *
 * Input gradient dx:
 *   1×1, stride 1, no padding          → batched MatMul with Wᵀ
 *   stride 1 (dense, grouped, dw)      → Conv of dy with the flipped, in/out-swapped kernel
 *   depthwise k×k stride k, no padding → broadcast Mul + Reshape
 *   otherwise                          → ConvTranspose with output_padding (exact shape)
 * Weight gradient dW:
 *   1×1, stride 1, no padding          → batched MatMul + ReduceSum over N
 *   depthwise k×k stride k, no padding → Reshape x to [N,C,Ho,k,Wo,k] · dy, ReduceSum
 *   depthwise s1, map ≤ kernel         → MatMuls with the 0/1 tap matrix (the forward's MatMul form)
 *   depthwise, otherwise               → one depthwise Conv over the (image, channel) pairs + ReduceSum
 *   depthwise with a multiplier        → one grouped Conv treating the batch as channels
 *   dense k×k stride 1, map ≤ 8², on NCHWc kernels (Graph.nchwcBlock) → one Conv with the images as channels
 *   dense k×k stride k, no padding     → space-to-depth (Reshape/Transpose) + MatMul
 *   otherwise                          → im2col (strided Slices + Concat) + MatMul + ReduceSum
 *
 * Every path is exact; the last ones in each list are correct for any stride, padding (asymmetric
 * included), dilation and group count.
 *
 * The forward Conv node (and each Conv a backward emits) is lowered when the graph is emitted
 * (`emitConv`): a depthwise conv on a small map (conv_small_map.ts's bound) with weights fed at run
 * time becomes a batched MatMul, other depthwise and dense k×k convs with fed weights ONNX
 * Runtime's NCHWc kernels where the graph is for onnxruntime-node's CPU EP (conv_nchwc.ts); tracing
 * does not look at how the weight is bound.
 */
import { ShapeError } from '../../errors.js';
import { Tensor, type DType } from '../../tensor.js';
import { attr, type Attr, type Emitter } from '../emit.js';
import { currentGraph, defineOp, type Shape, type Value, type VjpArgs } from '../graph.js';
import { fmt } from '../shape.js';
import { apply1, constant } from './core.js';
import { mul } from './elementwise.js';
import { concat, pad, reshape, slice, transpose } from './layout.js';
import { matmul, transposeLast2 } from './matmul.js';
import { reduceSum } from './reduce.js';
import { emitDepthwiseAsMatMul, isSmallMapDepthwise, smallMapDepthwiseWeightGrad } from './conv_small_map.js';
import { emitNchwc, isNchwcConv } from './conv_nchwc.js';
import { applyConvTranspose } from './conv_transpose.js';
import { knownAtBuild } from './broadcast_emit.js';

export interface ConvAttrs {
  strides: number[];
  /** ONNX order: [begin_h, begin_w, end_h, end_w]. */
  pads: number[];
  dilations: number[];
  groups: number;
}

export function convOut(inp: number, k: number, s: number, pb: number, pe: number, d: number): number {
  return Math.floor((inp + pb + pe - d * (k - 1) - 1) / s) + 1;
}

export function convAttrs(a: ConvAttrs, kernel: readonly number[]): Record<string, Attr> {
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
  emit: (e, n) => emitConv(e, n.inputs, n.outputs[0]!, n.attrs),
  vjp: convVjp,
});

/**
 * The emission rule of a 2-D convolution `inputs` = [x, w, b?] → `y`: a depthwise conv on a map no
 * larger than its kernel whose weights are fed at run time becomes one batched MatMul
 * (`emitDepthwiseAsMatMul`); everything else is ONNX's Conv. The choice is made here, when the graph
 * is emitted, because only then is it known whether the weight is an initializer (inference graphs)
 * or a graph input (training graphs, where parameters are fed) — tracing does not depend on it.
 */
export function emitConv(e: Emitter, inputs: readonly Value[], y: Value, a: ConvAttrs): void {
  const [x, w, b] = inputs as [Value, Value, Value | undefined];
  if (isSmallMapDepthwise(x.shape, w.shape, a) && !e.isInitializer(w) && (x.dtype === 'float32' || x.dtype === 'float64'))
    emitDepthwiseAsMatMul(e, x, w, b ?? null, y, a);
  // Not for weights ORT folds from initializers (inference graphs' BatchNorm-scaled kernels): its own
  // NCHWc rewrite then keeps whole chains of ops blocked, which ran MobileViT-XXS 10–15% faster.
  else if (e.nchwcBlock > 1 && !knownAtBuild(e, w) && x.dtype === 'float32' && isNchwcConv(x.shape, w.shape, a)) emitNchwc(e, x, w, b ?? null, y, a);
  else e.node('Conv', b ? [x, w, b] : [x, w], [y], convAttrs(a, w.shape.slice(2)));
}

export interface ConvOptions {
  stride?: number | [number, number];
  /** Symmetric padding per spatial dim, or explicit [top, left, bottom, right]. */
  padding?: number | [number, number] | [number, number, number, number];
  dilation?: number | [number, number];
  groups?: number;
}

export function pair(v: number | [number, number] | undefined, dflt: number): [number, number] {
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

// ---- small helpers ---------------------------------------------------------------------------------

export function applyConv(x: Value, w: Value, a: ConvAttrs): Value {
  return currentGraph().apply(Conv, [x, w], a)[0]!;
}

/** A constant tensor of the given float dtype. */
export function floatConstant(values: ArrayLike<number>, shape: Shape, dtype: DType): Value {
  if (dtype === 'float64') return constant(new Tensor(Float64Array.from(values), shape, 'float64'));
  if (dtype === 'float32') return constant(new Tensor(Float32Array.from(values), shape, 'float32'));
  throw new ShapeError(`gradient constants: unsupported dtype ${dtype}`);
}

/** Keep the top-left h×w of an NCHW tensor (no node when it already has that size). */
export function cropSpatial(x: Value, h: number, w: number): Value {
  if (x.shape[2] === h && x.shape[3] === w) return x;
  return slice(x, [0, 0], [h, w], [2, 3]);
}

/** Static geometry of one 2-D convolution, read from the weight and output-gradient shapes. */
interface ConvGeometry {
  o: number;
  cg: number;
  kh: number;
  kw: number;
  g: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pt: number;
  pl: number;
  pb: number;
  pr: number;
}

function geometry(wShape: Shape, a: ConvAttrs): ConvGeometry {
  const [o, cg, kh, kw] = wShape as [number, number, number, number];
  const [sh, sw] = a.strides as [number, number];
  const [dh, dw] = a.dilations as [number, number];
  const [pt, pl, pb, pr] = a.pads as [number, number, number, number];
  return { o, cg, kh, kw, g: a.groups, sh, sw, dh, dw, pt, pl, pb, pr };
}

const unpadded = (k: ConvGeometry): boolean => k.pt === 0 && k.pl === 0 && k.pb === 0 && k.pr === 0;

/** 1×1 kernel, stride 1, no padding: the conv is a per-pixel matrix product over channels. */
const isPointwise = (k: ConvGeometry): boolean => k.kh === 1 && k.kw === 1 && k.sh === 1 && k.sw === 1 && unpadded(k);

/**
 * k×k kernel with stride k, no dilation and no padding (patchify stems, 2×2 s2 downsampling, CMT's
 * K/V reduction): windows tile the input without overlap, so gradients are pure re-layouts.
 */
const isNonOverlapping = (k: ConvGeometry): boolean =>
  (k.kh > 1 || k.kw > 1) &&
  k.kh === k.sh &&
  k.kw === k.sw &&
  (k.dh === 1 || k.kh === 1) &&
  (k.dw === 1 || k.kw === 1) &&
  unpadded(k);

/**
 * The dense weight gradient as a conv with the images as channels (`convWeightGrad`): for a graph
 * emitted on NCHWc kernels, a map of at most 8², and a conv (x [C, N, H, W] with dy [O, N, Ho, Wo]
 * as its kernel: the forward's dilation is its stride, its stride the dilation) that emitConv gives
 * to those kernels.
 */
const isDenseGradAsConv = (x: Value, dyShape: Shape, k: ConvGeometry, a: ConvAttrs): boolean => {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, o, ho, wo] = dyShape as [number, number, number, number];
  const gradConv: ConvAttrs = { strides: [k.dh, k.dw], pads: a.pads, dilations: [k.sh, k.sw], groups: 1 };
  return currentGraph().nchwcBlock > 1 && x.dtype === 'float32' && k.g === 1 && k.kh * k.kw > 1 && ho * wo <= 64 && isNchwcConv([c, n, h, w], [o, n, ho, wo], gradConv);
};

/** One input channel per group and one output channel per input channel. */
const isDepthwise = (k: ConvGeometry, c: number): boolean => k.cg === 1 && k.o === c;

// ---- Conv: input gradient ---------------------------------------------------------------------------

/**
 * The kernel of the stride-1 input gradient: spatially flipped, input and output channels swapped
 * within each group. W [O, C/g, kh, kw] → W' [C, O/g, kh, kw] with
 * W'[gi·C/g + c, o, p, q] = W[gi·O/g + o, c, kh−1−p, kw−1−q].
 *
 * Why: y[i] = Σ_p x[i + p·d − pad] · w[p], so x[j] feeds y[j − p·d + pad] through tap p. Summing
 * dy over those outputs is a correlation of dy with the taps in reverse order — a conv with the
 * flipped kernel — and what was an output channel of the forward conv is now an input channel.
 */
function flippedTransposedKernel(w: Value, g: number): Value {
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  // Slice with step −1 reverses the axis (ends past the front: −(k+1) clamps to "before index 0").
  const flipped = kh === 1 && kw === 1 ? w : slice(w, [-1, -1], [-(kh + 1), -(kw + 1)], [2, 3], [-1, -1]);
  const og = o / g;
  if (og === 1 && cg === 1) return flipped; // depthwise: the channel swap is the identity
  const perGroup = reshape(flipped, [g, og, cg, kh, kw]);
  return reshape(transpose(perGroup, [0, 2, 1, 3, 4]), [g * cg, og, kh, kw]);
}

/** dL/dx of y = Conv(x, w) given dy; `xShape` is the forward input's shape. */
export function convInputGrad(dy: Value, w: Value, xShape: Shape, a: ConvAttrs): Value {
  const [n, c, h, wd] = xShape as [number, number, number, number];
  const [, , ho, wo] = dy.shape as [number, number, number, number];
  const k = geometry(w.shape, a);
  const { o, cg, kh, kw, g } = k;

  if (isPointwise(k)) {
    // y[n, :, p] = W · x[n, :, p] per pixel p, so dx[n, :, p] = Wᵀ · dy[n, :, p]: one batched MatMul
    // per group, with the pixels as the columns (no transposes of the activations).
    const wt = transposeLast2(reshape(w, [g, o / g, cg])); // [g, C/g, O/g]
    const d = reshape(dy, [n, g, o / g, ho * wo]);
    return reshape(matmul(wt, d), [n, c, h, wd]);
  }

  if (k.sh === 1 && k.sw === 1) {
    // Stride 1: a conv of dy with the flipped kernel. The padding mirrors the forward one: a tap
    // that reached `pad` rows before the input now reaches d·(k−1) − pad rows before dy.
    const pads = [k.dh * (kh - 1) - k.pt, k.dw * (kw - 1) - k.pl, k.dh * (kh - 1) - k.pb, k.dw * (kw - 1) - k.pr];
    // Padding larger than the kernel's reach (rare) would need negative pads: use ConvTranspose.
    if (pads.every((p) => p >= 0))
      return applyConv(dy, flippedTransposedKernel(w, g), { strides: [1, 1], pads, dilations: [k.dh, k.dw], groups: g });
  }

  if (isNonOverlapping(k) && isDepthwise(k, c)) {
    // Each input pixel lies in exactly one window: dx[n,c,i·kh+p,j·kw+q] = dy[n,c,i,j]·w[c,0,p,q].
    const prodT = mul(reshape(dy, [n, c, ho, 1, wo, 1]), reshape(w, [1, c, 1, kh, 1, kw]));
    const dx = reshape(prodT, [n, c, ho * kh, wo * kw]);
    // Rows/columns past the last window (input not divisible by k) get no gradient.
    return pad(dx, [0, 0, 0, 0, 0, 0, h - ho * kh, wd - wo * kw]);
  }

  // General case: ConvTranspose with the same weight is exactly the adjoint of Conv. The forward
  // conv may leave up to stride−1 rows/columns at the bottom/right unused; output_padding adds
  // them back (with zero gradient) so that dx has the input's exact shape.
  const outputPadding = [
    h - ((ho - 1) * k.sh + k.dh * (kh - 1) + 1 - k.pt - k.pb),
    wd - ((wo - 1) * k.sw + k.dw * (kw - 1) + 1 - k.pl - k.pr),
  ];
  return applyConvTranspose(dy, w, { ...a, outputPadding });
}

// ---- Conv: weight gradient --------------------------------------------------------------------------

/**
 * dL/dW of y = Conv(x, W) given dy, for a weight of shape `wShape`:
 * dW[o, c, p, q] = Σ_{n,i,j} dy[n, o, i, j] · xpad[n, group(o)·C/g + c, i·sh + p·dh, j·sw + q·dw].
 * `x` may extend past the last window (ConvTranspose's VJP passes its output gradient here);
 * those extra rows/columns are ignored.
 */
export function convWeightGrad(x: Value, dy: Value, wShape: Shape, a: ConvAttrs): Value {
  const [n, c] = x.shape as [number, number];
  const [, , ho, wo] = dy.shape as [number, number, number, number];
  const k = geometry(wShape, a);
  const { o, cg, kh, kw, g } = k;

  if (isPointwise(k)) {
    // dW = Σ_n dy[n] · x[n]ᵀ with pixels as the contraction axis.
    const xs = reshape(cropSpatial(x, ho, wo), [n, g, cg, ho * wo]);
    const d = reshape(dy, [n, g, o / g, ho * wo]);
    return reshape(reduceSum(matmul(d, transposeLast2(xs)), [0]), wShape);
  }

  if (isNonOverlapping(k) && isDepthwise(k, c)) {
    // Windows tile x: view x as [N, C, Ho, kh, Wo, kw], weight by dy and sum over N, Ho, Wo.
    const x6 = reshape(cropSpatial(x, ho * kh, wo * kw), [n, c, ho, kh, wo, kw]);
    const prodT = mul(x6, reshape(dy, [n, c, ho, 1, wo, 1]));
    return reshape(reduceSum(prodT, [0, 2, 4]), wShape);
  }

  if (isNonOverlapping(k) && g === 1) {
    // Space-to-depth: [N, C, Ho, kh, Wo, kw] → [N, C·kh·kw, Ho·Wo], then dW = Σ_n dy[n] · cols[n]ᵀ.
    const x6 = reshape(cropSpatial(x, ho * kh, wo * kw), [n, c, ho, kh, wo, kw]);
    const cols = reshape(transpose(x6, [0, 1, 3, 5, 2, 4]), [n, c * kh * kw, ho * wo]);
    const d = reshape(dy, [n, o, ho * wo]);
    return reshape(reduceSum(matmul(d, transposeLast2(cols)), [0]), wShape);
  }

  if (isSmallMapDepthwise(x.shape, wShape, a) && (x.dtype === 'float32' || x.dtype === 'float64')) return smallMapDepthwiseWeightGrad(x, dy, wShape, a);

  if (cg === 1 && o === c) {
    // Depthwise: one depthwise Conv over the N·C (image, channel) pairs, each correlating its image's
    // channel with its own output gradient as the kernel — x → [1, N·C, H, W] and dy → [N·C, 1, Ho, Wo]
    // are plain reshapes — then a sum over the images. Output position (p, q) must read x at
    // i·s + p·d: the forward stride becomes the kernel dilation and the forward dilation the stride.
    // Why not the grouped form below (the batch as channels, group C: the same MACs): a depthwise
    // Conv goes to ONNX Runtime's NCHWc kernels in train steps (conv_nchwc.ts), 6–7× faster on
    // ConvNeXt's 7×7 convs at 56² and 28² (batch 32: 108 → 16 ms, 77 → 12 ms); without them the
    // two forms run within 5% of each other (ORT's generic grouped conv either way).
    const [h, wd] = x.shape.slice(2) as [number, number];
    const xc = reshape(x, [1, n * c, h, wd]);
    const kern = reshape(dy, [n * c, 1, ho, wo]);
    const out = applyConv(xc, kern, { strides: [k.dh, k.dw], pads: [...a.pads], dilations: [k.sh, k.sw], groups: n * c });
    // An input longer than the windows need yields extra positions past kh×kw: drop them.
    return reshape(reduceSum(reshape(cropSpatial(out, kh, kw), [n, c, kh, kw]), [0]), wShape);
  }

  if (cg === 1) {
    // Depthwise with a channel multiplier (one input channel per group): one grouped Conv with the
    // batch as channels. x → [1, C·N, H, W] (channel-major), dy → a "kernel" [O, N, Ho, Wo],
    // group = C, so output channel o correlates its group's N images with their N output
    // gradients. Output position (p, q) must read x at i·s + p·d: the forward stride becomes the
    // kernel dilation and the forward dilation becomes the stride.
    const xc = reshape(transpose(x, [1, 0, 2, 3]), [1, c * n, x.shape[2]!, x.shape[3]!]);
    const kern = transpose(dy, [1, 0, 2, 3]);
    const out = applyConv(xc, kern, { strides: [k.dh, k.dw], pads: [...a.pads], dilations: [k.sh, k.sw], groups: c });
    // An input longer than the windows need yields extra positions past kh×kw: drop them.
    return reshape(cropSpatial(out, kh, kw), wShape);
  }

  if (isDenseGradAsConv(x, dy.shape, k, a)) {
    // A conv with the images as channels: x → [C, N, H, W] ("C images of N channels"), dy → the
    // kernel [O, N, Ho, Wo], output [C, O, kh, kw]. Only where the graph is for the NCHWc kernels
    // (Graph.nchwcBlock), which run it 1.2–2.7× faster than the im2col below on MobileViT's 3×3
    // convs at 4² and 8² maps (batch 128), but slower at 16² (10.7 vs 7.7 ms, 16 channels); ONNX's
    // Conv runs this form 0.9–2.3× slower than im2col.
    const out = applyConv(transpose(x, [1, 0, 2, 3]), transpose(dy, [1, 0, 2, 3]), { strides: [1, 1], pads: [...a.pads], dilations: [1, 1], groups: 1 });
    return transpose(cropSpatial(out, kh, kw), [1, 0, 2, 3]);
  }

  // im2col: one strided Slice of the padded input per kernel tap, each [N, C, Ho, Wo], stacked as
  // [N, C, kh·kw, Ho·Wo] so that (c, p, q) matches the weight's memory order. Then per group
  // dW = Σ_n dy[n] · cols[n]ᵀ.
  const xp = pad(x, [0, 0, k.pt, k.pl, 0, 0, k.pb, k.pr]);
  const taps: Value[] = [];
  for (let p = 0; p < kh; p++) {
    for (let q = 0; q < kw; q++) {
      const r0 = p * k.dh;
      const c0 = q * k.dw;
      const patch = slice(xp, [r0, c0], [r0 + (ho - 1) * k.sh + 1, c0 + (wo - 1) * k.sw + 1], [2, 3], [k.sh, k.sw]);
      taps.push(reshape(patch, [n, c, 1, ho * wo]));
    }
  }
  const cols = reshape(concat(taps, 2), [n, g, cg * kh * kw, ho * wo]);
  const d = reshape(dy, [n, g, o / g, ho * wo]);
  return reshape(reduceSum(matmul(d, transposeLast2(cols)), [0]), wShape);
}

function convVjp({ inputs: [x, w, b], dys: [dy], attrs, needs }: VjpArgs<ConvAttrs>): (Value | null)[] {
  return [
    needs[0] ? convInputGrad(dy!, w!, x!.shape, attrs) : null,
    needs[1] ? convWeightGrad(x!, dy!, w!.shape, attrs) : null,
    b && needs[2] ? reduceSum(dy!, [0, 2, 3]) : null,
  ];
}
