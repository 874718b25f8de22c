/**
 * Run folders belong to one run: a job locks its folder before writing anything (issue 8.2), a
 * folder that holds any part of a run is refused as --out (8.3), and unusable --out paths and
 * corrupt run.json files are typed errors naming the path (8.9).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { ConfigError } from '../../src/errors.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { trainJob, type TrainJobOptions } from '../../src/tasks/train.js';
import { runChild } from '../fixtures/run_child.js';
import { repoRoot, runCli, STACK_FRAME } from '../helpers.js';

const engine = defaultEngine();

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'visionmix-folder-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const TINY: Omit<TrainJobOptions, 'out'> = {
  model: { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64] },
  data: 'fashion-mnist:bundled',
  threads: 1,
  train: { epochs: 1, batchSize: 300, inputSize: 32, checkpointEvery: 4, seed: 1 },
};
const TINY_CLI = ['--model', 'convnextv2', '--config', '{"depths":[1,1,1,1],"dims":[8,16,32,64]}', '--data', 'fashion-mnist:bundled', '--epochs', '1', '--batch', '300', '--threads', '1'];

test(
  '8.2: a running job locks its folder: a second train, a resume and a demo into it are refused naming the owner; its lock goes stale when it dies',
  withDir(async (dir) => {
    const out = join(dir, 'run');
    // A training child paused in the middle of its second checkpoint write: it holds the folder.
    let pid = 0;
    const held = runChild([out, 'fresh'], null, {
      env: { VISIONMIX_FAULT_PAUSE_WRITE: join('run', 'checkpoint.safetensors#2') },
      onSpawn: (p) => (pid = p),
    });
    // Wait until it is paused (its lock is taken and a first checkpoint exists).
    const paused = () => existsSync(join(out, 'checkpoint.safetensors')) && readdirSync(out).some((f) => f.startsWith('.checkpoint') && f.endsWith('.tmp'));
    for (let i = 0; i < 1200 && !paused(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(paused(), 'the child paused in its second checkpoint write');
    try {
      const inUse = new RegExp(`run folder .*run is in use by another visionmix job \\(pid ${pid} `);
      const again = runCli(['train', ...TINY_CLI, '--out', out]);
      assert.equal(again.status, 1, again.stderr);
      assert.match(again.stderr, inUse);
      const demo = runCli(['demo', '--epochs', '1', '--out', out]);
      assert.equal(demo.status, 1, demo.stderr);
      assert.match(demo.stderr, inUse);
      const resume = runCli(['train', '--resume', out]);
      assert.equal(resume.status, 1, resume.stderr);
      assert.match(resume.stderr, inUse);
      // In-process too: the library refuses a second job while the folder is locked.
      await assert.rejects(trainJob(engine, { ...TINY, out }), (e: unknown) => e instanceof ConfigError && inUse.test(e.message));
    } finally {
      process.kill(pid, 'SIGKILL');
      await held;
    }
    // The owner is gone: its lock is stale, and resuming takes it over and finishes the run.
    assert.ok(existsSync(join(out, '.visionmix.lock')), 'the killed job left its lock');
    const resumed = runCli(['train', '--resume', out]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.ok(!existsSync(join(out, '.visionmix.lock')), 'released at the end');
    assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'the killed write left no temp file behind the resume');
  }),
);

test(
  '8.2: two jobs started at the same time into one new folder: exactly one trains, the other is refused',
  withDir(async (dir) => {
    const out = join(dir, 'race');
    const a = runChild([out, 'fresh', JSON.stringify(TINY)], null, { allowFailure: true });
    const b = runChild([out, 'fresh', JSON.stringify(TINY)], null, { allowFailure: true });
    const results = await Promise.all([a, b]);
    assert.deepEqual(results.map((r) => r.code).sort(), [0, 1], results.map((r) => r.out).join('\n---\n'));
    const loser = results.find((r) => r.code === 1)!;
    assert.match(loser.out, /in use by another visionmix job|already holds a training run/);
    const records = MetricsLog.read(join(out, 'metrics.jsonl')) as { step: number; test_acc?: number }[];
    const steps = records.filter((r) => r.test_acc === undefined).map((r) => r.step);
    assert.deepEqual(steps, Array.from({ length: 20 }, (_, i) => i + 1), 'one run, written once');
  }),
);

test(
  '8.3: --out refuses a folder holding any part of a run (run.json, metrics.jsonl, a model or a checkpoint), suggesting --resume',
  withDir(async (dir) => {
    // model_ema.safetensors and encoder.safetensors alone too (issue 20.12: they were overwritten).
    for (const file of ['run.json', 'metrics.jsonl', 'model.safetensors', 'model_ema.safetensors', 'encoder.safetensors', 'checkpoint.safetensors', 'checkpoint.prev.safetensors']) {
      const out = join(dir, file.replace(/\W/g, '_'));
      mkdirSync(out);
      writeFileSync(join(out, file), 'x');
      await assert.rejects(trainJob(engine, { ...TINY, out }), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, new RegExp(`--out .* already holds a training run; continue it with --resume .* or choose another --out \\(found ${file.replace('.', '\\.')}\\)`));
        return true;
      });
      assert.deepEqual(readdirSync(out), [file], `nothing written into the folder with ${file}`);
    }
    // An empty existing folder is fine.
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const r = await trainJob(engine, { ...TINY, out: empty }, { stopAfterSteps: 1 });
    assert.equal(r.steps, 1);
  }),
);

test(
  '8.9: unusable --out paths are typed errors naming the path, without a stack and without hanging',
  withDir(async (dir) => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string, RegExp][] = [
      ['/proc/visionmix-x', /--out \/proc\/visionmix-x: cannot create folder \/proc\/visionmix-x/],
      [file, new RegExp(`--out ${file} is a file, not a folder`)],
      [join(file, 'sub', 'run'), new RegExp(`--out ${file}/sub/run: ${file} is a file, so no folder can be created under it`)],
      ['/sys/visionmix-x', /--out \/sys\/visionmix-x: cannot create folder \/sys\/visionmix-x: permission denied \(EPERM\)/],
    ];
    for (const [out, re] of cases) {
      const r = runCli(['train', ...TINY_CLI, '--out', out], { timeoutMs: 30_000 });
      assert.equal(r.signal, null, `${out}: did not finish in 30 s`);
      assert.equal(r.status, 1, `${out}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /^error: /);
      assert.doesNotMatch(r.stderr, STACK_FRAME);
    }
  }),
);

test(
  '8.9: an empty or corrupt run.json makes eval and predict fail with a DataError naming it',
  withDir(async (dir) => {
    const out = join(dir, 'run');
    await trainJob(engine, { ...TINY, out });
    const samples = join(repoRoot, 'assets', 'samples');
    const sample = join(samples, readdirSync(samples).find((f) => f.endsWith('.png'))!);
    for (const [content, re] of [
      ['', /run\.json is empty/],
      ['{"model": "convnextv2_atto", "da', /run\.json is not valid JSON/],
      ['[1, 2]', /run\.json is not a visionmix run configuration/],
      // Parsed by its schema: the field at fault is named.
      ['{"model": "convnextv2_atto", "data": "fashion-mnist", "train": {"lr": "fast"}}', /run\.json is not a visionmix run configuration \(train\): 'lr' Invalid type/],
      ['{"model": 7, "data": "fashion-mnist", "train": {}}', /run\.json is not a visionmix run configuration: 'model' /],
      ['{"model": "convnextv2_atto", "data": "fashion-mnist", "train": {}, "task": "regression"}', /run\.json is not a visionmix run configuration: 'task' Invalid type/],
    ] as const) {
      writeFileSync(join(out, 'run.json'), content);
      for (const args of [['eval', '--run', out], ['predict', '--run', out, sample]]) {
        const r = runCli(args);
        assert.equal(r.status, 1, `${args[0]} with run.json ${JSON.stringify(content)}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^error: .*${out.replace(/[/.]/g, '\\$&')}/${re.source}`, 'm'));
        assert.doesNotMatch(r.stderr, STACK_FRAME);
      }
    }
  }),
);
