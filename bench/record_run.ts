/**
 * Record a finished long training run for BENCHMARKS.md: `node dist/bench/record_run.js --run DIR
 * --command "…" [--paused-seconds N] --out bench/records/NAME.json`. Reads the run folder (run.json,
 * metrics.jsonl, file times) — nothing is typed in by hand except the command line that was used
 * and the seconds the run was deliberately paused (SIGSTOP) while other measurements ran.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineCommand, parseCommand } from '../src/cli/args.js';
import { MetricsLog } from '../src/io/metrics_log.js';

export interface RunRecord {
  title: string;
  command: string;
  data: string;
  model: unknown;
  epochs: number;
  batch: number;
  steps: number;
  trainImages: number;
  /** From run.json's creation to the final model.safetensors. */
  wallSeconds: number;
  pausedSeconds: number;
  /** Sum of the measured step times (data, forward, backward, update), without evaluation. */
  stepSeconds: number;
  imagesPerSecond: number;
  finalTestAcc: number;
  bestTestAcc: number;
  testAccByEpoch: number[];
  finishedAt: string;
}

const spec = defineCommand({
  name: 'record-run',
  program: 'node dist/bench/record_run.js',
  options: {
    run: { type: 'string', required: true, placeholder: 'dir', description: 'finished run folder' },
    command: { type: 'string', required: true, placeholder: 'text', description: 'the command that produced it' },
    title: { type: 'string', default: 'Fashion-MNIST, full training set, from scratch', description: 'section title' },
    pausedSeconds: { type: 'number', min: 0, default: 0, description: 'seconds the run was paused (SIGSTOP)' },
    out: { type: 'string', required: true, placeholder: 'file', description: 'record to write (JSON)' },
  },
});

export function recordRun(dir: string, command: string, title: string, pausedSeconds: number): RunRecord {
  const rc = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { data: string; model: unknown; train: { epochs: number; batchSize: number } };
  const records = MetricsLog.read(join(dir, 'metrics.jsonl'));
  const epochs = records.filter((r) => r.test_acc !== undefined);
  const steps = records.filter((r) => r.test_acc === undefined && r.loss !== undefined);
  const last = epochs[epochs.length - 1]!;
  const start = statSync(join(dir, 'run.json')).mtimeMs;
  const end = statSync(join(dir, 'model.safetensors')).mtimeMs;
  const stepSeconds = Number(last.elapsed_s);
  const trainImages = steps.length * rc.train.batchSize;
  return {
    title,
    command,
    data: rc.data,
    model: rc.model,
    epochs: rc.train.epochs,
    batch: rc.train.batchSize,
    steps: steps.length,
    trainImages,
    wallSeconds: (end - start) / 1000,
    pausedSeconds,
    stepSeconds,
    imagesPerSecond: trainImages / stepSeconds,
    finalTestAcc: Number(last.test_acc),
    bestTestAcc: Math.max(...epochs.map((e) => Number(e.test_acc))),
    testAccByEpoch: epochs.map((e) => Number(e.test_acc)),
    finishedAt: new Date(end).toISOString(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const parsed = parseCommand(spec, process.argv.slice(2));
  if (!parsed.help) {
    const v = parsed.values;
    const rec = recordRun(v.run!, v.command!, v.title, v.pausedSeconds);
    writeFileSync(v.out!, JSON.stringify(rec, null, 2) + '\n');
    console.log(JSON.stringify(rec, null, 2));
  }
}
