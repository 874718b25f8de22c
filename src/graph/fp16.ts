/**
 * fp16 weights: a pass over an emitted `OnnxModel` that stores float32 weights in half precision
 * and casts them back to float32 where they are read. The file is about half the size and compute
 * stays fp32 (ONNX Runtime folds the Casts into fp32 initializers when it loads the model), which is
 * what CPU and wasm backends want: they have few fp16 kernels.
 *
 * Weights whose magnitude does not fit fp16 (|w| > 65504) stay float32: an infinite weight is not
 * an approximation. Graph constants (shapes, epsilons, scales) are never converted.
 */
import { Tensor } from '../tensor.js';
import { attr, type OnnxModel } from './emit.js';

const FP16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of a float32, rounded to nearest even (subnormals, infinities and NaN kept). */
export function toHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    // A subnormal half (or zero): shift the full mantissa (implicit 1 included) into place.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Round to nearest even; a carry into the exponent is the correct rounding (up to Inf).
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** The float value of IEEE half bits. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** A float32 tensor as float16 (raw half bits). */
export function toFloat16(t: Tensor): Tensor<'float16'> {
  const src = t.data as Float32Array;
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toHalfBits(src[i]!);
  return new Tensor(out, t.shape, 'float16');
}

export interface Fp16Report {
  /** Weights now stored as float16. */
  converted: number;
  /** Weights kept float32 because a value does not fit fp16 (their names). */
  keptFloat32: string[];
}

/**
 * Rewrite `m` in place: every float32 weight initializer `w` becomes a float16 initializer
 * `w.fp16` and a node `Cast(to float) → w`, so that every reader of `w` is unchanged.
 */
export function storeWeightsAsFloat16(m: OnnxModel): Fp16Report {
  const casts: typeof m.nodes = [];
  const report: Fp16Report = { converted: 0, keptFloat32: [] };
  m.initializers = m.initializers.map((init) => {
    if (!init.param || init.tensor.dtype !== 'float32') return init;
    const data = init.tensor.data as Float32Array;
    if (data.some((v) => Math.abs(v) > FP16_MAX)) {
      report.keptFloat32.push(init.name);
      return init;
    }
    const name = `${init.name}.fp16`;
    casts.push({ opType: 'Cast', domain: '', inputs: [name], outputs: [init.name], attrs: { to: attr.int(1) }, name: `${init.name}/Cast_fp32` });
    report.converted++;
    return { name, tensor: toFloat16(init.tensor), param: true };
  });
  // The Casts come first: ONNX wants nodes in topological order.
  m.nodes = [...casts, ...m.nodes];
  return report;
}
