/**
 * Evaluation through the objective: a test set is run batch by batch through the same objective
 * graph that training differentiates (without gradients, in eval mode), and its loss and metrics
 * are averaged over the images. One path for every task — classification's cross-entropy and
 * accuracy, token labelling's parts, FCMAE's masked MSE — instead of a loss written a second time.
 */
import { NumericalError } from '../errors.js';
import type { Batch } from '../data/transforms.js';
import type { TensorTree, VisionModel } from '../models/base.js';
import { Rng } from '../util/rng.js';
import { evalBatches, type EvalData } from './batches.js';
import type { Objective } from './objective.js';

export interface EvalResult {
  /** The objective's `acc` metric; NaN where the task has none (pretraining). */
  accuracy: number;
  /** Mean loss over the images. */
  loss: number;
  /** Every metric of the objective, averaged over the images. */
  metrics: Record<string, number>;
  /** Images evaluated (an image folder may skip unreadable ones). */
  count: number;
}

/** How a task is evaluated: its evaluation objective, the targets of a test batch, and extra outputs. */
export interface Evaluation<T> {
  objective: Objective<T>;
  /** The targets of a test batch; `rng` is seeded the same way at every evaluation (FCMAE's fixed masks). */
  targets(batch: Batch, rng: Rng): T;
  /** Seed of `rng` (default 0). */
  seed?: number;
  /** Named model outputs wanted for the batch at `index` (default none). */
  outputs?(index: number): readonly string[];
  /** Receives them (FCMAE writes its reconstructions from the first batch). */
  onOutputs?(batch: Batch, targets: T, outputs: Record<string, TensorTree>): Promise<void>;
}

/** The mean loss and metrics of `model` (in eval mode) on `data`, through the evaluation's objective. */
export async function evaluateObjective<T>(
  model: VisionModel,
  data: EvalData,
  inputSize: number,
  batchSize: number,
  ev: Evaluation<T>,
  onProgress?: (done: number, total: number) => void,
): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  const rng = new Rng(ev.seed ?? 0);
  let lossSum = 0;
  const sums: Record<string, number> = {};
  let seen = 0;
  let index = 0;
  try {
    for await (const batch of evalBatches(data, inputSize, batchSize, model.defaultInputSize[0])) {
      const count = batch.labels.length;
      const targets = ev.targets(batch, rng);
      const outputs = ev.outputs?.(index) ?? [];
      const r = await model.evaluateObjective(batch.x, targets, { objective: ev.objective, outputs });
      if (!Number.isFinite(r.loss))
        throw new NumericalError(
          `${model.name || model.family} gave a non-finite test loss (${r.loss}) on test images ${seen}–${seen + count - 1}: ` +
            'the weights are corrupt or diverged, so the figures would be meaningless',
        );
      lossSum += r.loss * count;
      for (const [k, v] of Object.entries(r.metrics)) sums[k] = (sums[k] ?? 0) + v * count;
      if (outputs.length) await ev.onOutputs?.(batch, targets, r.outputs);
      seen += count;
      index++;
      onProgress?.(seen, data.count);
    }
  } finally {
    model.train(wasTraining);
  }
  const metrics = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / seen]));
  return { accuracy: metrics.acc ?? NaN, loss: lossSum / seen, metrics, count: seen };
}
