/** Where fine-tuning starts: the weights behind `--weights` / `--pretrained`, and the data's class count. */
import { ConfigError, DataError } from '../errors.js';
import { isFolder, pathExists } from '../io/files.js';
import { runFolderFiles } from '../io/run_folder.js';
import { isWeightsUrl } from '../io/url_cache.js';
import '../models/index.js'; // every family registered: a name's default tag is looked up
import { pretrainedWeights } from '../models/pretrained.js';
import { familyNames, getModelEntry, pretrainedConfig, type ModelSpec, type RawConfig } from '../models/registry.js';
import { recipePreset, scaledLr } from '../train/recipes.js';
import { DEFAULT_TRAIN_CONFIG } from '../train/trainer.js';
import type { Engine } from './engine.js';
import { openImageFolder } from './image_folder.js';
import {
  defaultFolderOptions,
  isFashionMnistSpec,
  readRunFolderConfig,
  runTask,
  trainJob,
  type RunHooks,
  type TrainJobOptions,
  type TrainResult,
} from './train.js';

/**
 * The weights source a fine-tuning run starts from: the tag's hub weights (`pretrained`), a run
 * folder's final weights (or, for an FCMAE pretraining run, its encoder), a file, `hf:org/repo` or an
 * `https://` URL (both downloaded into the cache when the weights are read).
 */
export function resolveInitWeights(model: string, o: { weights?: string; pretrained?: boolean }): string {
  if (o.pretrained) {
    const from = pretrainedWeights(pretrainedConfig(model));
    if (!from) throw new ConfigError(`--pretrained: '${model}' is not a weight tag with published weights (see 'visionmix models --pretrained'); give --weights instead`);
    return from.source;
  }
  if (!o.weights) throw new ConfigError('--weights SRC or --pretrained is required: finetune starts from trained weights (train starts from scratch)');
  const w = o.weights;
  if (w.startsWith('hf:') || isWeightsUrl(w)) return w;
  if (!pathExists(w)) throw new DataError(`--weights ${w} does not exist`);
  const files = runFolderFiles(w);
  if (pathExists(files.config)) {
    // An FCMAE pretraining run's model.safetensors is the whole masked autoencoder (encoder.*,
    // decoder.*, mask_token); what fine-tunes is its encoder under a classifier's key names.
    const rc = readRunFolderConfig(w);
    if (rc && runTask(rc) === 'fcmae') {
      if (pathExists(files.encoder)) return files.encoder;
      throw new DataError(`--weights ${w} is an FCMAE pretraining run without encoder.safetensors: finish or resume that run first`);
    }
    if (pathExists(files.weights)) return files.weights;
    throw new DataError(`--weights ${w} is a run folder without final weights (model.safetensors): finish or resume that run first`);
  }
  if (isFolder(w)) throw new DataError(`--weights ${w} is a folder but not a run folder (no run.json): give a weights file, hf:org/repo or a training run's folder`);
  return w;
}

/**
 * The network a run folder trained, as `--model` and `--config` would name it, so that
 * `finetune --weights RUN` needs no `--model`: a family with its config, or a registry name with
 * its overrides (drop-path and the like; the class count comes from the new data). Undefined
 * when `weights` is not a run folder.
 */
export function runFolderModel(weights: string): { model: string; config?: string } | undefined {
  if (weights.startsWith('hf:') || isWeightsUrl(weights) || !pathExists(runFolderFiles(weights).config)) return undefined;
  const rc = readRunFolderConfig(weights);
  if (!rc) return undefined;
  const strip = (c: Record<string, unknown>) => {
    const { num_classes: _n, family: _f, ...rest } = c;
    return Object.keys(rest).length ? JSON.stringify(rest) : undefined;
  };
  if (typeof rc.model === 'string') return { model: rc.model, config: strip(rc.modelOverrides) };
  return { model: rc.model.family, config: strip(rc.model as Record<string, unknown>) };
}

/** Classes of a data spec: 10 for Fashion-MNIST, the class sub-folders of an image folder. */
export function countFolderClasses(data: string, split: 'auto' | 'folders' | 'fraction' | 'none', valFraction: number | undefined, seed: number): number {
  if (isFashionMnistSpec(data)) return 10;
  return openImageFolder(data, { split, valFraction, seed }).classes.length;
}

/** A --size this many times smaller or larger than the weights' is warned about. */
const FAR_FROM_WEIGHTS = 2;

export interface FinetuneSize {
  size: number;
  /** The side the weights were trained at, when known. */
  weightsSize?: number;
  /** Where `weightsSize` comes from ("weight tag convnext_atto.d2_in1k", "run folder runs/a"). */
  from?: string;
  /** For the user: a given size far from the weights'. */
  warning?: string;
}

/**
 * The input side of a fine-tuning run. Fine-tuning works best near the size the weights learned
 * their features at, so without --size that size is taken: a run folder's input size, else the
 * weight tag's pretrained config (a registry name's default tag), else `size` (the train default).
 * A given --size more than 2× away from the weights' is kept but warned about.
 */
export function finetuneInputSize(model: string, weights: string | undefined, size: number, sizeGiven: boolean): FinetuneSize {
  let weightsSize: number | undefined;
  let from: string | undefined;
  const run = weights !== undefined && !weights.startsWith('hf:') && pathExists(runFolderFiles(weights).config) ? readRunFolderConfig(weights) : null;
  if (run) [weightsSize, from] = [run.train.inputSize, `run folder ${weights}`];
  else if (!familyNames().includes(model)) {
    const tag = pretrainedConfig(model) ?? pretrainedConfig(getModelEntry(model).defaultTag ?? '');
    if (tag) [weightsSize, from] = [tag.inputSize[1], `weight tag ${tag.tag}`];
  }
  if (weightsSize === undefined) return { size };
  if (!sizeGiven) return { size: weightsSize, weightsSize, from };
  const ratio = size / weightsSize;
  const warning =
    ratio > FAR_FROM_WEIGHTS || ratio < 1 / FAR_FROM_WEIGHTS
      ? `--size ${size} is far from the ${weightsSize}×${weightsSize} the weights were trained at (${from}): features learned at one scale transfer poorly to another; ` +
        `fine-tuning at ${weightsSize} (leave out --size) usually does much better`
      : undefined;
  return { size, weightsSize, from, warning };
}

export interface FinetuneJobOptions extends Omit<TrainJobOptions, 'init' | 'model' | 'modelOverrides'> {
  /** A registry name or weight tag, or a family with `modelOverrides` as its config; default: the network a `weights` run folder trained. */
  model?: ModelSpec;
  modelOverrides?: RawConfig;
  /**
   * The weights to start from (every weight but the classifier's): a file, `hf:org/repo`, an
   * `https://` URL, or a finished run folder (its model.safetensors; an FCMAE run's encoder).
   */
  weights?: string;
  /** Start from the `model` tag's own hub weights instead. */
  pretrained?: boolean;
  /**
   * A paper's recipe (`RECIPES`: 'convnextv2-ft', 'convnext', 'deit', 'mobilevit'): fills every
   * training and augmentation setting that `train` / `folder` leave out, its lr scaled to the batch.
   */
  recipe?: string;
}

/**
 * `visionmix finetune` from code: the weights resolved as the command resolves `--weights` /
 * `--pretrained` (a run folder names its own network), a recipe's values under the ones given, then
 * the training job (a new classifier for the data's classes; run folder, checkpoints, exact resume).
 */
export async function finetuneJob(engine: Engine, o: FinetuneJobOptions, hooks: RunHooks = {}): Promise<TrainResult> {
  const { weights, pretrained, recipe, ...rest } = o;
  if (weights !== undefined && pretrained) throw new ConfigError('give either weights or pretrained: true, not both');
  let model = o.model;
  let modelOverrides = o.modelOverrides;
  if (model === undefined) {
    const fromRun = weights !== undefined ? runFolderModel(weights) : undefined;
    if (!fromRun) throw new ConfigError('model is required (a registry name or weight tag), unless weights is a run folder');
    const config = fromRun.config ? (JSON.parse(fromRun.config) as RawConfig) : {};
    const isFamily = familyNames().includes(fromRun.model);
    model = isFamily ? { ...config, family: fromRun.model } : fromRun.model;
    modelOverrides = isFamily ? {} : config;
  }
  const init = { weights: resolveInitWeights(typeof model === 'string' ? model : model.family, { weights, pretrained }) };
  let train = o.train;
  let folder = o.folder;
  if (recipe !== undefined) {
    const r = recipePreset(recipe);
    const batchSize = o.train?.batchSize ?? DEFAULT_TRAIN_CONFIG.batchSize;
    const lr = o.train?.lr ?? scaledLr(r, batchSize);
    train = {
      lr,
      epochs: r.epochs,
      warmupEpochs: r.warmupEpochs,
      ...(r.warmupIterations !== null && o.train?.warmupEpochs === undefined ? { warmupSteps: r.warmupIterations } : {}),
      warmupLr: r.warmupLr,
      minLr: Math.min(r.minLr, lr),
      labelSmoothing: r.labelSmoothing,
      emaDecay: r.emaDecay,
      clipGradNorm: r.clipGradNorm,
      decayAll: r.decayAll,
      optimizer: r.optimizer,
      layerDecay: r.layerDecay,
      ...o.train,
    };
    if (!isFashionMnistSpec(o.data)) folder = { ...defaultFolderOptions(), augment: r.augment, mixup: r.mixup, ...o.folder };
  }
  return trainJob(engine, { ...rest, model, modelOverrides, init, train, folder }, hooks);
}
