/**
 * Train-step benchmarks: the compiled forward + backward + AdamW graph of a model on a random
 * batch, timed like inference, plus an ORT profile of one step (where the time goes).
 */
import type { VisionModel } from '../models/base.js';
import { modelInfo } from '../models/index.js';
import { createNodeSession } from '../runtime/node.js';
import { lastRunOpTimes, type OpTime } from '../runtime/node_profile.js';
import { adamw } from '../train/optim.js';
import { TrainStep } from '../train/step.js';
import { crossEntropy, type ClassTargets } from '../train/losses.js';
import { Rng } from '../util/rng.js';
import { randomTensor, timeAsync, type Timing } from './bench.js';

export interface TrainBenchOptions {
  model: VisionModel;
  batch: number;
  size: number;
  threads: number;
  warmup: number;
  iters: number;
  onIteration?: () => void;
  /** Also profile one extra step and report time per op type (writes then deletes a file here). */
  profilePrefix?: string;
}

export interface TrainBench {
  timing: Timing;
  /** 3 × forward MACs × 2 (the usual estimate of a training step's work), per image. */
  flopsPerImage: number;
  ops: OpTime[];
}

export async function benchTrainStep(o: TrainBenchOptions): Promise<TrainBench> {
  const m = o.model;
  const [c] = m.defaultInputSize;
  const gmacs = modelInfo(m, [c, o.size, o.size]).gmacs;
  m.train();
  const shape = [o.batch, c, o.size, o.size];
  const compile = (profilePrefix?: string) =>
    TrainStep.compile(m, crossEntropy(), { optimizer: adamw(), batchShape: shape }, (bytes, label) =>
      createNodeSession(bytes, { threads: o.threads, label, profilePrefix }),
    );
  const x = randomTensor(shape, 1);
  const labels = Int32Array.from({ length: o.batch }, (_, i) => i % m.numClasses);
  const rng = new Rng(0);
  // A tiny lr keeps the random model from drifting into a region with different timings.
  const run = (step: TrainStep<ClassTargets>) => step.step(x, labels, 1e-6, rng);

  const step = await compile();
  const timing = await timeAsync(() => run(step), { warmup: o.warmup, iters: o.iters, onIteration: o.onIteration });
  await step.release();

  let ops: OpTime[] = [];
  if (o.profilePrefix) {
    const profiled = await compile(o.profilePrefix);
    // Steady state first: the first steps grow ORT's memory arena and are much slower.
    for (let i = 0; i < Math.max(2, o.warmup); i++) await run(profiled);
    await run(profiled);
    profiled.endProfiling();
    ops = lastRunOpTimes(o.profilePrefix);
    await profiled.release();
  }
  return { timing, flopsPerImage: 3 * 2 * gmacs * 1e9, ops };
}
