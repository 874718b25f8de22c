/** Training jobs: typed errors for bad options, and a clear stop on a non-finite loss. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { ConfigError, DataError, TrainingError } from '../../src/errors.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { trainJob, type TrainJobOptions } from '../../src/tasks/train.js';

const engine = defaultEngine();

const TINY = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64] };

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'visionmix-opt-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const job = (out: string, o: Partial<TrainJobOptions> & { train?: TrainJobOptions['train'] } = {}): TrainJobOptions => ({
  model: TINY,
  data: 'fashion-mnist:bundled',
  out,
  threads: 1,
  ...o,
  train: { epochs: 1, batchSize: 100, inputSize: 32, ...o.train },
});

test(
  'bad options are typed errors naming the option, and create no run folder',
  withDir(async (dir) => {
    const out = join(dir, 'run');
    const cases: [Partial<TrainJobOptions>, new (...a: never[]) => Error, RegExp][] = [
      [{ model: 'convnext_nope' }, ConfigError, /unknown model 'convnext_nope'/],
      [{ train: { lr: 0 } }, ConfigError, /--lr must be > 0 \(got 0\)/],
      [{ train: { lr: -1 } }, ConfigError, /--lr must be > 0 \(got -1\)/],
      [{ train: { batchSize: 7000 } }, ConfigError, /--batch 7000 is larger than the training data \(6000 images\)/],
      [{ train: { epochs: 0 } }, ConfigError, /--epochs must be a positive integer/],
      [{ train: { trainImages: 50 } }, ConfigError, /trainImages must be an integer from the batch size \(100\) to the 6000 training images \(got 50\)/],
      [{ train: { trainImages: 6001 } }, ConfigError, /trainImages must be an integer .*\(got 6001\)/],
      [{ data: 'fashion-mnist:/no/such/folder' }, DataError, /--data: folder \/no\/such\/folder does not exist/],
      [{ data: 'cifar-10' }, ConfigError, /--data 'cifar-10' is not a known data set/],
    ];
    for (const [o, cls, re] of cases) {
      await assert.rejects(trainJob(engine, job(out, o)), (e: unknown) => {
        assert.ok(e instanceof cls, `${JSON.stringify(o)}: expected ${cls.name}, got ${String(e)}`);
        assert.match((e as Error).message, re);
        return true;
      });
      assert.equal(existsSync(out), false, `no run folder after ${JSON.stringify(o)}`);
    }
  }),
);

test(
  'a non-finite loss stops training with a TrainingError naming the step; the last good checkpoint stays',
  withDir(async (dir) => {
    const out = join(dir, 'diverge');
    // SGD with lr 1e4 blows the weights up within a few steps (deterministic for this seed).
    const err = await trainJob(
      engine,
      job(out, { train: { lr: 1e4, optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0 }, warmupEpochs: 0, checkpointEvery: 1, seed: 3 } }),
    ).catch((e: unknown) => e);
    assert.ok(err instanceof TrainingError, String(err));
    const step = err.step!;
    assert.ok(step > 1, `diverged at step ${step}`);
    assert.match(err.message, new RegExp(`non-finite loss \\((NaN|Infinity|-Infinity)\\) at step ${step} \\(epoch 1\\)`));
    assert.match(err.message, new RegExp(`the last good checkpoint \\(step ${step - 1}\\) is kept`));
    const { ckpt } = await loadCheckpoint(out);
    assert.equal(ckpt.train.step, step - 1, 'the checkpoint of the last finite step is kept');
    const logged = MetricsLog.read(join(out, 'metrics.jsonl')).map((r) => r.step);
    assert.equal(logged[logged.length - 1], step - 1, 'no record for the failed step');
  }),
);

test(
  'a non-finite loss before any checkpoint says that none was written (not "the last good checkpoint is kept")',
  withDir(async (dir) => {
    const out = join(dir, 'diverge-early');
    const err = await trainJob(engine, job(out, { train: { lr: 1e4, optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0 }, warmupEpochs: 0, checkpointEvery: 0, seed: 3 } }),
    ).catch((e: unknown) => e);
    assert.ok(err instanceof TrainingError, String(err));
    assert.match(err.message, /weights were not updated and no checkpoint had been written yet\. Try a lower --lr/);
    assert.doesNotMatch(err.message, /last good checkpoint/);
    assert.equal(existsSync(join(out, 'checkpoint.safetensors')), false);
  }),
);

test(
  '--threads above the core count is capped with a warning (1000 threads would make every step wait)',
  withDir(async (dir) => {
    const out = join(dir, 'threads');
    const warnings: string[] = [];
    // (A warm-up shorter than the run: a 1-epoch warm-up over 1 epoch would be warned about too.)
    await trainJob(engine, job(out, { threads: 1000, train: { warmupEpochs: 0.5 } }), { stopAfterSteps: 1, onWarning: (m) => warnings.push(m) });
    const cores = availableParallelism();
    assert.deepEqual(warnings, [`--threads 1000 is more than the ${cores} cores of this machine; using ${cores}`]);
    assert.equal((JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { threads: number }).threads, cores);
    await assert.rejects(trainJob(engine, job(join(dir, 'zero'), { threads: 0 })), /--threads must be a positive integer \(got 0\)/);
  }),
);
