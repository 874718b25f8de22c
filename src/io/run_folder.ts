/**
 * The layout of a training run folder on disk, in one place, so that the jobs that write it
 * (tasks/train.ts, tasks/demo.ts) and the ones that read it back (tasks/classify.ts) agree on the
 * names without joining paths themselves (`node:path` stays out of `tasks/`). The checkpoint file
 * is named in `checkpoint.ts`, which owns it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RunFolderFiles {
  /** run.json: the run's configuration (model, overrides, data, train config, threads). */
  config: string;
  /** metrics.jsonl: one record per step and per epoch. */
  metrics: string;
  /** model.safetensors: final weights, timm key names. */
  weights: string;
  /** curves.svg: loss and accuracy curves. */
  curves: string;
  /** report.md: the demo's report. */
  report: string;
}

/** The paths of the files in the run folder `dir` (nothing is checked or created). */
export function runFolderFiles(dir: string): RunFolderFiles {
  return {
    config: join(dir, 'run.json'),
    metrics: join(dir, 'metrics.jsonl'),
    weights: join(dir, 'model.safetensors'),
    curves: join(dir, 'curves.svg'),
    report: join(dir, 'report.md'),
  };
}

/** Create the run folder (and its parents) and write `run.json`, pretty-printed, newline-terminated. */
export function createRunFolder(dir: string, runConfig: unknown): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(runFolderFiles(dir).config, JSON.stringify(runConfig, null, 2) + '\n');
}
