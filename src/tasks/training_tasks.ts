/**
 * The training tasks a run can be, by name (run.json's `task`, the CLI's `--task`): each is an
 * objective to minimise, the targets it takes from a batch, and its evaluation through an objective.
 *  - classification: cross-entropy (label smoothing; Mixup/CutMix soft targets), accuracy.
 *  - token-labelling: the class head's cross-entropy plus the per-token head's dense cross-entropy
 *    (each token takes the image's target, or its cell of a label map: train/token_labels.ts), for
 *    models with a token-labelling head (`aux_logits`).
 *  - fcmae: FCMAE's masked-patch MSE on an FCMAE around the model (`visionmix pretrain`).
 */
import { ConfigError } from '../errors.js';
import type { RgbImage } from '../analysis/slot_maps.js';
import type { VisionModel } from '../models/base.js';
import { traceModel } from '../models/trace.js';
import type { ClassTargets } from '../train/losses.js';
import { tokenLabelling, type TokenLabelTargets } from '../train/token_labelling.js';
import type { TokenLabelMaps } from '../train/token_labels.js';
import { classificationTask, type TrainingTask } from '../train/trainer.js';
import type { Fcmae } from './fcmae.js';
import { fcmaeTask } from './pretrain.js';

export const TASK_NAMES = ['classification', 'token-labelling', 'fcmae'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export function checkTaskName(name: unknown, option = '--task'): TaskName {
  if (!TASK_NAMES.includes(name as TaskName)) throw new ConfigError(`${option} must be one of ${TASK_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  return name as TaskName;
}

export interface TaskContext {
  model: VisionModel;
  labelSmoothing: number;
  seed: number;
  /** The FCMAE the run pretrains (task 'fcmae'). */
  fcmae?: Fcmae;
  /** FCMAE: receives the reconstructions of the first test images after each epoch. */
  onReconstructions?: (epoch: number, image: RgbImage) => Promise<void>;
  /** The test data's normalisation (to show reconstructions in their own colours). */
  mean?: readonly number[];
  std?: readonly number[];
  /** Token labelling: per-token label maps of the training images (`--token-labels`). */
  tokenLabels?: TokenLabelMaps;
}

/**
 * Token labelling: both heads trained — every token against the image's target, or against its cell
 * of the label maps — and evaluated without smoothing on the image labels (acc of the combined
 * prediction, both losses).
 */
function tokenLabellingTask(model: VisionModel, labelSmoothing: number, maps?: TokenLabelMaps): TrainingTask<ClassTargets | TokenLabelTargets> {
  if (!model.outputNames.includes('aux_logits'))
    throw new ConfigError(
      `--task token-labelling needs a model with a token-labelling head (an 'aux_logits' output); ${model.name || model.family} has ` +
        `${model.outputNames.join(', ')} — build one with its token-labelling option (e.g. tklb: true)`,
    );
  const evalObjective = tokenLabelling();
  // The side of the final token grid at each input side (traced once per side).
  const grids = new Map<number, number>();
  const gridAt = (side: number) => {
    let g = grids.get(side);
    if (g === undefined) {
      // (batch 2: a train-mode BatchNorm needs more than one value per channel)
      const aux = traceModel(model, [2, model.defaultInputSize[0], side, side], { outputs: ['aux_logits'] }).outputs.aux_logits as { shape: readonly number[] };
      g = Math.round(Math.sqrt(aux.shape[1]!));
      grids.set(side, g);
    }
    return g;
  };
  return {
    name: 'token-labelling',
    objective: tokenLabelling({ labelSmoothing, tokenTargets: maps !== undefined }),
    targets: (b) => {
      if (!maps) return b.soft ?? b.labels;
      if (b.soft) throw new ConfigError('--token-labels cannot be combined with Mixup/CutMix (the token maps are not mixed)');
      const side = b.x.shape[2]!;
      return { labels: b.labels, tokens: maps.targets(b.placement, b.labels, side, gridAt(side), model.numClasses, labelSmoothing) };
    },
    evaluation: () => ({ objective: evalObjective, targets: (b) => b.labels }),
  };
}

/** The task `name` for a run's model. */
export function trainingTask(name: TaskName, c: TaskContext): TrainingTask<unknown> {
  switch (name) {
    case 'classification':
      if (c.tokenLabels) throw new ConfigError('--token-labels belongs to --task token-labelling');
      return classificationTask(c.labelSmoothing) as TrainingTask<unknown>;
    case 'token-labelling':
      return tokenLabellingTask(c.model, c.labelSmoothing, c.tokenLabels) as TrainingTask<unknown>;
    case 'fcmae':
      if (!c.fcmae) throw new ConfigError('--task fcmae pretrains an FCMAE around the model: its options are missing from the run');
      return fcmaeTask(c.fcmae, { seed: c.seed, onReconstructions: c.onReconstructions, mean: c.mean, std: c.std }) as TrainingTask<unknown>;
  }
}
