/**
 * Fault injection (issue 8, "done when"): one training run is SIGKILLed 20 times at random points —
 * in the middle of a step, in the middle of a checkpoint write, in the middle of a metrics.jsonl
 * append — and resumed after each kill. After every kill the folder holds a loadable checkpoint and
 * every step recorded so far has exactly the loss of the uninterrupted run; at the end the whole
 * metrics log (per-step losses and per-epoch train/test metrics) equals the uninterrupted run's, and
 * no temp file or lock is left.
 *
 * The kill points come from a seeded generator (printed as a diagnostic; VISIONMIX_FAULT_SEED
 * replays another sequence). Kills mid-write are made deterministic by the crash-test hooks in
 * src/io/fault.ts, which pause the chosen write half-way; kills mid-step land a random delay after a
 * step's line, i.e. during the next step's computation (or whatever follows it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { trainJob, type TrainJobOptions } from '../../src/tasks/train.js';
import { Rng } from '../../src/util/rng.js';
import { runChild } from '../fixtures/run_child.js';
import { writeSmallFashionMnist } from '../fixtures/small_data.js';

const engine = defaultEngine();

/**
 * 4 epochs × 20 steps on 1200/200 images, a checkpoint every 2 steps (and at epoch ends); drop path
 * and EMA so that RNG and EMA state matter. The kill points below advance the run by 1–3 steps per
 * kill, so 20 kills cross epoch boundaries (evaluation, epoch records, epoch-end checkpoints) and
 * leave steps for the final resume whatever the seed.
 */
const job = (data: string): Omit<TrainJobOptions, 'out'> => ({
  model: { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], drop_path_rate: 0.2 },
  data,
  threads: 1,
  train: { epochs: 4, batchSize: 60, lr: 4e-3, inputSize: 32, warmupEpochs: 0.25, checkpointEvery: 2, seed: 11, emaDecay: 0.9, evalBatchSize: 100 },
});
const KILLS = 20;

type Kind = 'mid-step' | 'mid-checkpoint' | 'mid-metrics';

/** The metrics without wall-clock fields (img_s, elapsed_s), which differ between any two runs. */
const records = (dir: string) => MetricsLog.read(join(dir, 'metrics.jsonl')).map(({ img_s: _a, elapsed_s: _b, ...r }) => r);
const count = (out: string, re: RegExp) => out.split('\n').filter((l) => re.test(l)).length;

test(`fault injection: ${KILLS} SIGKILLs at random points, each resume reproduces the uninterrupted run exactly`, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'visionmix-faults-'));
  try {
    const JOB = job(await writeSmallFashionMnist(join(root, 'data'), { train: 1200, test: 200 }));
    const ref = join(root, 'ref');
    await trainJob(engine, { ...JOB, out: ref });
    const want = records(ref);
    const wantSteps = new Map(want.filter((r) => r.test_acc === undefined).map((r) => [r.step, r]));
    assert.equal(wantSteps.size, 80);

    const seed = Number(process.env.VISIONMIX_FAULT_SEED ?? 8);
    const rng = new Rng(seed);
    const dir = join(root, 'run');
    const kinds: Kind[] = [];
    let kills = 0;
    let started = false;
    for (let segment = 0; kills < KILLS; segment++) {
      assert.ok(segment < 3 * KILLS, 'the run finished before all kills happened (too few steps for the plan)');
      // The first segment is killed only after its first checkpoint exists: a run killed before any
      // checkpoint has nothing to resume (that case is tested in resume.test.ts).
      const kind: Kind = !started ? 'mid-checkpoint' : (['mid-step', 'mid-checkpoint', 'mid-metrics'] as const)[rng.int(3)]!;
      const env: Record<string, string> = {};
      let when: (out: string) => boolean;
      let delayMs = 0;
      let what: string;
      if (kind === 'mid-step') {
        const n = 1 + rng.int(4);
        delayMs = rng.int(100);
        when = (out) => count(out, /^step \d+$/) >= n;
        what = `${delayMs} ms after step line ${n}`;
      } else if (kind === 'mid-checkpoint') {
        const n = started ? 1 + rng.int(3) : 2;
        env.VISIONMIX_FAULT_PAUSE_WRITE = `${join('run', 'checkpoint.safetensors')}#${n}`;
        when = (out) => out.includes('visionmix-fault: paused mid-write');
        what = `in checkpoint write ${n}`;
      } else {
        const n = 1 + rng.int(5);
        env.VISIONMIX_FAULT_PAUSE_APPEND = `${join('run', 'metrics.jsonl')}#${n}`;
        when = (out) => out.includes('visionmix-fault: paused mid-append');
        what = `in metrics append ${n}`;
      }
      const r = await runChild([dir, started ? 'resume' : 'fresh', JSON.stringify(JOB)], when, { env, delayMs });
      if (!r.killed) {
        // The child finished before the chosen point (near the end of the run): start over is not
        // possible, so the plan had too few steps — fail loudly rather than count it as a kill.
        assert.fail(`segment ${segment} (${kind}, ${what}) finished without being killed:\n${r.out.slice(-500)}`);
      }
      kills++;
      kinds.push(kind);
      started = true;

      // After every kill: a loadable checkpoint, and every complete record so far equals the reference.
      const { ckpt } = await loadCheckpoint(dir);
      const steps = records(dir).filter((x) => x.test_acc === undefined);
      for (const s of steps) assert.deepEqual(s, wantSteps.get(s.step as number), `kill ${kills} (${kind}, ${what}): step ${s.step} differs`);
      t.diagnostic(`kill ${kills}: ${kind} (${what}); checkpoint at step ${ckpt.train.step} (epoch ${ckpt.meta.epoch}), ${steps.length} steps logged`);
    }
    await runChild([dir, 'resume', JSON.stringify(JOB)], null);

    assert.deepEqual(records(dir), want, 'per-step losses and per-epoch train/test metrics equal the uninterrupted run');
    for (const k of ['mid-step', 'mid-checkpoint', 'mid-metrics'] as const) assert.ok(kinds.includes(k), `seed ${seed} never killed ${k}`);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.includes('.stale.')), [], 'no temp files left');
    assert.equal(existsSync(join(dir, '.visionmix.lock')), false, 'no lock left');
    t.diagnostic(`seed ${seed}: ${kinds.filter((k) => k === 'mid-step').length} mid-step, ${kinds.filter((k) => k === 'mid-checkpoint').length} mid-checkpoint, ${kinds.filter((k) => k === 'mid-metrics').length} mid-metrics kills`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
