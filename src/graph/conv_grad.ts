/**
 * VJP rules for convolution, transposed convolution, average pooling, gather and resize.
 *
 * The forward ops live in ops.ts; importing this module installs their `vjp`. ORT's npm builds have
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
 *   depthwise, otherwise               → one grouped Conv treating the batch as channels
 *   dense k×k stride k, no padding     → space-to-depth (Reshape/Transpose) + MatMul
 *   otherwise                          → im2col (strided Slices + Concat) + MatMul + ReduceSum
 *
 * Every path is exact; the last ones in each list are correct for any stride, padding (asymmetric
 * included), dilation and group count.
 */
import { ShapeError } from '../errors.js';
import { Tensor, type DType } from '../tensor.js';
import { attr } from './emit.js';
import { currentGraph, defineOp, type Shape, type Value } from './graph.js';
import {
  AveragePool,
  Conv,
  ConvTranspose,
  Gather,
  Resize,
  cast,
  concat,
  constant,
  expand,
  matmul,
  mul,
  pad,
  reduceSum,
  reshape,
  scalar,
  slice,
  transpose,
  transposeLast2,
  type ConvAttrs,
  type ConvTransposeAttrs,
  type ResizeAttrs,
} from './ops.js';
import { fmt } from './shape.js';

// ---- small helpers ---------------------------------------------------------------------------------

function applyConv(x: Value, w: Value, a: ConvAttrs): Value {
  return currentGraph().apply(Conv, [x, w], a)[0]!;
}

function applyConvTranspose(x: Value, w: Value, a: ConvTransposeAttrs): Value {
  return currentGraph().apply(ConvTranspose, [x, w], a)[0]!;
}

/** A constant tensor of the given float dtype. */
function floatConstant(values: ArrayLike<number>, shape: Shape, dtype: DType): Value {
  if (dtype === 'float64') return constant(new Tensor(Float64Array.from(values), shape, 'float64'));
  if (dtype === 'float32') return constant(new Tensor(Float32Array.from(values), shape, 'float32'));
  throw new ShapeError(`gradient constants: unsupported dtype ${dtype}`);
}

/** Keep the top-left h×w of an NCHW tensor (no node when it already has that size). */
function cropSpatial(x: Value, h: number, w: number): Value {
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

  if (cg === 1) {
    // Depthwise (one input channel per group, any channel multiplier): one grouped Conv with the
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

Conv.vjp = ({ inputs: [x, w, b], dys: [dy], attrs, needs }) => [
  needs[0] ? convInputGrad(dy!, w!, x!.shape, attrs) : null,
  needs[1] ? convWeightGrad(x!, dy!, w!.shape, attrs) : null,
  b && needs[2] ? reduceSum(dy!, [0, 2, 3]) : null,
];

// ---- ConvTranspose ----------------------------------------------------------------------------------

/*
 * ConvTranspose(x, W) is the adjoint of Conv(·, W) with the same strides/pads/dilations/groups
 * (its weight [C_in, C_out/g, kh, kw] is laid out like that Conv's [O, C/g, kh, kw]). So:
 *   dx = Conv(dy, W)                         — the adjoint of the adjoint;
 *   dW = the Conv weight gradient with the roles swapped: "input" dy, "output gradient" x.
 */
ConvTranspose.vjp = ({ inputs: [x, w, b], dys: [dy], attrs, needs }) => {
  const conv: ConvAttrs = { strides: attrs.strides, pads: attrs.pads, dilations: attrs.dilations, groups: attrs.groups };
  let dx: Value | null = null;
  if (needs[0]) {
    // output_padding rows are never read back by the conv's windows, except that an
    // output_padding ≥ stride yields extra output rows: crop them.
    dx = cropSpatial(applyConv(dy!, w!, conv), x!.shape[2]!, x!.shape[3]!);
  }
  return [dx, needs[1] ? convWeightGrad(dy!, x!, w!.shape, conv) : null, b && needs[2] ? reduceSum(dy!, [0, 2, 3]) : null];
};

// ---- AveragePool ------------------------------------------------------------------------------------

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
AveragePool.vjp = ({ inputs: [x], dys: [dy], attrs: a }) => {
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

// ---- Gather -----------------------------------------------------------------------------------------

/**
 * ScatterND with reduction = 'add' (opset ≥ 16): adds each update slice into `data` at its index,
 * accumulating duplicates. Only used by the Gather VJP, so it has no VJP of its own.
 */
const ScatterNDAdd = defineOp<null>({
  type: 'ScatterND',
  nonDiff: [1],
  infer: ([data, indices, updates], _a, fail) => {
    if (indices!.dtype !== 'int64') fail(`indices must be int64, got ${indices!.dtype}`);
    const kq = indices!.shape[indices!.rank - 1]!;
    const want = [...indices!.shape.slice(0, -1), ...data!.shape.slice(kq)];
    if (updates!.dtype !== data!.dtype) fail(`updates dtype ${updates!.dtype} differs from data ${data!.dtype}`);
    if (updates!.rank !== want.length || updates!.shape.some((d, i) => d !== want[i]))
      fail(`updates ${fmt(updates!.shape)} must be ${fmt(want)}`);
    return [{ shape: data!.shape, dtype: data!.dtype }];
  },
  emit: (e, n) => {
    e.node('ScatterND', n.inputs, n.outputs, { reduction: attr.str('add') });
  },
});

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/*
 * y = Gather(x, idx, axis) copies slices of x; its VJP adds each dy slice back at its index, with
 * repeated indices accumulating (a relative-position-bias table is read many times per entry).
 * ScatterND-add does exactly that along the leading axis, so the gathered axis is moved to the
 * front and back. Works for runtime indices too, negative ones included.
 */
Gather.vjp = ({ inputs: [x, idx], dys: [dy], attrs: { axis } }) => {
  const q = idx!.rank;
  // dy is [x.shape[:axis], idx.shape, x.shape[axis+1:]]; ScatterND wants [idx.shape, rest].
  const updates = transpose(dy!, [...range(axis, axis + q), ...range(0, axis), ...range(axis + q, dy!.rank)]);
  const frontShape = [x!.shape[axis]!, ...x!.shape.slice(0, axis), ...x!.shape.slice(axis + 1)];
  const zeros = expand(scalar(0, x!.dtype), frontShape);
  const indices = reshape(cast(idx!, 'int64'), [...idx!.shape, 1]);
  const g = currentGraph().apply(ScatterNDAdd, [zeros, indices, updates], null)[0]!;
  return [transpose(g, [...range(1, axis + 1), 0, ...range(axis + 1, x!.rank)]), null];
};

// ---- Resize -----------------------------------------------------------------------------------------

const f32 = Math.fround;

/** Keys cubic convolution weights for the 4 taps around a sample at fractional offset s (ORT's form). */
function cubicCoeffs(s: number, a: number): number[] {
  const t = Math.abs(s);
  return [
    ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
    ((a + 2) * t - (a + 3)) * t * t + 1,
    ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
    ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
  ].map(f32);
}

/**
 * The [outLen, inLen] matrix of a 1-D Resize along one axis, reproducing ONNX Runtime's CPU kernel
 * (opset 13) bit for bit where it matters: coordinates are computed in float32 (hence Math.fround
 * after every operation), the scale is out/in as a float, linear samples are clamped to the input
 * (border pixels get both weights 0.5 on the same index), nearest uses nearest_mode = floor (as
 * ops.ts emits) and cubic clamps its taps to the border with a = −0.75.
 *
 * Resize acts separably on H and W, so out = Rh · X · Rwᵀ per image; these matrices give both the
 * forward (in tests) and the gradient Rhᵀ · dY · Rw.
 */
export function resizeMatrix(
  inLen: number,
  outLen: number,
  mode: ResizeAttrs['mode'],
  coordinateMode: ResizeAttrs['coordinateMode'],
): Float64Array {
  const m = new Float64Array(outLen * inLen);
  if (inLen === outLen) {
    // ORT short-cuts a scale of exactly 1 to the identity for every mode.
    for (let i = 0; i < outLen; i++) m[i * inLen + i] = 1;
    return m;
  }
  const scale = f32(outLen / inLen);
  const original = (x: number): number => {
    switch (coordinateMode) {
      case 'asymmetric':
        return f32(x / scale);
      case 'pytorch_half_pixel':
        return outLen > 1 ? f32(f32(f32(x + 0.5) / scale) - 0.5) : 0;
      case 'align_corners':
        return outLen === 1 ? 0 : f32(f32(x * (inLen - 1)) / (outLen - 1));
      case 'half_pixel':
        return f32(f32(f32(x + 0.5) / scale) - 0.5);
    }
  };
  const clampIdx = (i: number) => Math.min(Math.max(i, 0), inLen - 1);
  for (let y = 0; y < outLen; y++) {
    const row = y * inLen;
    const src = original(y);
    if (mode === 'nearest') {
      m[row + clampIdx(Math.floor(src))] = 1;
    } else if (mode === 'linear') {
      const v = Math.max(0, Math.min(src, inLen - 1));
      const i1 = Math.min(Math.trunc(v), inLen - 1);
      const i2 = Math.min(i1 + 1, inLen - 1);
      // ORT's weights: the far neighbour's distance weights the near one.
      let d1 = f32(Math.abs(v - i1));
      let d2 = f32(Math.abs(v - i2));
      if (i1 === i2) d1 = d2 = 0.5;
      m[row + i1] += d2;
      m[row + i2] += d1;
    } else {
      const base = Math.floor(src);
      const coeffs = cubicCoeffs(f32(src - base), -0.75);
      for (let t = 0; t < 4; t++) m[row + clampIdx(base - 1 + t)] += coeffs[t]!;
    }
  }
  return m;
}

function transposed(m: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j]!;
  return t;
}

/* For a fixed size, Resize is linear: Y = Rh · X · Rwᵀ, so dX = Rhᵀ · dY · Rw (constant matrices). */
Resize.vjp = ({ inputs: [x], dys: [dy], attrs: { size, mode, coordinateMode } }) => {
  const [, , h, w] = x!.shape as [number, number, number, number];
  const [ho, wo] = size as [number, number];
  let g = dy!;
  if (w !== wo) g = matmul(g, floatConstant(resizeMatrix(w, wo, mode, coordinateMode), [wo, w], g.dtype));
  if (h !== ho)
    g = matmul(floatConstant(transposed(resizeMatrix(h, ho, mode, coordinateMode), ho, h), [h, ho], g.dtype), g);
  return [g];
};
