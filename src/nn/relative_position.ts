/** Weight preparation for learned relative position biases [heads, Gq², Gk²] (CMT's `relative_pos_*`). */
import * as F from '../graph/ops/index.js';
import { Tensor } from '../tensor.js';

/** Sides of the square query and key grids of a bias [h, N, M], or null when N or M is not a square. */
export function gridSides(shape: readonly number[]): [number, number] | null {
  const q = Math.round(Math.sqrt(shape[1]!));
  const k = Math.round(Math.sqrt(shape[2]!));
  return q * q === shape[1] && k * k === shape[2] ? [q, k] : null;
}

/**
 * Resample a relative position bias [h, Gq², Gk²] to [h, Gq'², Gk'²]: bicubic (a = −0.75, half-pixel
 * centres, border clamped; ONNX Runtime's Resize and torch's bicubic interpolate) over the query grid
 * and over the key grid, separably along the four grid axes. Not reference behaviour: the reference
 * has no way to change the size. One-off weight preparation at load time, not a model computation.
 */
export function resampleRelativePos(t: Tensor, want: readonly [number, number, number]): Tensor {
  const [gq, gk] = gridSides(t.shape)!;
  const [wq, wk] = gridSides(want)!;
  let data = Float64Array.from(t.data as Float32Array);
  let shape = [want[0], gq, gq, gk, gk];
  const target = [want[0], wq, wq, wk, wk];
  for (let axis = 1; axis < 5; axis++) {
    const inLen = shape[axis]!;
    const outLen = target[axis]!;
    if (inLen === outLen) continue;
    const m = F.resizeMatrix(inLen, outLen, 'cubic', 'half_pixel'); // [outLen, inLen]
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const next = new Float64Array(outer * outLen * inner);
    for (let o = 0; o < outer; o++)
      for (let y = 0; y < outLen; y++)
        for (let x = 0; x < inLen; x++) {
          const wgt = m[y * inLen + x]!;
          if (wgt === 0) continue;
          const src = (o * inLen + x) * inner;
          const dst = (o * outLen + y) * inner;
          for (let j = 0; j < inner; j++) next[dst + j]! += wgt * data[src + j]!;
        }
    data = next;
    shape = shape.map((d, i) => (i === axis ? outLen : d));
  }
  return new Tensor(Float32Array.from(data), [...want], 'float32');
}
