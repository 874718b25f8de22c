/**
 * int8 files against fp32 on a Fashion-MNIST run (issue 24: "test accuracy within 0.5 points of fp32,
 * ≥ 99% top-1 agreement"): exports the run as fp32, dynamic int8 and static int8 (calibrated on
 * `--calibration-images` training images by min-max, percentile and entropy ranges), and fp16, runs each file with `loadOnnxModel` over the whole test
 * split (the run's own eval transform) and prints accuracy, agreement with fp32 and file size;
 * `--out FILE` keeps them as JSON (bench/records/int8/, which BENCHMARKS.md lists).
 *
 *   node dist/bench/int8_accuracy.js --run runs/fmnist [--data fashion-mnist] [--calibration-images 64] [--out bench/records/int8/NAME.json]
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineCommand, parseCommand, renderHelp } from '../src/cli/args.js';
import { defaultEngine, loadOnnxModel } from '../src/index.js';
import { loadFashionMnist, BUNDLED_FASHION_MNIST_DIR, DEFAULT_FASHION_MNIST_DIR } from '../src/io/fashion_mnist_files.js';
import { exportJob, type ExportJobOptions } from '../src/tasks/export.js';
import { readRunFolderConfig } from '../src/tasks/run_config.js';
import { evalBatches } from '../src/train/batches.js';

const spec = defineCommand({
  name: 'int8-accuracy',
  program: 'node dist/bench/int8_accuracy.js',
  summary: 'Accuracy of fp32, dynamic int8 and static int8 exports of a Fashion-MNIST run on its test split',
  options: {
    run: { type: 'string', required: true, placeholder: 'dir', description: 'a finished Fashion-MNIST run folder' },
    data: { type: 'string', default: 'fashion-mnist', placeholder: 'spec', description: 'fashion-mnist (Debian package) or fashion-mnist:bundled' },
    calibrationImages: { type: 'int', min: 1, default: 64, description: 'static int8: calibration images (training split)' },
    out: { type: 'string', placeholder: 'file', description: 'write the results as JSON here' },
    note: { type: 'string', placeholder: 'text', description: 'what the run is, when it is not the record its folder name suggests (kept in the JSON)' },
  },
});

/** What `--out` writes (bench/records/int8/). */
export interface Int8AccuracyRecord {
  run: string;
  data: string;
  testImages: number;
  calibrationImages: number;
  rows: Int8AccuracyRow[];
  measuredAt: string;
  note?: string;
}

export interface Int8AccuracyRow {
  /** 'int8 static' is calibrated by min-max; the others name their calibration. */
  file: 'fp32' | 'fp16' | 'int8 dynamic' | 'int8 static' | 'int8 static (percentile 99.99)' | 'int8 static (entropy)';
  bytes: number;
  testAcc: number;
  /** Share of test images whose top-1 class equals the fp32 file's. */
  agreement: number;
}

async function main(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (parsed.help) return void process.stdout.write(`${renderHelp(spec)}\n`);
  const v = parsed.values;
  const data = await loadFashionMnist(v.data === 'fashion-mnist:bundled' ? BUNDLED_FASHION_MNIST_DIR : DEFAULT_FASHION_MNIST_DIR);
  const run = readRunFolderConfig(v.run);
  if (!run) throw new Error(`${v.run} has no run.json`);
  const size = run.train.inputSize;
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-int8-'));
  const kinds: [Int8AccuracyRow['file'], Partial<ExportJobOptions>][] = [
    ['fp32', {}],
    ['fp16', { dtype: 'float16' }],
    ['int8 dynamic', { dtype: 'int8' }],
    ['int8 static', { dtype: 'int8', quantization: 'static', calibrationSource: { data: v.data, count: v.calibrationImages } }],
    ['int8 static (percentile 99.99)', { dtype: 'int8', quantization: 'static', calibrationSource: { data: v.data, count: v.calibrationImages, method: 'percentile', percentile: 99.99 } }],
    ['int8 static (entropy)', { dtype: 'int8', quantization: 'static', calibrationSource: { data: v.data, count: v.calibrationImages, method: 'entropy' } }],
  ];
  const rows: Int8AccuracyRow[] = [];
  let reference: Int32Array | null = null;
  try {
    for (const [name, o] of kinds) {
      const path = join(dir, `${name.replace(/\W+/g, '_')}.onnx`);
      await exportJob(defaultEngine(), { run: v.run, path, ...o });
      const f = await loadOnnxModel(path);
      const top1 = new Int32Array(data.test.count);
      let correct = 0;
      let i = 0;
      for await (const b of evalBatches(data.test, size, 250, data.test.channels)) {
        const logits = (await f.run(b.x)).logits!;
        const [n, k] = logits.shape as [number, number];
        const d = logits.data as Float32Array;
        for (let r = 0; r < n; r++, i++) {
          let best = 0;
          for (let c = 1; c < k; c++) if (d[r * k + c]! > d[r * k + best]!) best = c;
          top1[i] = best;
          if (best === b.labels[r]) correct++;
        }
      }
      await f.release();
      reference ??= top1;
      let same = 0;
      for (let j = 0; j < top1.length; j++) if (top1[j] === reference[j]) same++;
      rows.push({ file: name, bytes: statSync(path).size, testAcc: correct / data.test.count, agreement: same / top1.length });
      process.stderr.write(`${name}: ${(100 * correct / data.test.count).toFixed(2)}% test accuracy, ${(100 * same / top1.length).toFixed(2)}% top-1 agreement with fp32\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const result: Int8AccuracyRecord = { run: v.run, data: v.data, testImages: data.test.count, calibrationImages: v.calibrationImages, rows, measuredAt: new Date().toISOString(), ...(v.note ? { note: v.note } : {}) };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (v.out) writeFileSync(resolve(v.out), `${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
