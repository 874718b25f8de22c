/**
 * visionmix/train — training from code (Node): the same jobs, trainer and compiled train step as
 * `visionmix train` / `finetune` / `pretrain`.
 *
 * Whole jobs (a run folder with run.json, metrics.jsonl, atomic checkpoints, exact resume):
 *   trainJob({ model, data, out, init: { weights }, train: { epochs, lr, … }, folder }, { onEvent })
 *   finetuneJob({ model, weights, data, out, recipe: 'convnextv2-ft', train: { epochs, batchSize } }, { onEvent })
 *   resumeJob(out, { onEvent })
 * `finetuneJob` is `visionmix finetune`: the weights resolved as `--weights`/`--pretrained` are, a
 * recipe's values under the ones given, then `trainJob` with a new classifier for the data's classes.
 *
 * The parts, for your own loop:
 *   compileTrainStep(model, objective, { optimizer: adamw(), batchShape, emaDecay, lrScales, … })
 *     → one ONNX graph per step: forward, backward, AdamW/SGD update, gradient clipping and the EMA
 *       weights (`emaDecay`; `step.syncToModel(true)` copies the EMA weights into the model);
 *   adamw / sgd, cosineLr (warm-up + cosine), layerDecayScales (layer-wise lr decay → `lrScales`),
 *   Mixup (Mixup/CutMix with soft targets), the objectives (crossEntropy, tokenLabelling,
 *   maskedPatchMse), the papers' recipes (recipePreset, scaledLr) and the Trainer.
 * Image folders, transforms, RandAugment and the loader are in `visionmix/data`.
 */
import type { VisionModel } from './models/base.js';
import type { Engine, TrainStepCompileOptions } from './tasks/engine.js';
import { nodeEngine } from './tasks/node_engine.js';
import { finetuneJob as finetuneJobOn, type FinetuneJobOptions } from './tasks/finetune.js';
import {
  resumeJob as resumeJobOn,
  trainJob as trainJobOn,
  type ResumeOptions,
  type RunHooks,
  type TrainJobOptions,
  type TrainResult,
} from './tasks/train.js';
import type { Objective } from './train/objective.js';
import type { TrainStep } from './train/step.js';

/** Which engine runs a job or a step (default: the one behind `createModel` from 'visionmix'). */
export interface EngineChoice {
  engine?: Engine;
}

/**
 * Start a training or fine-tuning run in the new folder `options.out` (refused if it holds a run).
 * `init: { weights }` fine-tunes: every weight but the classifier's is loaded from a file,
 * `hf:org/repo`, an `https://` URL or a finished run folder, and the classifier is made for the
 * data's classes. `hooks.onEvent` receives the progress events ('start', 'compile', 'step', 'eval',
 * 'epoch' with the epoch's metrics record, 'checkpoint'); `hooks.signal` stops the run after a
 * checkpoint (InterruptedError), and `resumeJob` continues it exactly.
 */
export function trainJob(options: TrainJobOptions & EngineChoice, hooks: RunHooks = {}): Promise<TrainResult> {
  const { engine, ...o } = options;
  return trainJobOn(engine ?? nodeEngine(), o, hooks);
}

/**
 * Continue the run in `dir` from its last checkpoint, with the same losses as an uninterrupted run
 * (model, optimizer, EMA, RNG and data-order state are all restored). Only `epochs` (train longer)
 * and `threads` may differ from the run's own settings.
 */
export function resumeJob(dir: string, hooks: RunHooks = {}, options: ResumeOptions & EngineChoice = {}): Promise<TrainResult> {
  const { engine, ...o } = options;
  return resumeJobOn(engine ?? nodeEngine(), dir, hooks, o);
}

/**
 * `visionmix finetune` from code: start from `weights` (a file, `hf:org/repo`, an `https://` URL or a
 * finished run folder, whose network is then the model) or the tag's hub weights (`pretrained`),
 * with a paper's `recipe` under the settings given; a new classifier for the data's classes.
 */
export function finetuneJob(options: FinetuneJobOptions & EngineChoice, hooks: RunHooks = {}): Promise<TrainResult> {
  const { engine, ...o } = options;
  return finetuneJobOn(engine ?? nodeEngine(), o, hooks);
}

/**
 * Compile the train step of `model` (switched to train mode) for `objective`: see TrainStep.step.
 * `microBatch: n` runs each batch as micro-batches of n images (gradient accumulation: the same
 * update); `'auto'` picks the largest that fits in memory, and a step that does not fit is refused
 * with the size that does.
 */
export function compileTrainStep<T>(model: VisionModel, objective: Objective<T>, options: TrainStepCompileOptions, choice: EngineChoice = {}): Promise<TrainStep<T>> {
  return (choice.engine ?? nodeEngine()).compileTrainStep(model, objective, options);
}

export type { ResumeOptions, RunHooks, TrainJobOptions, TrainResult, RunConfig } from './tasks/train.js';
export type { FinetuneJobOptions } from './tasks/finetune.js';
export { defaultFolderOptions } from './tasks/train.js';
export type { FolderDataConfig } from './tasks/folder_data.js';
export { BASIC_AUGMENT, IMAGENET_MEAN, IMAGENET_STD } from './tasks/folder_data.js';
export type { TaskName } from './tasks/training_tasks.js';
export { Trainer, DEFAULT_TRAIN_CONFIG, validateConfig, classificationTask } from './train/trainer.js';
export type { TrainConfig, TrainerEvent, TrainerIO, MetricsRecord, Checkpoint, CheckpointMeta, TrainingTask, EvalResult } from './train/trainer.js';
export { TrainStep } from './train/step.js';
export type { TrainStepOptions, TrainState, StepResult } from './train/step.js';
export type { TrainStepCompileOptions } from './tasks/engine.js';
export { adamw, sgd, makeOptimizer } from './train/optim.js';
export type { AdamWOptions, SGDOptions, OptimizerOptions, Optimizer } from './train/optim.js';
export { cosineLr } from './train/schedule.js';
export type { CosineSchedule } from './train/schedule.js';
export { layerDecayScales, layerIds, noWeightDecayKeys } from './train/layer_decay.js';
export type { LayerDecayMode, LayerIds } from './train/layer_decay.js';
export { Mixup, mixupTargets } from './train/mixup.js';
export type { MixupOptions, MixupMode, MixResult } from './train/mixup.js';
export { crossEntropy, smoothedTargets } from './train/losses.js';
export type { ClassTargets } from './train/losses.js';
export { tokenLabelling } from './train/token_labelling.js';
export { maskedPatchMse } from './train/masked_mse.js';
export type { Objective, ObjectiveContext, BuiltObjective } from './train/objective.js';
export { RECIPES, recipePreset, scaledLr, recipeTransform } from './train/recipes.js';
export type { Recipe, RecipeOverrides, RecipeAugment } from './train/recipes.js';
export { Rng } from './util/rng.js';
export type { RngState } from './util/rng.js';
