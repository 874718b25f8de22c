/**
 * Multi-scale training through the trainer: a side drawn per batch with its scaled batch size and
 * images, one train-step graph compiled per side (once for the whole run, also across a resume),
 * and a resumed run that reproduces the uninterrupted one exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { resumeJob, trainJob, type TrainJobOptions } from '../../src/tasks/train.js';

const engine = defaultEngine();

const JOB: Omit<TrainJobOptions, 'out'> = {
  // Total stride 16 (2×2 stem): sides 16, 32 and 48 all fit.
  model: { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], stem_stride: 2 },
  data: 'fashion-mnist:bundled',
  train: { epochs: 2, batchSize: 400, lr: 3e-3, inputSize: 32, warmupEpochs: 0.2, checkpointEvery: 5, seed: 3, multiScale: [16, 32, 48] },
  threads: 1,
};

const stepRecords = (dir: string) => MetricsLog.read(join(dir, 'metrics.jsonl')).filter((r) => typeof r.step === 'number' && r.test_acc === undefined && r.loss !== undefined);

test('multi-scale: sides drawn per batch with scaled batches, each graph compiled once; resume is exact', async () => {
  const root = mkdtempSync(join(tmpdir(), 'vm-multiscale-'));
  try {
    const ref = join(root, 'ref');
    const r = await trainJob(engine, { ...JOB, out: ref });
    const steps = stepRecords(ref);
    // Batch sizes follow (32/side)² · 400: 1600 at 16, 400 at 32, 177 at 48 (ml-cvnets' rounding).
    const sizes = new Set(steps.map((s) => s.size));
    assert.deepEqual([...sizes].sort((a, b) => Number(a) - Number(b)), [16, 32, 48], 'every side drawn');
    const compiled = readFileSync(join(ref, 'compiles.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { shape: string }).shape);
    assert.deepEqual([...compiled].sort(), ['1600x1x16x16', '177x1x48x48', '400x1x32x32'].sort(), 'one compile per side, for the whole run');
    assert.ok(r.final && r.final.accuracy > 0.2, `learns something: above the 0.1 of chance (${r.final?.accuracy})`);
    // Every epoch covers the 6000 images (its last batch topped up).
    const perEpoch = [1, 2].map((e) => steps.filter((s) => s.epoch === e).length);
    assert.ok(perEpoch.every((n) => n >= 6000 / 1600 && n <= Math.ceil(6000 / 177)), String(perEpoch));

    // Stopped after 7 steps (last checkpoint at step 5), resumed: the same losses and sides.
    const cut = join(root, 'cut');
    await trainJob(engine, { ...JOB, out: cut }, { stopAfterSteps: 7 });
    await resumeJob(engine, cut);
    const a = stepRecords(ref).map((s) => [s.step, s.size, s.loss]);
    const b = stepRecords(cut).map((s) => [s.step, s.size, s.loss]);
    assert.deepEqual(b, a);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('multi-scale: a side that does not fit the model is a ConfigError naming --multi-scale, before the folder exists', async () => {
  const root = mkdtempSync(join(tmpdir(), 'vm-multiscale-bad-'));
  try {
    await assert.rejects(
      trainJob(engine, { ...JOB, out: join(root, 'x'), train: { ...JOB.train, multiScale: [24, 32] } }),
      (e: unknown) => e instanceof Error && e.name === 'ConfigError' && /--multi-scale 24 does not fit .*multiple of 16/.test(e.message),
    );
    await assert.rejects(trainJob(engine, { ...JOB, out: join(root, 'y'), train: { ...JOB.train, multiScale: [32] } }), /--multi-scale must be two or more distinct/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
