/** Resize of the spatial dims, and the interpolation matrices its gradient is made of. */
import { attr, type Attr } from '../emit.js';
import { defineOp, type Value, type VjpArgs } from '../graph.js';
import { apply1 } from './core.js';
import { floatConstant } from './conv.js';
import { matmul } from './matmul.js';

export interface ResizeAttrs {
  size: number[];
  mode: 'linear' | 'nearest' | 'cubic';
  coordinateMode: 'half_pixel' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric';
}

/** Resize the trailing two (spatial) dims of an NCHW tensor. */
export const Resize = defineOp<ResizeAttrs>({
  type: 'Resize',
  infer: ([x], { size }, fail) => {
    if (x!.rank !== 4) fail('expects NCHW input');
    if (size.length !== 2 || size.some((s) => !(s > 0))) fail(`size [${size}] must be two positive ints`);
    return [{ shape: [x!.shape[0]!, x!.shape[1]!, size[0]!, size[1]!], dtype: x!.dtype }];
  },
  emit: (e, n) => {
    const x = n.inputs[0]!;
    const sizes = e.int64s([x.shape[0]!, x.shape[1]!, ...n.attrs.size]);
    const a: Record<string, Attr> = {
      mode: attr.str(n.attrs.mode),
      coordinate_transformation_mode: attr.str(n.attrs.coordinateMode),
    };
    if (n.attrs.mode === 'nearest') a.nearest_mode = attr.str('floor');
    if (n.attrs.mode === 'cubic') a.cubic_coeff_a = attr.float(-0.75);
    e.node('Resize', [x, '', '', sizes], n.outputs, a);
  },
  vjp: resizeVjp,
});
export function resize(
  x: Value,
  size: [number, number],
  mode: ResizeAttrs['mode'] = 'linear',
  coordinateMode: ResizeAttrs['coordinateMode'] = 'half_pixel',
): Value {
  if (x.shape[2] === size[0] && x.shape[3] === size[1]) return x;
  return apply1(Resize, [x], { size: [...size], mode, coordinateMode });
}

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
function resizeVjp({ inputs: [x], dys: [dy], attrs: { size, mode, coordinateMode } }: VjpArgs<ResizeAttrs>): (Value | null)[] {
  const [, , h, w] = x!.shape as [number, number, number, number];
  const [ho, wo] = size as [number, number];
  let g = dy!;
  if (w !== wo) g = matmul(g, floatConstant(resizeMatrix(w, wo, mode, coordinateMode), [wo, w], g.dtype));
  if (h !== ho)
    g = matmul(floatConstant(transposed(resizeMatrix(h, ho, mode, coordinateMode), ho, h), [h, ho], g.dtype), g);
  return [g];
};

