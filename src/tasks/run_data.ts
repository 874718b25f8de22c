/**
 * A run's data: Fashion-MNIST specs and image folders as the trainer reads them, the test split a
 * finished run is evaluated on, per-token label maps, and the check that an image folder still holds
 * the files the run started with.
 */
import type { FashionMnist } from '../data/fashion_mnist.js';
import type { ImageDataset } from '../data/transforms.js';
import { ConfigError, DataError } from '../errors.js';
import { BUNDLED_FASHION_MNIST_DIR, DEFAULT_FASHION_MNIST_DIR, loadFashionMnist } from '../io/fashion_mnist_files.js';
import { pathExists } from '../io/files.js';
import { readSafetensors } from '../io/safetensors.js';
import type { EvalData, TrainBatches } from '../train/batches.js';
import { TokenLabelMaps } from '../train/token_labels.js';
import { BASIC_AUGMENT, IMAGENET_MEAN, IMAGENET_STD, openFolderData, type FolderDataConfig } from './folder_data.js';
import { dataFileChanges, openImageFolder, summariseDataFiles, type DataFiles } from './image_folder.js';
import type { RunConfig } from './run_config.js';

/**
 * `fashion-mnist` (Debian's dataset-fashion-mnist), `fashion-mnist:PATH`, or `fashion-mnist:bundled`
 * (the 6000/1000-image subset shipped in the repo).
 */
export async function loadDataSpec(spec: string): Promise<FashionMnist> {
  const [name, ...rest] = spec.split(':');
  const arg = rest.join(':');
  if (name !== 'fashion-mnist')
    throw new ConfigError(
      `--data '${spec}' is not a known data set (use fashion-mnist, fashion-mnist:PATH, fashion-mnist:bundled` +
        `${isFashionMnistSpec(spec) ? '' : ', or a folder of class sub-folders for train/finetune'})`,
    );
  const dir = arg === '' ? DEFAULT_FASHION_MNIST_DIR : arg === 'bundled' ? BUNDLED_FASHION_MNIST_DIR : arg;
  if (!pathExists(dir)) throw new DataError(`--data: folder ${dir} does not exist${arg === '' ? ' (apt-get install dataset-fashion-mnist, or use fashion-mnist:bundled)' : ''}`);
  return loadFashionMnist(dir);
}

/** A Fashion-MNIST data spec (anything else given to train/finetune is an image folder). */
export function isFashionMnistSpec(spec: string): boolean {
  return spec === 'fashion-mnist' || spec.startsWith('fashion-mnist:');
}

/** A run's data, whichever kind: what the trainer iterates and what the model must be built for. */
export interface RunData {
  train: ImageDataset | TrainBatches;
  test: EvalData | null;
  numClasses: number;
  channels: number;
  /** Training images are padded, never shrunk, to the input size: its minimum (1 for folders: images are resized). */
  minSize: number;
  /** Release worker threads. */
  close(): Promise<void>;
  /** Per-token label maps of the training images (token labelling with `tokenLabels`). */
  tokenLabels?: TokenLabelMaps;
}

export async function loadRunData(rc: RunConfig, onWarning?: (m: string) => void): Promise<RunData> {
  if (!rc.folder) {
    const { train, test } = await loadDataSpec(rc.data);
    const tokenLabels = rc.tokenLabels ? await readTokenLabels(rc.tokenLabels, train.count, train.classes.length) : undefined;
    return { train, test, numClasses: train.classes.length, channels: train.channels, minSize: Math.max(train.height, train.width), close: async () => {}, tokenLabels };
  }
  if (rc.tokenLabels) throw new ConfigError(`--token-labels works with Fashion-MNIST-style data sets for now, not with an image folder (${rc.data})`);
  const t = rc.train;
  const f = openFolderData(rc.data, rc.folder, { batchSize: t.batchSize, size: t.inputSize, seed: t.seed, labelSmoothing: t.labelSmoothing, onWarning });
  return { train: f.train, test: f.test, numClasses: rc.folder.classes.length, channels: 3, minSize: 1, close: () => f.train.close() };
}

/**
 * The test data of a finished run (`visionmix eval`): its own data's test split — an image folder's
 * val split — or `spec` instead. Call `close` when done (folder data runs worker threads).
 */
export async function openRunTestData(rc: RunConfig, spec?: string): Promise<{ test: EvalData; close(): Promise<void> }> {
  const run = spec === undefined || spec === rc.data ? rc : { ...rc, data: spec };
  if (run.folder && !isFashionMnistSpec(run.data)) {
    const data = await loadRunData(run);
    if (!data.test) {
      await data.close();
      throw new ConfigError(`--data ${run.data} has no val split to evaluate on (split '${run.folder.split}')`);
    }
    return { test: data.test, close: data.close };
  }
  if (!isFashionMnistSpec(run.data)) throw new ConfigError(`--data ${run.data}: the run was trained on ${rc.data}; evaluate it on Fashion-MNIST data`);
  return { test: (await loadDataSpec(run.data)).test, close: async () => {} };
}

/** The `token_labels` tensor of a label-map file, checked against the training set. */
async function readTokenLabels(path: string, trainCount: number, numClasses: number): Promise<TokenLabelMaps> {
  if (!pathExists(path)) throw new DataError(`--token-labels ${path} does not exist`);
  const t = (await readSafetensors(path)).get('token_labels');
  if (!t) throw new DataError(`--token-labels ${path} has no tensor 'token_labels' (int [N, h, w] or float32 [N, h, w, K])`);
  return TokenLabelMaps.from(t, path, trainCount, numClasses);
}

/** Image-folder reading without a recipe: basic augmentation, ImageNet normalisation, timm's eval crop. */
export function defaultFolderOptions(): Omit<FolderDataConfig, 'classes'> {
  return {
    split: 'auto',
    augment: BASIC_AUGMENT,
    mixup: null,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    cropPct: 0.875,
    evalInterpolation: 'bicubic',
    workers: 2,
    onBadImage: 'stop',
  };
}

/**
 * Resume: compare an image-folder run's data with the files it started with. A changed folder
 * (files added, removed, renamed or resized) changes the steps per epoch, the lr schedule and every
 * batch, so it is a DataError naming the changes — unless `accept`, when it is a warning and the new
 * listing is returned to be recorded. Returns null when there is nothing to record.
 */
export function checkDataFiles(rc: RunConfig, accept: boolean, onWarning?: (m: string) => void): DataFiles | null {
  if (!rc.folder || !rc.dataFiles) return null;
  const dataset = openImageFolder(rc.data, { split: rc.folder.split, valFraction: rc.folder.valFraction, seed: rc.train.seed });
  const now = summariseDataFiles(rc.data, dataset);
  const changes = dataFileChanges(rc.dataFiles, now);
  if (changes.length === 0) return null;
  const what = `--data ${rc.data} changed since the run started (${changes.join('; ')})`;
  if (!accept)
    throw new DataError(
      `${what}: resuming on other files would change the steps per epoch, the learning-rate schedule and the batches. ` +
        'Restore the folder, or pass --accept-data-change to continue on the files as they are now.',
    );
  onWarning?.(`${what}; continuing on the files as they are now (--accept-data-change)`);
  return now;
}
