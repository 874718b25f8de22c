/** `visionmix demo`: the main job on embedded data (train, evaluate, classify samples, report). */
import { statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { withInterrupts } from './interrupt.js';
import { trainProgress } from './train_progress.js';

export const spec = defineCommand({
  name: 'demo',
  summary: 'Train a small ConvNeXt V2 on the bundled Fashion-MNIST subset, evaluate, classify samples, write a report',
  options: {
    out: { type: 'string', short: 'o', placeholder: 'dir', description: 'run folder (default runs/demo-<time>)' },
    epochs: { type: 'int', min: 1, description: 'epochs (default 5)' },
    steps: {
      type: 'int',
      min: 1,
      max: 93, // 93 full batches of 64 fit in the 6000 training images
      description: 'steps per epoch: train on the first steps × 64 images only, for a quick check of the whole job (default: all 6000 images, 94 steps)',
    },
  },
  examples: ['visionmix demo', 'visionmix demo --epochs 2 --out runs/quick', 'visionmix demo --epochs 1 --steps 10'],
});

export async function run({ values: v }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const engine = (await import('./engine.js')).nodeEngine();
  const { runDemo, DEMO_MODEL, DEMO_TRAIN } = await import('../tasks/demo.js');
  const { modelInfo } = await import('../models/index.js');
  const { createModel } = await import('../models/registry.js');
  const { renderTable } = await import('./table.js');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = v.out ?? `runs/demo-${stamp}`;
  // The demo always starts a run (it has no --resume): a folder holding one is refused with what
  // does work — another folder, or `train --resume` to go on training that run. A job running
  // there is named first (as train does); paths that cannot be a folder are the job's to report.
  const { runFolderFiles } = await import('../io/run_folder.js');
  const { hasCheckpoint } = await import('../io/checkpoint.js');
  const { assertNotLocked } = await import('../io/run_lock.js');
  const { pathExists } = await import('../io/files.js');
  const f = runFolderFiles(out);
  const isFolder = statSync(out, { throwIfNoEntry: false })?.isDirectory() === true;
  if (isFolder) assertNotLocked(out);
  if (isFolder && ([f.config, f.metrics, f.weights].some(pathExists) || hasCheckpoint(out)))
    throw new ConfigError(
      `--out ${out} already holds a run; the demo starts a new one, so choose another --out ` +
        `(to train that run further, use visionmix train --resume ${out}; the demo's report is written only by a complete demo run)`,
    );
  const epochs = v.epochs ?? DEMO_TRAIN.epochs!;
  const size = DEMO_TRAIN.inputSize!;
  const info = modelInfo(createModel(DEMO_MODEL, { num_classes: 10, in_chans: 1 }), [1, size, size]);
  io.stdout.write(
    `visionmix demo: ConvNeXt V2 (depths ${DEMO_MODEL.depths}, dims ${DEMO_MODEL.dims}) on the bundled Fashion-MNIST subset\n` +
      renderTable(
        [
          { key: 'params', header: 'params', format: (n: number) => `${(n / 1e6).toFixed(2)}M` },
          { key: 'mmacs', header: `MMACs @${size}²`, format: (n: number) => n.toFixed(1) },
          { key: 'epochs', header: 'epochs' },
          { key: 'out', header: 'run folder' },
        ],
        [{ params: info.params, mmacs: info.gmacs * 1e3, epochs, out }],
      ) +
      '\n',
  );
  return withInterrupts(io.stderr, `visionmix train --resume ${out} (the demo report is written only by a full demo run)`, async (signal) => {
    const r = await runDemo(engine, out, { onEvent: trainProgress(io.stderr), onWarning: (m) => io.stderr.write(`warning: ${m}\n`), signal }, { epochs, ...(v.steps ? { trainImages: v.steps * DEMO_TRAIN.batchSize! } : {}) });
    io.stdout.write('\nSample predictions:\n');
    for (const p of r.predictions) {
      const name = p.path.split('/').pop()!;
      io.stdout.write(`  ${name.padEnd(34)} → ${p.top[0]!.label.padEnd(12)} ${(p.top[0]!.prob * 100).toFixed(1)}%\n`);
    }
    const acc = r.train.final ? (r.train.final.accuracy * 100).toFixed(2) : 'n/a';
    io.stdout.write(`\nTest accuracy ${acc}% on 1000 held-out images.\nReport: ${out}/report.md  curves: ${out}/curves.svg  metrics: ${out}/metrics.jsonl\n`);
    return 0;
  });
}
