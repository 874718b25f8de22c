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
import { evalBatches } from '../train/batches.js';
import type { TrainingTask } from '../train/trainer.js';
import { Rng } from '../util/rng.js';
import type { Engine } from './engine.js';
import type { Fcmae } from './fcmae.js';

export interface PretrainTaskOptions {
  /** Seed of the evaluation masks. */
  seed: number;
  /** Receives the reconstruction grid of the first test images after each epoch. */
  onReconstructions?: (epoch: number, image: RgbImage) => Promise<void>;
  /** Images in the grid. */
  rows?: number;
}

export function fcmaeTask(engine: Engine, f: Fcmae, o: PretrainTaskOptions): TrainingTask<null> {
  const { patch_size: p, mask_ratio: ratio, norm_pix_loss: normPix } = f.options;
  return {
    objective: f.objective,
    targets: () => null,
    async evaluate(model, data, inputSize, batchSize, onProgress, epoch) {
      const wasTraining = model.training;
      model.eval();
      const rng = new Rng(o.seed ^ 0x7e57);
      let sum = 0;
      let start = 0;
      // Reconstructions are shown in the data's own pixel scale.
      const [mean, std] = [data.mean ?? [0], data.std ?? [1]];
      try {
        for await (const b of evalBatches(data, inputSize, batchSize, model.defaultInputSize[0])) {
          const count = b.labels.length;
          const l = (inputSize / p) ** 2;
          const mask = patchMaskDraw(ratio).draw(rng, [count, l]);
          const first = start === 0 && o.onReconstructions !== undefined && epoch !== undefined;
          const r = await engine.evaluate(model, b.x as Tensor, mask, { objective: f.objective, outputs: first ? ['pred'] : [] });
          sum += r.loss * count;
          if (first) {
            const [n, c, h, w] = b.x.shape as [number, number, number, number];
            const grid = reconstructionGrid(
              { x: b.x.data as Float32Array, n, channels: c, height: h, width: w, mask: mask.data as Float32Array, pred: (r.outputs.pred as Tensor).data as Float32Array, patch: p, normPix, mean, std },
              o.rows ?? 8,
            );
            await o.onReconstructions!(epoch!, grid);
          }
          start += count;
          onProgress?.(start, data.count);
        }
      } finally {
        model.train(wasTraining);
      }
      return { accuracy: NaN, loss: sum / data.count, count: data.count };
    },
  };
}
