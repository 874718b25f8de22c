/**
 * FCMAE pretraining as a training task: the masked reconstruction objective, no targets (masks are
 * drawn from the run's seeded generator inside the step), and an evaluation that reports the test
 * reconstruction loss under fixed masks (the same every epoch, so epochs compare) and writes a PNG
 * of reconstructions after each epoch so a person can see what the model fills in.
 */
import { reconstructionGrid } from '../analysis/reconstruction.js';
import type { RgbImage } from '../analysis/slot_maps.js';
import { patchMaskDraw } from '../models/fcmae.js';
import type { Tensor } from '../tensor.js';
import type { TrainingTask } from '../train/trainer.js';
import type { Fcmae } from './fcmae.js';

export interface PretrainTaskOptions {
  /** Seed of the evaluation masks. */
  seed: number;
  /** Receives the reconstruction grid of the first test images after each epoch. */
  onReconstructions?: (epoch: number, image: RgbImage) => Promise<void>;
  /** Images in the grid. */
  rows?: number;
  /** The test data's normalisation: reconstructions are shown in the data's own pixel scale. */
  mean?: readonly number[];
  std?: readonly number[];
}

export function fcmaeTask(f: Fcmae, o: PretrainTaskOptions): TrainingTask<null> {
  const { patch_size: p, mask_ratio: ratio, norm_pix_loss: normPix } = f.options;
  return {
    name: 'fcmae',
    objective: f.objective,
    targets: () => null,
    evaluation(epoch) {
      return {
        objective: f.objective,
        // The same masks at every evaluation (seeded from the run's seed), so epochs compare.
        seed: o.seed ^ 0x7e57,
        targets: (b, rng) => patchMaskDraw(ratio).draw(rng, [b.labels.length, (b.x.shape[2]! / p) * (b.x.shape[3]! / p)]),
        // The reconstructions of the first test batch, after each epoch.
        outputs: (index) => (index === 0 && epoch !== undefined && o.onReconstructions ? ['pred'] : []),
        async onOutputs(b, mask, outputs) {
          const [n, c, h, w] = b.x.shape as [number, number, number, number];
          const { mean, std } = b as { mean?: readonly number[]; std?: readonly number[] };
          const grid = reconstructionGrid(
            {
              x: b.x.data as Float32Array,
              n,
              channels: c,
              height: h,
              width: w,
              mask: (mask as Tensor).data as Float32Array,
              pred: (outputs.pred as Tensor).data as Float32Array,
              patch: p,
              normPix,
              mean: mean ?? o.mean ?? [0],
              std: std ?? o.std ?? [1],
            },
            o.rows ?? 8,
          );
          await o.onReconstructions!(epoch!, grid);
        },
      };
    },
  };
}
