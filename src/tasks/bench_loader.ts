/**
 * Data-loading benchmark: the worker-thread image loader with the timm train transform (decode,
 * RandomResizedCrop, flip, RandAugment, normalise, random erasing) at the model's input size, alone
 * and feeding a compiled train step, to show whether the step ever waits on data.
 */
import type { ImageSample } from '../data/image_folder.js';
import type { TrainTransformConfig } from '../data/train_transform.js';
import type { VisionModel } from '../models/base.js';
import { createNodeSession, nchwcBlockSize } from '../runtime/node.js';
import { crossEntropy } from '../train/losses.js';
import { adamw } from '../train/optim.js';
import { TrainStep } from '../train/step.js';
import { Rng } from '../util/rng.js';
import { ImageLoader, measureLoader, type LoaderThroughput } from './image_loader.js';

/** ConvNeXt's (and DeiT's, CMT's, GLNet's) ImageNet recipe at `size`. */
export function timmRecipeTransform(size: number): TrainTransformConfig {
  return {
    inputSize: [3, size, size],
    interpolation: 'bicubic',
    autoAugment: 'rand-m9-mstd0.5-inc1',
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    reProb: 0.25,
    reMode: 'pixel',
    reCount: 1,
  };
}

export interface LoaderBenchOptions {
  samples: readonly ImageSample[];
  workers: number;
  batch: number;
  size: number;
  /** Batches timed (after one untimed batch). */
  batches: number;
  /** Also feed this model's compiled train step (batch × 3 × size²) for `steps` batches. */
  trainStep?: { model: VisionModel; threads: number; steps: number };
  onBatch?: () => void;
}

export interface LoaderBench {
  alone: LoaderThroughput;
  /** Loader + train step: img/s of the pair and the share of time the step waited for data. */
  withStep?: LoaderThroughput;
}

export async function benchLoader(o: LoaderBenchOptions): Promise<LoaderBench> {
  const make = () =>
    new ImageLoader({ samples: o.samples, batchSize: o.batch, seed: 0, transform: { kind: 'train', config: timmRecipeTransform(o.size) }, workers: o.workers });
  let loader = make();
  let alone: LoaderThroughput;
  try {
    alone = await measureLoader(loader, o.batches, async () => o.onBatch?.());
  } finally {
    await loader.close();
  }
  if (!o.trainStep) return { alone };

  const { model, threads, steps } = o.trainStep;
  model.train();
  const step = await TrainStep.compile(model, crossEntropy(), { optimizer: adamw(), batchShape: [o.batch, 3, o.size, o.size], nchwcBlock: await nchwcBlockSize() }, (bytes, label) =>
    createNodeSession(bytes, { threads, label }),
  );
  loader = make();
  const rng = new Rng(0);
  try {
    // A tiny lr keeps the random model's timings steady (as the train-step benchmark does).
    const withStep = await measureLoader(loader, steps, async (b) => {
      await step.step(b.x, b.labels, 1e-6, rng);
      o.onBatch?.();
    });
    return { alone, withStep };
  } finally {
    await loader.close();
    await step.release();
  }
}
