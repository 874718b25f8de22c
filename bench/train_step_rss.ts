/**
 * Peak memory of one train step, read in a fresh process: the bench's own process has held every
 * earlier row's models, sessions and arenas, so its watermark says more about the suite than about
 * the step (V2-atto b32: 5.03 GB there, 2.25 GB alone). PyTorch's figure the issue compares with is
 * a fresh process's too. Run as a script, this file is that child process:
 * `node dist/bench/train_step_rss.js JSON` compiles the step the JSON describes, runs it a few
 * times (ORT's arena grows over the first steps) and prints `{ baseline, peak }` (bytes) as JSON.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createModel } from '../src/index.js';
import type { ModelSpec } from '../src/models/registry.js';
import { benchTrainStep } from '../src/tasks/bench_train.js';
import { fcmaeTrainCase } from './cases_training.js';

/** The train step to measure: a registry model with cross-entropy, or FCMAE's step at a mask ratio. */
export type TrainStepProbe = { batch: number; size: number; threads: number } & ({ spec: ModelSpec } | { fcmaeMask: 0.6 | 0 });

export interface TrainStepRss {
  /** RSS of the child before it built the model (Node and our modules). */
  baselineBytes: number;
  /** Peak RSS of the child: compiling the step and running it three times. */
  peakBytes: number;
}

/** Measure one step's peak RSS in a child process (asynchronously: the parent's progress bar keeps moving). */
export function measureTrainStepRss(probe: TrainStepProbe): Promise<TrainStepRss> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(probe)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      if (code !== 0) return fail(new Error(`train-step memory probe failed (${JSON.stringify(probe)}): ${err.trim()}`));
      const r = JSON.parse(out) as { baseline: number; peak: number };
      done({ baselineBytes: r.baseline, peakBytes: r.peak });
    });
  });
}

async function child(probe: TrainStepProbe): Promise<void> {
  const baseline = process.memoryUsage().rss;
  const step =
    'spec' in probe
      ? { model: createModel(probe.spec) }
      : (({ model, objective, targets }) => ({ model, objective, targets }))(fcmaeTrainCase(probe.fcmaeMask, probe.batch, probe.size));
  // benchTrainStep reads VmHWM, this process image's own peak. Not getrusage's maxRSS, which Linux
  // carries over from the parent through fork and exec (a child of a 3 GB bench process reported
  // 2.92 GB for every step).
  const r = await benchTrainStep({ ...step, batch: probe.batch, size: probe.size, threads: probe.threads, warmup: 1, iters: 2 } as Parameters<typeof benchTrainStep>[0]);
  const peak = r.peakRssBytes;
  if (peak === null) throw new Error('this system does not report a peak RSS (/proc/self/status VmHWM)');
  process.stdout.write(JSON.stringify({ baseline, peak }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  child(JSON.parse(process.argv[2]!) as TrainStepProbe).catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}
