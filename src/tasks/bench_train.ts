/**
 * Train-step benchmarks: the compiled forward + backward + AdamW graph of a model on a random
 * batch, timed like inference, plus an ORT profile of one step (where the time goes).
 */
import { countMacs } from '../analysis/count.js';
import type { VisionModel } from '../models/base.js';
import { traceModel } from '../models/trace.js';
import { createNodeSession, nchwcBlockSize } from '../runtime/node.js';
import { TRAIN_STEP_SESSION } from '../runtime/session.js';
import { peakRssBytes, resetPeakRss } from '../io/host.js';
import { groupKernels, kernelProfile, lastRun, scopeOf, ORT_NODES, type ArenaMemory, type OpTime, type RunProfile } from '../runtime/node_profile.js';
import type { Objective } from '../train/objective.js';
import { adamw } from '../train/optim.js';
import { TrainStep } from '../train/step.js';
import { crossEntropy } from '../train/losses.js';
import { Rng } from '../util/rng.js';
import { randomTensor, timeAsync, timeInterleaved, type Timing } from './bench.js';
import { modulePart } from './bench_profile.js';

export interface TrainBenchOptions<T = unknown> {
  model: VisionModel;
  /** What the step minimises, and one batch's targets for it (default: cross-entropy on labels 0, 1, 2, …). */
  objective?: Objective<T>;
  targets?: T;
  batch: number;
  size: number;
  threads: number;
  warmup: number;
  iters: number;
  onIteration?: () => void;
  /** Also profile one extra step and report time per op type (writes then deletes a file here). */
  profilePrefix?: string;
}

/** Where one train step's kernel time goes. */
export interface TrainProfile extends RunProfile {
  /** forward, loss, backward, optimizer (and the nodes ORT renamed or inserted). */
  byPhase: OpTime[];
  /** ORT's memory arena over the profiled session's runs (null where the profile has no figures). */
  arena: ArenaMemory | null;
}

export interface TrainBench {
  timing: Timing;
  /** 3 × forward MACs × 2 (the usual estimate of a training step's work), per image. */
  flopsPerImage: number;
  /** Empty without `profilePrefix`. */
  profile: TrainProfile;
  /**
   * Peak RSS of the process while the step was compiled and run (null where the system does not
   * say), and its RSS just before: the step's own memory is the difference. Steps timed together
   * (`benchTrainSteps`) share one reading.
   */
  peakRssBytes: number | null;
  baseRssBytes: number;
}

/**
 * The phase of the train step a node belongs to, from its scope: the step graph scopes the
 * objective 'loss' and the update 'optimizer'; our autodiff scopes each gradient node
 * `grad(<scope of the forward node>)`; everything else is the model's forward.
 */
export function trainPhase(scope: string): 'forward' | 'loss' | 'backward' | 'optimizer' {
  if (scope.startsWith('grad(')) return 'backward';
  if (scope === 'loss' || scope === 'optimizer') return scope;
  return 'forward';
}

/** One step's kernels by op type, by module part (backward nodes counted with their forward part) and by phase. */
export function trainProfile(kernels: Parameters<typeof kernelProfile>[0], arena: ArenaMemory | null = null): TrainProfile {
  const part = (scope: string) => modulePart(scope.replace(/^grad\((.*)\)$/, '$1'));
  return {
    arena,
    ...kernelProfile(kernels, part),
    byPhase: groupKernels(kernels, (k) => {
      const scope = scopeOf(k.node);
      return scope === null ? ORT_NODES : trainPhase(scope);
    }),
  };
}

const NO_PROFILE: TrainProfile = { byOp: [], byModule: [], byPhase: [], kernels: 0, totalMs: 0, arena: null };

/** A model's compiled train step on a random batch, ready to time (and to profile). */
async function prepareTrainStep<T>(o: TrainBenchOptions<T>) {
  const m = o.model;
  const [c] = m.defaultInputSize;
  const objective = (o.objective ?? crossEntropy()) as Objective<unknown>;
  const targets = o.objective ? o.targets : Int32Array.from({ length: o.batch }, (_, i) => i % m.numClasses);
  // MACs of the forward pass the step differentiates (for FCMAE: the formulation the step compiles).
  const gmacs = countMacs(traceModel(m, [1, c, o.size, o.size], { outputs: objective.reads }).graph) / 1e9;
  m.train();
  const shape = [o.batch, c, o.size, o.size];
  const nchwcBlock = await nchwcBlockSize();
  const compile = (profilePrefix?: string) =>
    TrainStep.compile(m, objective, { optimizer: adamw(), batchShape: shape, nchwcBlock }, (bytes, label) =>
      createNodeSession(bytes, { ...TRAIN_STEP_SESSION, threads: o.threads, label, profilePrefix }),
    );
  const x = randomTensor(shape, 1);
  const rng = new Rng(0);
  // A tiny lr keeps the random model from drifting into a region with different timings.
  const run = (step: TrainStep<unknown>) => step.step(x, targets, 1e-6, rng);
  /** Where one step's time goes, after warm-up steps (the first ones grow ORT's memory arena). */
  const profile = async (): Promise<TrainProfile> => {
    if (!o.profilePrefix) return NO_PROFILE;
    const profiled = await compile(o.profilePrefix);
    for (let i = 0; i < Math.max(2, o.warmup); i++) await run(profiled);
    await run(profiled);
    profiled.endProfiling();
    const profiledRun = lastRun(o.profilePrefix);
    const p = trainProfile(profiledRun.kernels, profiledRun.arena);
    await profiled.release();
    return p;
  };
  return { compile, run, profile, flopsPerImage: 3 * 2 * gmacs * 1e9 };
}

/** Reset the peak-RSS watermark; the returned function reads the peak since then. */
function watchPeakRss(): { baseRssBytes: number; peak: () => number | null } {
  const baseRssBytes = process.memoryUsage.rss();
  const ok = resetPeakRss();
  return { baseRssBytes, peak: () => (ok ? peakRssBytes() : null) };
}

export async function benchTrainStep<T>(o: TrainBenchOptions<T>): Promise<TrainBench> {
  const p = await prepareTrainStep(o);
  const rss = watchPeakRss();
  const step = await p.compile();
  const timing = await timeAsync(() => p.run(step), { warmup: o.warmup, iters: o.iters, onIteration: o.onIteration });
  const peak = rss.peak();
  await step.release();
  return { timing, flopsPerImage: p.flopsPerImage, profile: await p.profile(), peakRssBytes: peak, baseRssBytes: rss.baseRssBytes };
}

/**
 * Train steps compared with each other (FCMAE at two mask ratios), compiled side by side and timed
 * interleaved (`timeInterleaved`) so that their ratio does not depend on when the machine was busy.
 * Warm-up, iterations and progress come from the first options.
 */
export async function benchTrainSteps(specs: readonly TrainBenchOptions<unknown>[]): Promise<TrainBench[]> {
  const first = specs[0]!;
  const prepared = await Promise.all(specs.map((o) => prepareTrainStep(o)));
  const steps: TrainStep<unknown>[] = [];
  try {
    const rss = watchPeakRss();
    for (const p of prepared) steps.push(await p.compile());
    const timings = await timeInterleaved(
      prepared.map((p, i) => () => p.run(steps[i]!)),
      { warmup: first.warmup, iters: first.iters, onIteration: first.onIteration },
    );
    const peak = rss.peak();
    for (const s of steps.splice(0)) await s.release();
    const out: TrainBench[] = [];
    for (const [i, p] of prepared.entries())
      out.push({ timing: timings[i]!, flopsPerImage: p.flopsPerImage, profile: await p.profile(), peakRssBytes: peak, baseRssBytes: rss.baseRssBytes });
    return out;
  } finally {
    for (const s of steps) await s.release();
  }
}
