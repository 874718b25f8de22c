/**
 * Per-token targets for token labelling (GLNet *_tklb, after "All Tokens Matter", TLT): a label map
 * per training image, sampled at the centre of every final-stage token of each augmented batch.
 *
 * Format (a safetensors file, `--token-labels FILE`):
 *   token_labels  int32 or int64 [N, h, w]      a class per cell (hard labels), or
 *                 float32      [N, h, w, K]    a distribution over the K classes per cell (soft labels)
 * N is the number of training images, in the data set's order; the h × w cells cover each image
 * (any resolution: e.g. 7 × 7 cells of 4 × 4 pixels on a 28 × 28 image). A token takes the cell
 * under its centre after the batch's crop and flip (`Placement`), so labels follow the augmentation;
 * a token whose centre lies in the padding takes the image's label. Hard labels are one-hot with the
 * run's label smoothing, as the image target.
 */
import { ConfigError, DataError } from '../errors.js';
import type { Placement } from '../data/transforms.js';
import { Tensor } from '../tensor.js';
import { smoothedTargets } from './losses.js';

export class TokenLabelMaps {
  private constructor(
    /** Hard labels [N, h, w] or soft labels [N, h, w, K]. */
    private readonly data: Int32Array | Float32Array,
    readonly count: number,
    readonly height: number,
    readonly width: number,
    /** Classes of soft labels (null for hard ones). */
    readonly classes: number | null,
  ) {}

  /** Check a `token_labels` tensor (from `source`, named in errors) against the training set and its classes. */
  static from(t: Tensor, source: string, trainCount: number, numClasses: number): TokenLabelMaps {
    const where = `${source}: token_labels`;
    const hard = t.dtype === 'int32' || t.dtype === 'int64';
    if (!(hard && t.shape.length === 3) && !(t.dtype === 'float32' && t.shape.length === 4))
      throw new DataError(`${where} must be int32/int64 [N, h, w] (a class per cell) or float32 [N, h, w, K] (a distribution per cell), got ${t.dtype} [${t.shape}]`);
    const [n, h, w, k] = t.shape as [number, number, number, number | undefined];
    if (n !== trainCount) throw new DataError(`${where} has maps for ${n} images, but the training set has ${trainCount} (one map per training image, in its order)`);
    if (!(h > 0 && w > 0)) throw new DataError(`${where}: empty maps [${h}, ${w}]`);
    if (k !== undefined && k !== numClasses) throw new DataError(`${where} has distributions over ${k} classes, but the model has ${numClasses}`);
    const data = hard ? Int32Array.from(t.toArray()) : (t.data as Float32Array);
    if (hard) {
      const bad = data.findIndex((v) => !(v >= 0 && v < numClasses));
      if (bad >= 0) throw new DataError(`${where}: cell ${bad} has class ${data[bad]}, outside 0…${numClasses - 1}`);
    } else {
      const bad = data.findIndex((v) => !(v >= 0 && v <= 1));
      if (bad >= 0) throw new DataError(`${where}: value ${bad} is ${data[bad]}, not a probability`);
    }
    return new TokenLabelMaps(data, n, h, w, hard ? null : k!);
  }

  /**
   * Targets [B, G·G, K] for a batch whose final stage is a G × G grid of tokens over its `side` ×
   * `side` input (`smoothing` for hard labels and for tokens in the padding).
   */
  targets(p: Placement | undefined, imageLabels: Int32Array, side: number, grid: number, numClasses: number, smoothing: number): Tensor<'float32'> {
    if (!p) throw new ConfigError('--token-labels needs batches that record where each image landed (Fashion-MNIST-style data sets); image folders are not supported yet');
    const b = imageLabels.length;
    const k = numClasses;
    const out = new Float32Array(b * grid * grid * k);
    const oneHot = smoothedTargets(Int32Array.from({ length: k }, (_, i) => i), k, smoothing); // row c: class c, smoothed
    const [hi, wi] = [p.imageHeight, p.imageWidth];
    const stride = side / grid;
    for (let i = 0; i < b; i++) {
      for (let ty = 0; ty < grid; ty++)
        for (let tx = 0; tx < grid; tx++) {
          // The token's centre in output pixels, then in image pixels (crop offset, horizontal flip).
          const yOut = (ty + 0.5) * stride - 0.5;
          const xOut = (tx + 0.5) * stride - 0.5;
          const y = p.tops[i]! + yOut;
          const x = p.flips[i] ? p.lefts[i]! + (side - 1 - xOut) : p.lefts[i]! + xOut;
          const dst = ((i * grid + ty) * grid + tx) * k;
          if (y < -0.5 || y > hi - 0.5 || x < -0.5 || x > wi - 0.5) {
            out.set(oneHot.subarray(imageLabels[i]! * k, (imageLabels[i]! + 1) * k), dst);
            continue;
          }
          // The label cell under the centre: cells cover the image evenly.
          const cy = Math.min(this.height - 1, Math.max(0, Math.floor(((y + 0.5) * this.height) / hi)));
          const cx = Math.min(this.width - 1, Math.max(0, Math.floor(((x + 0.5) * this.width) / wi)));
          const cell = (p.indices[i]! * this.height + cy) * this.width + cx;
          if (this.classes === null) {
            const c = this.data[cell]!;
            out.set(oneHot.subarray(c * k, (c + 1) * k), dst);
          } else out.set(this.data.subarray(cell * k, (cell + 1) * k), dst);
        }
    }
    return new Tensor(out, [b, grid * grid, k], 'float32');
  }
}
