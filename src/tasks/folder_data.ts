/**
 * A training run's data from an ImageFolder (class per sub-folder): the train split through the
 * worker-thread loader (decode → RandomResizedCrop, flip, RandAugment, random erasing → Mixup/CutMix),
 * the val split through the eval transform (resize, centre crop), both as the trainer's batch sources.
 */
import type { RecipeAugment } from '../train/recipes.js';
import type { Batch } from '../data/transforms.js';
import { checkTransformConfig, type EvalTransformConfig } from '../data/image_transform.js';
import { createTrainTransform } from '../data/train_transform.js';
import type { ResampleFilter } from '../data/resample.js';
import { ConfigError } from '../errors.js';
import type { EvalBatches, TrainBatch, TrainBatches } from '../train/batches.js';
import { Mixup, type MixupOptions } from '../train/mixup.js';
import type { SamplerState } from '../data/sampler.js';
import { ImageLoader } from './image_loader.js';
import { openImageFolder } from './image_folder.js';
import type { ImageFolderDataset } from '../data/image_folder.js';

/** timm's ImageNet normalisation (the registry's): the default for image folders (models trained on them expect it). */
export { IMAGENET_MEAN, IMAGENET_STD } from '../models/registry.js';

/** Augmentation without a recipe: RandomResizedCrop + horizontal flip (torchvision's basic ImageNet train transform). */
export const BASIC_AUGMENT: RecipeAugment = { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], interpolation: 'bicubic', hflip: 0.5, autoAugment: null, colorJitter: null, reProb: 0 };

/** How a run reads an image folder: stored in run.json, so a resumed run reads it the same way. */
export interface FolderDataConfig {
  /** Class names in label order (the train split's sub-folders). */
  classes: string[];
  /** How the val split is made (see openImageFolder). */
  split: 'auto' | 'folders' | 'fraction' | 'none';
  /** Share of each class held out for val (fraction splits; openImageFolder's default when absent). */
  valFraction?: number;
  augment: RecipeAugment;
  /** Mixup/CutMix; null: off. Label smoothing comes from the run's. */
  mixup: Omit<MixupOptions, 'numClasses' | 'labelSmoothing'> | null;
  mean: [number, number, number];
  std: [number, number, number];
  /** Eval transform: resize to size / cropPct, centre crop. */
  cropPct: number;
  evalInterpolation: ResampleFilter;
  /** Decode + augment worker threads. */
  workers: number;
  /** An unreadable image: stop with its path (default) or leave it out and count it. */
  onBadImage: 'stop' | 'skip';
}

export interface FolderData {
  dataset: ImageFolderDataset;
  train: TrainBatches;
  test: EvalBatches | null;
}

/** The train loader as the trainer's batch source (an endless, resumable stream of augmented batches). */
class LoaderBatches implements TrainBatches {
  readonly multiScale = false;
  constructor(
    private readonly loader: ImageLoader,
    readonly count: number,
    private readonly side: number,
    private readonly onSkipped?: (message: string) => void,
  ) {}

  get epoch(): number {
    return this.loader.epoch;
  }

  get stepsPerEpoch(): number {
    return this.loader.batchesPerEpoch;
  }

  imagesSeen(): number {
    const s = this.loader.state();
    return s.epoch * this.count + s.position;
  }

  async next(): Promise<TrainBatch> {
    const b = await this.loader.next();
    for (const s of b.skipped) this.onSkipped?.(`skipped unreadable image ${s.path}: ${s.error}`);
    return { x: b.x, labels: b.labels, side: this.side, ...(b.targets ? { soft: b.targets } : {}) };
  }

  state(): SamplerState {
    return this.loader.state();
  }

  restore(s: SamplerState): void {
    // Only after --accept-data-change: the train split shrank below the saved position, so the
    // epoch in progress has no samples left; the run goes on with the next one.
    if (s.position > this.count) {
      this.onSkipped?.(`the train split now has ${this.count} images, fewer than the ${s.position} already used in epoch ${s.epoch + 1}; continuing with epoch ${s.epoch + 2}`);
      this.loader.restore({ epoch: s.epoch + 1, position: 0 });
      return;
    }
    this.loader.restore(s);
  }

  close(): Promise<void> {
    return this.loader.close();
  }
}

/** The eval transform of a folder run at `size` (also what `predict` applies to a run's model). */
export function folderEvalTransform(c: FolderDataConfig, size: number): EvalTransformConfig {
  return { inputSize: [3, size, size], cropPct: c.cropPct, interpolation: c.evalInterpolation, mean: c.mean, std: c.std };
}

/**
 * Open `root` as the run's data: train batches of `batchSize` at `size`², seeded by `seed`, and the
 * val split (null when there is none).
 */
export function openFolderData(
  root: string,
  c: FolderDataConfig,
  o: { batchSize: number; size: number; seed: number; labelSmoothing: number; onWarning?: (m: string) => void },
): FolderData {
  const dataset = openImageFolder(root, { split: c.split, valFraction: c.valFraction, seed: o.seed });
  if (dataset.classes.join('\n') !== c.classes.join('\n'))
    throw new ConfigError(
      `--data ${root}: its classes (${dataset.classes.join(', ')}) are not the run's (${c.classes.join(', ')}); the folder changed since the run started`,
    );
  const numClasses = dataset.classes.length;
  const mixup = c.mixup ? new Mixup({ ...c.mixup, numClasses, labelSmoothing: o.labelSmoothing }) : undefined;
  const trainTransform = { ...c.augment, inputSize: [3, o.size, o.size] as const, mean: c.mean, std: c.std };
  // Built here once so that a bad augmentation (`rand-m99`) is a ConfigError before the run starts,
  // not the first batch's error inside a worker.
  createTrainTransform(trainTransform);
  checkTransformConfig(folderEvalTransform(c, o.size));
  const loader = new ImageLoader({
    samples: dataset.train.samples,
    batchSize: o.batchSize,
    seed: o.seed,
    transform: { kind: 'train', config: trainTransform },
    workers: c.workers,
    onError: c.onBadImage,
    mixup,
  });
  const train = new LoaderBatches(loader, dataset.train.samples.length, o.size, o.onWarning);
  const val = dataset.val;
  const test: EvalBatches | null = val
    ? {
        count: val.samples.length,
        mean: c.mean,
        std: c.std,
        async *batches(batchSize: number): AsyncGenerator<Batch> {
          // A loader per evaluation: its workers would otherwise keep preparing the next epoch's val
          // batches beside training.
          const evalLoader = new ImageLoader({
            samples: val.samples,
            batchSize: Math.min(batchSize, val.samples.length),
            seed: o.seed,
            transform: { kind: 'eval', config: folderEvalTransform(c, o.size) },
            workers: c.workers,
            onError: c.onBadImage,
            epochs: 1,
          });
          try {
            for await (const b of evalLoader.epochBatches()) {
              // --on-bad-image skip: every image left out is named, in val as in train.
              for (const s of b.skipped) o.onWarning?.(`skipped unreadable image ${s.path}: ${s.error}`);
              if (b.labels.length) yield { x: b.x, labels: b.labels };
            }
          } finally {
            await evalLoader.close();
          }
        },
      }
    : null;
  return { dataset, train, test };
}
