/**
 * Record a finished long training run for BENCHMARKS.md: `node dist/bench/record_run.js --run DIR
 * --command "…" [--paused-seconds N] --out bench/records/NAME.json`. Reads the run folder (run.json,
 * metrics.jsonl, file times) — nothing is typed in by hand except the command line that was used
 * and the seconds the run was deliberately paused (SIGSTOP) while other measurements ran.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
  /** Intra-op threads of the run. */
  threads?: number;
  /** Final and best accuracy of the EMA weights, when the run kept them. */
  finalTestAccEma?: number;
  /** Multi-scale runs: per input side, the steps, images and median step throughput. */
  sides?: { side: number; steps: number; images: number; medianImagesPerSecond: number }[];
  /** Train-step graphs compiled, per batch shape (from compiles.jsonl): 1 each means no recompiles. */
  compiles?: Record<string, number>;
  /** The suite row (label) with the same train step, for the fraction of the GEMM peak. */
  benchRow?: string;
  /** Conditions of the run worth knowing (e.g. another run beside it). */
  note?: string;
  /** How the recorded config was rewritten since the run (a key renamed, the network unchanged). */
  configNote?: string;
  /** Another record (file name in bench/records) this run is compared against, e.g. training from scratch. */
  baseline?: string;
  /** Pictures made from the run (paths from the repository root), with what they show. */
  figures?: { path: string; caption: string }[];
}

const spec = defineCommand({
  name: 'record-run',
  program: 'node dist/bench/record_run.js',
  options: {
    run: { type: 'string', required: true, placeholder: 'dir', description: 'finished run folder' },
    command: { type: 'string', required: true, placeholder: 'text', description: 'the command that produced it' },
    title: { type: 'string', default: 'Fashion-MNIST, full training set, from scratch', description: 'section title' },
    pausedSeconds: { type: 'number', min: 0, default: 0, description: 'seconds the run was paused (SIGSTOP)' },
    benchRow: { type: 'string', placeholder: 'label', description: "the suite's train-step row for the same model, batch and size" },
    note: { type: 'string', placeholder: 'text', description: 'conditions of the run (e.g. another run beside it)' },
    baseline: { type: 'string', placeholder: 'file', description: 'record (in bench/records) this run is compared against' },
    figure: { type: 'strings', placeholder: 'path=caption', description: 'pictures made from the run (comma-separated path=caption items; repeatable)' },
    out: { type: 'string', required: true, placeholder: 'file', description: 'record to write (JSON)' },
  },
});

export function recordRun(dir: string, command: string, title: string, pausedSeconds: number, extra: { benchRow?: string; note?: string; baseline?: string; figures?: { path: string; caption: string }[] } = {}): RunRecord {
  const rc = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { data: string; model: unknown; threads?: number; train: { epochs: number; batchSize: number } };
  const records = MetricsLog.read(join(dir, 'metrics.jsonl'));
  const epochs = records.filter((r) => r.test_acc !== undefined);
  const steps = records.filter((r) => r.test_acc === undefined && r.loss !== undefined);
  const last = epochs[epochs.length - 1]!;
  const start = statSync(join(dir, 'run.json')).mtimeMs;
  const end = statSync(join(dir, 'model.safetensors')).mtimeMs;
  const stepSeconds = Number(last.elapsed_s);
  // Multi-scale steps record their side and batch; the others all have the run's batch size.
  const trainImages = steps.reduce((a, r) => a + (typeof r.batch === 'number' ? r.batch : rc.train.batchSize), 0);
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const sideList = [...new Set(steps.filter((r) => typeof r.size === 'number').map((r) => Number(r.size)))].sort((a, b) => a - b);
  const sides = sideList.map((side) => {
    const at = steps.filter((r) => r.size === side);
    return { side, steps: at.length, images: at.reduce((a, r) => a + Number(r.batch), 0), medianImagesPerSecond: median(at.map((r) => Number(r.img_s))) };
  });
  const compilesFile = join(dir, 'compiles.jsonl');
  const compiles: Record<string, number> = {};
  if (existsSync(compilesFile))
    for (const line of readFileSync(compilesFile, 'utf8').split('\n').filter(Boolean)) {
      const shape = (JSON.parse(line) as { shape: string }).shape;
      compiles[shape] = (compiles[shape] ?? 0) + 1;
    }
  const ema = epochs.filter((e) => e.test_acc_ema !== undefined).map((e) => Number(e.test_acc_ema));
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
    ...(rc.threads ? { threads: rc.threads } : {}),
    ...(ema.length ? { finalTestAccEma: ema[ema.length - 1] } : {}),
    ...(sides.length ? { sides } : {}),
    ...(Object.keys(compiles).length ? { compiles } : {}),
    ...(extra.benchRow ? { benchRow: extra.benchRow } : {}),
    ...(extra.note ? { note: extra.note } : {}),
    ...(extra.baseline ? { baseline: extra.baseline } : {}),
    ...(extra.figures?.length ? { figures: extra.figures } : {}),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const parsed = parseCommand(spec, process.argv.slice(2));
  if (!parsed.help) {
    const v = parsed.values;
    const rec = recordRun(v.run!, v.command!, v.title, v.pausedSeconds, {
      benchRow: v.benchRow,
      note: v.note,
      baseline: v.baseline,
      figures: (v.figure ?? []).map((f) => {
        const at = f.indexOf('=');
        if (at <= 0) throw new Error(`--figure must be path=caption, got ${f}`);
        return { path: f.slice(0, at), caption: f.slice(at + 1) };
      }),
    });
    writeFileSync(v.out!, JSON.stringify(rec, null, 2) + '\n');
    console.log(JSON.stringify(rec, null, 2));
  }
}
