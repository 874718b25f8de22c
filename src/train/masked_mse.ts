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

/** Per patch vector: (t − mean) / √(var + 1e-6) with torch's unbiased variance. */
function normalizePatches(t: Value): Value {
  const d = t.shape[2]!;
  const centred = F.sub(t, F.reduceMean(t, [2], true));
  const variance = F.div(F.reduceSum(F.mul(centred, centred), [2], true), d - 1);
  return F.div(centred, F.sqrt(F.add(variance, 1e-6)));
}

export interface MaskedMseOptions {
  patchSize: number;
  normPixLoss?: boolean;
}

/**
 * Reads the model's `pred` [N, p²·3, h, w] and `mask` [N, L] (1 = masked) outputs and the input
 * image. Targets: a mask Tensor [N, L] to use instead of the model's random draw, or null.
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
      let target = patchify(ctx.input, p);
      if (norm) target = normalizePatches(target);
      const predT = F.transpose(F.reshape(pred, [n, dim, l]), [0, 2, 1]);
      const diff = F.sub(predT, target);
      const perPatch = F.reduceMean(F.mul(diff, diff), [2]); // [N, L]
      const loss = F.div(F.reduceSum(F.mul(perPatch, mask)), F.reduceSum(mask));
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
