/**
 * The training tasks a run can be, by name (run.json's `task`, the CLI's `--task`): each is an
 * objective to minimise, the targets it takes from a batch, and its evaluation through an objective.
 *  - classification: cross-entropy (label smoothing; Mixup/CutMix soft targets), accuracy.
 *  - token-labelling: the class head's cross-entropy plus the per-token head's dense cross-entropy
 *    (every token takes the image's target), for models with a token-labelling head (`aux_logits`).
 *  - fcmae: FCMAE's masked-patch MSE on an FCMAE around the model (`visionmix pretrain`).
 */
import { ConfigError } from '../errors.js';
import type { RgbImage } from '../analysis/slot_maps.js';
import type { VisionModel } from '../models/base.js';
import type { ClassTargets } from '../train/losses.js';
import { tokenLabelling } from '../train/token_labelling.js';
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
}

/** Token labelling: both heads trained, evaluated without smoothing (acc of the combined prediction, both losses). */
function tokenLabellingTask(model: VisionModel, labelSmoothing: number): TrainingTask<ClassTargets> {
  if (!model.outputNames.includes('aux_logits'))
    throw new ConfigError(
      `--task token-labelling needs a model with a token-labelling head (an 'aux_logits' output); ${model.name || model.family} has ` +
        `${model.outputNames.join(', ')} — build one with its token-labelling option (e.g. tklb: true)`,
    );
  const evalObjective = tokenLabelling();
  return {
    name: 'token-labelling',
    objective: tokenLabelling({ labelSmoothing }),
    targets: (b) => b.soft ?? b.labels,
    evaluation: () => ({ objective: evalObjective, targets: (b) => b.labels }),
  };
}

/** The task `name` for a run's model. */
export function trainingTask(name: TaskName, c: TaskContext): TrainingTask<unknown> {
  switch (name) {
    case 'classification':
      return classificationTask(c.labelSmoothing) as TrainingTask<unknown>;
    case 'token-labelling':
      return tokenLabellingTask(c.model, c.labelSmoothing) as TrainingTask<unknown>;
    case 'fcmae':
      if (!c.fcmae) throw new ConfigError('--task fcmae pretrains an FCMAE around the model: its options are missing from the run');
      return fcmaeTask(c.fcmae, { seed: c.seed, onReconstructions: c.onReconstructions, mean: c.mean, std: c.std }) as TrainingTask<unknown>;
  }
}
