/**
 * FCMAE reconstructions a person can look at: per image a row of four tiles — the input, the input
 * with the masked patches greyed out, the reconstruction, and the reconstruction pasted into the
 * masked patches only (visible pixels from the input). With norm_pix_loss the model predicts each
 * patch normalised by its own mean and standard deviation; the tile shows it de-normalised with
 * the input patch's statistics, as the MAE papers' visualisations do.
 */
import { drawText, inputToRgb, type RgbImage } from './slot_maps.js';

export interface ReconstructionInput {
  /** Normalised input images [N, C, H, W] (dataset mean/std). */
  x: Float32Array;
  n: number;
  channels: number;
  height: number;
  width: number;
  /** [N, L], 1 = masked, patches row-major. */
  mask: Float32Array;
  /** Decoder output [N, p²·C, H/p, W/p]; channel index (row·p + col)·C + c. */
  pred: Float32Array;
  patch: number;
  normPix: boolean;
  mean: readonly number[];
  std: readonly number[];
}

/** The prediction of image `i` as an image [C, H, W] in the input's normalised units. */
function predictedImage(r: ReconstructionInput, i: number): Float32Array {
  const { channels: c, height: h, width: w, patch: p } = r;
  const gh = h / p;
  const gw = w / p;
  const dim = p * p * c;
  const l = gh * gw;
  const img = new Float32Array(c * h * w);
  const x = r.x.subarray(i * c * h * w, (i + 1) * c * h * w);
  for (let py = 0; py < gh; py++)
    for (let px = 0; px < gw; px++) {
      const patchIndex = py * gw + px;
      // The target patch's statistics (unbiased variance, as the loss normalises it).
      let mean = 0;
      let sq = 0;
      if (r.normPix) {
        for (let yy = 0; yy < p; yy++) for (let xx = 0; xx < p; xx++) for (let ch = 0; ch < c; ch++) mean += x[(ch * h + py * p + yy) * w + px * p + xx]!;
        mean /= dim;
        for (let yy = 0; yy < p; yy++)
          for (let xx = 0; xx < p; xx++) for (let ch = 0; ch < c; ch++) sq += (x[(ch * h + py * p + yy) * w + px * p + xx]! - mean) ** 2;
      }
      const scale = r.normPix ? Math.sqrt(sq / (dim - 1) + 1e-6) : 1;
      for (let yy = 0; yy < p; yy++)
        for (let xx = 0; xx < p; xx++)
          for (let ch = 0; ch < c; ch++) {
            const k = (yy * p + xx) * c + ch;
            const v = r.pred[((i * dim + k) * l) + patchIndex]!;
            img[(ch * h + py * p + yy) * w + px * p + xx] = r.normPix ? v * scale + mean : v;
          }
    }
  return img;
}

/**
 * A header naming the columns, then one row of four tiles per image (at most `rows` images): input,
 * masked input, reconstruction, reconstruction pasted into the masked patches. Tiles are separated by `gap` white pixels and
 * enlarged (nearest neighbour) to about 96 pixels so that small images stay readable.
 */
export function reconstructionGrid(r: ReconstructionInput, rows = 8, gap = 4): RgbImage {
  const { channels: c, height: h, width: w, patch: p } = r;
  const n = Math.min(rows, r.n);
  const zoom = Math.max(1, Math.round(96 / Math.max(h, w)));
  const [th, tw] = [h * zoom, w * zoom];
  const W = 4 * tw + 5 * gap;
  // A header row names the columns (7-pixel font between two gaps).
  const header = 7 + 2 * gap;
  const H = header + n * th + (n + 1) * gap;
  const out = new Uint8Array(W * H * 3).fill(255);
  const titles = tw >= 84 ? ['input', 'masked input', 'reconstruction', 'pasted in'] : ['input', 'masked', 'recon', 'pasted'];
  titles.forEach((t, col) => drawText({ width: W, height: H, data: out }, gap + col * (tw + gap), gap, t, 1, [60, 60, 60]));
  const gw = w / p;
  const masked = (i: number, y: number, x: number) => r.mask[i * (r.mask.length / r.n) + Math.floor(y / p) * gw + Math.floor(x / p)] === 1;
  const put = (tile: RgbImage, col: number, row: number, grey?: (y: number, x: number) => boolean) => {
    const ox = gap + col * (tw + gap);
    const oy = header + gap + row * (th + gap);
    for (let y = 0; y < th; y++)
      for (let x = 0; x < tw; x++) {
        const [sy, sx] = [Math.floor(y / zoom), Math.floor(x / zoom)];
        for (let k = 0; k < 3; k++) out[((oy + y) * W + ox + x) * 3 + k] = grey?.(sy, sx) ? 128 : tile.data[(sy * w + sx) * 3 + k]!;
      }
  };
  for (let i = 0; i < n; i++) {
    const x = r.x.subarray(i * c * h * w, (i + 1) * c * h * w);
    const pred = predictedImage(r, i);
    const pasted = Float32Array.from(x, (v, j) => (masked(i, Math.floor((j % (h * w)) / w), j % w) ? pred[j]! : v));
    put(inputToRgb(x, c, h, w, r.mean, r.std), 0, i);
    put(inputToRgb(x, c, h, w, r.mean, r.std), 1, i, (y, xx) => masked(i, y, xx));
    put(inputToRgb(pred, c, h, w, r.mean, r.std), 2, i);
    put(inputToRgb(pasted, c, h, w, r.mean, r.std), 3, i);
  }
  return { width: W, height: H, data: out };
}
