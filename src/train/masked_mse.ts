/**
 * FCMAE's reconstruction loss (ConvNeXt V2, `forward_loss`): the image cut into p×p patches, each
 * patch's pixels normalised by their own mean and unbiased variance (norm_pix_loss), the mean
 * squared error of the prediction per patch, averaged over the masked patches only.
 */
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { Tensor } from '../tensor.js';
import type { Objective } from './objective.js';

/**
 * [N, 3, h·p, w·p] → [N, L, p²·3], L = h·w row-major; inside a patch the index is
 * (row·p + col)·3 + rgb (channel fastest), the order of the decoder's prediction channels.
 */
export function patchify(img: Value, p: number): Value {
  const [n, c, hp, wp] = img.shape as [number, number, number, number];
  const h = hp / p;
  const w = wp / p;
  const x6 = F.reshape(img, [n, c, h, p, w, p]);
  return F.reshape(F.transpose(x6, [0, 2, 4, 3, 5, 1]), [n, h * w, p * p * c]);
}

/**
 * [N, C, h·p, w·p] → rows [N·L, C·p²], L = h·w row-major, channel-major inside a patch (c, row, col):
 * the order of FCMAE's `masked_pred` rows. The transpose moves whole pixel rows (p floats), which
 * ONNX Runtime does far faster than `patchify`'s channel-last order, one float at a time (the FCMAE
 * bench step's 32 images of 224²: 3–4 ms at two threads; the channel-last order took 38 ms at one).
 */
export function patchRows(img: Value, p: number): Value {
  const [n, c, hp, wp] = img.shape as [number, number, number, number];
  const [h, w] = [hp / p, wp / p];
  return F.reshape(F.transpose(F.reshape(img, [n, c, h, p, w, p]), [0, 2, 4, 1, 3, 5]), [n * h * w, c * p * p]);
}

/** Per patch vector (the last axis): (t − mean) / √(var + 1e-6) with torch's unbiased variance. */
function normalizePatches(t: Value): Value {
  const axis = t.rank - 1;
  const d = t.shape[axis]!;
  const centred = F.sub(t, F.reduceMean(t, [axis], true));
  const variance = F.div(F.reduceSum(F.mul(centred, centred), [axis], true), d - 1);
  return F.div(centred, F.sqrt(F.add(variance, 1e-6)));
}

export interface MaskedMseOptions {
  patchSize: number;
  normPixLoss?: boolean;
}

/**
 * Reads the model's `pred` [N, p²·3, h, w] and `mask` [N, L] (1 = masked) outputs and the input
 * image — or, when the network predicted the masked patches only (FCMAE's sparse formulation), its
 * `masked_pred` rows [M, 3·p²] (channel-major inside a patch) at `masked_patches` [M] (flat n·L + j):
 * the same loss, with targets built for those patches only. Targets: a mask Tensor [N, L] to use
 * instead of the model's random draw, or null.
 */
export function maskedPatchMse(o: MaskedMseOptions): Objective<Tensor | null | undefined> {
  const p = o.patchSize;
  const norm = o.normPixLoss ?? true;
  return {
    name: `masked_mse(p=${p},norm_pix=${norm})`,
    reads: ['pred', 'mask'],
    build(ctx) {
      const pred = ctx.outputs.pred as Value;
      const mask = ctx.outputs.mask as Value;
      const [n, dim, h, w] = pred.shape as [number, number, number, number];
      const l = h * w;
      const maskedPred = ctx.outputs.masked_pred as Value | undefined;
      let loss: Value;
      if (maskedPred) {
        // Every row is a masked patch of the same size: the mean over all is the mean of the per-patch means.
        let target = F.gather(patchRows(ctx.input, p), ctx.outputs.masked_patches as Value, 0);
        if (norm) target = normalizePatches(target);
        const diff = F.sub(maskedPred, target);
        loss = F.reduceMean(F.mul(diff, diff));
      } else {
        let target = patchify(ctx.input, p);
        if (norm) target = normalizePatches(target);
        const predT = F.transpose(F.reshape(pred, [n, dim, l]), [0, 2, 1]);
        const diff = F.sub(predT, target);
        const perPatch = F.reduceMean(F.mul(diff, diff), [2]); // [N, L]
        loss = F.div(F.reduceSum(F.mul(perPatch, mask)), F.reduceSum(mask));
      }
      const maskInput = mask.name!;
      return {
        loss,
        metrics: { masked_fraction: F.reduceMean(mask) },
        feed(m) {
          if (m === null || m === undefined) return {};
          if (!(m instanceof Tensor) || m.dtype !== 'float32' || m.shape.length !== 2 || m.shape[0] !== n || m.shape[1] !== l)
            throw new ConfigError(`mask must be a float32 Tensor [${n}, ${l}] (1 = masked, row-major patches), got ${m instanceof Tensor ? `${m.dtype} [${m.shape}]` : typeof m}`);
          const d = m.data as Float32Array;
          const bad = d.findIndex((v) => v !== 0 && v !== 1);
          if (bad >= 0) throw new ConfigError(`mask values must be 0 (visible) or 1 (masked); mask[${Math.floor(bad / l)}, ${bad % l}] is ${d[bad]}`);
          if (!d.some((v) => v === 1)) throw new ConfigError('mask: at least one patch must be masked (the loss averages over masked patches)');
          return { [maskInput]: m };
        },
      };
    },
  };
}
