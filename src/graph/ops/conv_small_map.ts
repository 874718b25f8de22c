/**
 * A depthwise conv on a small map, as batched MatMuls: the emission conv.ts's
 * `emitConv` chooses for it when its weights are fed at run time, and the weight gradient that
 * `convWeightGrad` builds for it.
 */
import { Tensor } from '../../tensor.js';
import { attr, type Emitter } from '../emit.js';
import type { Shape, Value } from '../graph.js';
import type { ConvAttrs } from './conv.js';
import { emitBinary, knownAtBuild } from './broadcast_emit.js';
import { constant } from './core.js';
import { reshape, transpose } from './layout.js';
import { matmul } from './matmul.js';

/**
 * How much faster ORT's GEMMs run than its depthwise Conv with weights fed at run time (train steps),
 * per MAC, on small maps: 23× measured on a ConvNeXt V2 train step at 32² (batch 128, one thread;
 * the 7×7 convs on 16² maps took 165 ms per block as Convs — forward, dx, dW — and 51 ms as MatMuls);
 * set a little lower so that a near tie keeps the Conv.
 */
const GEMM_TO_DEPTHWISE_SPEED = 16;

/**
 * Depthwise (one input channel per group, one output channel per input channel), stride 1, no
 * dilation, on a map small enough that MatMuls win (ConvNeXt's last stages, FCMAE's decoder, the
 * small maps of Fashion-MNIST-sized models). With weights fed at run time (train steps) `emitConv`
 * emits such convs as y[c] = x[c]·T[c] instead, T[c] [H·W, Ho·Wo] made from the kernel and the
 * padding. Their weight gradient is MatMuls too (`convWeightGrad`), and the input gradient — a conv
 * of dy with the flipped kernel, a computed value — is emitted the same way.
 *
 * Cost per channel, in MACs: the conv kh·kw·Ho·Wo per image; the MatMul form H·W·Ho·Wo per image
 * (every input pixel times every output pixel, most of T zeros) plus kh·kw·H·W·Ho·Wo per batch to
 * make T (and as much for dW's taps sum). So MatMuls win while (N + kh·kw)·H·W stays under
 * GEMM_TO_DEPTHWISE_SPEED · N · kh·kw: at batch 128 a 7×7 kernel up to 23² maps, a 3×3 one up to
 * 11²; at batch 8 up to 10² and 8². Measured on the Fashion-MNIST configs' steps at batch 128 against
 * the earlier bound (maps no larger than the kernel), interleaved: one thread, ConvNeXt V2 1529 → 1062
 * ms (its 16² and 8² maps), MobileViT, CMT and GLNet 6%, 15% and 24% faster (3×3 convs on 8² maps);
 * two threads, 29%, 4%, 8% and 20% (by min). 3×3 convs on 16² maps (28× the MACs) gained nothing more.
 */
export function isSmallMapDepthwise(xShape: Shape, wShape: Shape, a: ConvAttrs): boolean {
  const [n, c, h, wd] = xShape as [number, number, number, number];
  const [o, cg, kh, kw] = wShape as [number, number, number, number];
  const depthwiseStride1 = cg === 1 && o === c && a.groups === c && [...a.strides, ...a.dilations].every((v) => v === 1);
  // A map no larger than the kernel always (the bound's first form; below batch 4 the two are within
  // 1.5× of each other there), larger ones while the MatMuls' MACs are worth it. Not a "kernel" of
  // more than 9×9 taps: that is a weight gradient correlating a map with its output gradient
  // (conv.ts's depthwise dW, one image per channel), whose T would hold kh·kw·H·W·Ho·Wo values.
  const convKernel = kh * kw <= 81;
  return depthwiseStride1 && convKernel && (h * wd <= kh * kw || (n + kh * kw) * h * wd <= GEMM_TO_DEPTHWISE_SPEED * n * kh * kw);
}

/**
 * The 0/1 matrix [kh·kw, H·W·Ho·Wo] of a stride-1 conv: taps[tap][i·(Ho·Wo) + o] = 1 where output
 * pixel o reads input pixel i through tap (p, q). T[c] = Σ_taps w[c, tap]·taps[tap].
 */
function smallMapTaps(h: number, wd: number, kh: number, kw: number, ho: number, wo: number, a: ConvAttrs): Float64Array {
  const hw = h * wd;
  const taps = new Float64Array(kh * kw * hw * ho * wo);
  for (let tap = 0; tap < kh * kw; tap++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        const [iy, ix] = [oy - a.pads[0]! + Math.floor(tap / kw), ox - a.pads[1]! + (tap % kw)];
        if (iy >= 0 && iy < h && ix >= 0 && ix < wd) taps[(tap * hw + iy * wd + ix) * ho * wo + oy * wo + ox] = 1;
      }
  return taps;
}

function floatTensor(values: Float64Array, shape: Shape, dtype: 'float32' | 'float64'): Tensor {
  return dtype === 'float64' ? new Tensor(values, shape, 'float64') : new Tensor(Float32Array.from(values), shape, 'float32');
}

/** The ONNX nodes of y = depthwise Conv(x, w) + b as x[c]·T[c] (see `isSmallMapDepthwise`). */
export function emitDepthwiseAsMatMul(e: Emitter, x: Value, w: Value, b: Value | null, y: Value, a: ConvAttrs): void {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [, , kh, kw] = w.shape as [number, number, number, number];
  const [, , ho, wo] = y.shape as [number, number, number, number];
  const dtype = x.dtype as 'float32' | 'float64';
  const hw = h * wd;
  const tapsKey = `depthwise-taps|${dtype}|${[h, wd, kh, kw, ho, wo, ...a.pads].join(',')}`;
  const taps = e.constant(() => floatTensor(smallMapTaps(h, wd, kh, kw, ho, wo, a), [kh * kw, hw * ho * wo], dtype), tapsKey);
  // T = W[C, kh·kw] · taps → [C, H·W (in), Ho·Wo (out)]; then per channel, the N images' pixels times T[c].
  const [w2] = e.node('Reshape', [w, e.int64s([c, kh * kw])], 1);
  const [t2] = e.node('MatMul', [w2!, taps], 1);
  const [t] = e.node('Reshape', [t2!, e.int64s([c, hw, ho * wo])], 1);
  const [x3] = e.node('Reshape', [x, e.int64s([n, c, hw])], 1);
  const [xc] = e.node('Transpose', [x3!], 1, { perm: attr.ints([1, 0, 2]) });
  const [yc] = e.node('MatMul', [xc!, t!], 1);
  const [y3] = e.node('Transpose', [yc!], 1, { perm: attr.ints([1, 0, 2]) });
  if (!b) {
    e.node('Reshape', [y3!, e.int64s([n, c, ho, wo])], [y]);
    return;
  }
  const [y4] = e.node('Reshape', [y3!, e.int64s([n, c, ho, wo])], 1);
  const [b4] = e.node('Reshape', [b, e.int64s([1, c, 1, 1])], 1);
  // Per-channel on a small map: see broadcast_emit.ts.
  emitBinary(e, 'Add', { name: y4!, shape: y.shape, known: () => false }, { name: b4!, shape: [1, c, 1, 1], known: () => knownAtBuild(e, b) }, y.shape, [y]);
}

/**
 * dW of the small-map depthwise conv as MatMuls (the gradient of x[c]·T[c]): dT[c] = x[c]ᵀ·dy[c]
 * [H·W, Ho·Wo], then dW[c] = dT[c]·tapsᵀ.
 */
export function smallMapDepthwiseWeightGrad(x: Value, dy: Value, wShape: Shape, a: ConvAttrs): Value {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [, , ho, wo] = dy.shape as [number, number, number, number];
  const [, , kh, kw] = wShape as [number, number, number, number];
  const m = h * wd * ho * wo;
  const dtype = x.dtype as 'float32' | 'float64';
  const tapsTransposed = (): Tensor => {
    const taps = smallMapTaps(h, wd, kh, kw, ho, wo, a);
    const tapsT = new Float64Array(m * kh * kw);
    for (let tap = 0; tap < kh * kw; tap++) for (let j = 0; j < m; j++) tapsT[j * kh * kw + tap] = taps[tap * m + j]!;
    return floatTensor(tapsT, [m, kh * kw], dtype);
  };
  // One copy per graph of each shape's taps (3.2M values for a 7×7 kernel on 16² maps), built once.
  const tapsKey = `depthwise-taps-transposed|${dtype}|${[h, wd, kh, kw, ho, wo, ...a.pads].join(',')}`;
  const xt = transpose(reshape(x, [n, c, h * wd]), [1, 2, 0]); // [C, H·W, N]
  const d = transpose(reshape(dy, [n, c, ho * wo]), [1, 0, 2]); // [C, N, Ho·Wo]
  const dT = reshape(matmul(xt, d), [c, m]);
  return reshape(matmul(dT, constant(tapsTransposed, tapsKey)), wShape);
}
