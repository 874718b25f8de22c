/**
 * Crash safety and exact resume: a run killed with SIGKILL during training, or in the middle of a
 * checkpoint write, keeps a readable last checkpoint, and resuming it reproduces the loss of every
 * step of an uninterrupted run exactly (same seed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultEngine } from '../../src/index.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { resumeJob, trainJob } from '../../src/tasks/train.js';
import { RESUME_TEST_JOB } from '../fixtures/train_job.js';

const engine = defaultEngine();

const child = fileURLToPath(new URL('../fixtures/train_child.js', import.meta.url));

function stepLosses(dir: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of MetricsLog.read(join(dir, 'metrics.jsonl'))) if (r.loss !== undefined && r.test_acc === undefined && typeof r.step === 'number') m.set(r.step, r.loss as number);
  return m;
}

/** Run the child; SIGKILL it when `when(line)` matches a line of its stdout/stderr. */
function runChild(args: string[], when: ((line: string) => boolean) | null, env: Record<string, string> = {}): Promise<{ killed: boolean; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let killed = false;
    const onData = (d: Buffer) => {
      out += d.toString();
      if (!killed && when && out.split('\n').some(when)) {
        killed = true;
        p.kill('SIGKILL');
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0) resolve({ killed: signal === 'SIGKILL', out });
      else reject(new Error(`child exited with ${code}: ${out}`));
    });
  });
}

test('SIGKILL during training and during a checkpoint write: resume reproduces the uninterrupted run exactly', async () => {
  const root = mkdtempSync(join(tmpdir(), 'visionmix-resume-'));
  try {
    // Reference: uninterrupted.
    const ref = join(root, 'ref');
    await trainJob(engine, { ...RESUME_TEST_JOB, out: ref });
    const want = stepLosses(ref);
    assert.equal(want.size, 40, '2 epochs × 20 steps');

    // 1. Killed mid-training (after step 10; last checkpoint at step 8), then resumed.
    const a = join(root, 'killed-training');
    const r1 = await runChild([a, 'fresh'], (l) => l === 'step 10');
    assert.ok(r1.killed, 'child was killed');
    const c1 = await loadCheckpoint(a);
    assert.equal(c1.ckpt.train.step, 8, 'last good checkpoint is at step 8');
    await runChild([a, 'resume'], null);
    assert.deepEqual([...stepLosses(a)], [...want], 'resumed losses equal the uninterrupted run');

    // 2. Killed while writing its first checkpoint (step 4): there is nothing to resume, and the
    //    half-written temp file is removed by the next job that locks the folder (here: the resume
    //    that then says there is no checkpoint).
    const b = join(root, 'killed-writing');
    const r2 = await runChild([b, 'fresh'], (l) => l.startsWith('visionmix-fault: paused'), {
      VISIONMIX_FAULT_PAUSE_WRITE: join('killed-writing', 'checkpoint.safetensors'),
    });
    assert.ok(r2.killed);
    assert.match(r2.out, /step 4\n/);
    assert.doesNotMatch(r2.out, /checkpoint 4/, 'killed before the step-4 checkpoint was complete');
    assert.equal(readdirSync(b).filter((f) => f.endsWith('.tmp')).length, 1, 'the kill left the half-written temp file');
    await assert.rejects(loadCheckpoint(b), /no checkpoint to resume/);
    await assert.rejects(resumeJob(engine, b), /no checkpoint to resume in .*stopped before its first checkpoint/);
    assert.deepEqual(readdirSync(b).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');

    // 3. Killed while writing the step-16 checkpoint: the step-12 one stays readable and is resumed.
    // Run again until it has written checkpoints, then kill during a later write.
    const c = join(root, 'killed-writing-later');
    const r3 = await runChild([c, 'fresh'], (l) => l === 'step 13');
    assert.ok(r3.killed);
    const before = await loadCheckpoint(c);
    assert.equal(before.ckpt.train.step, 12);
    const r4 = await runChild([c, 'resume'], (l) => l.startsWith('visionmix-fault: paused'), {
      VISIONMIX_FAULT_PAUSE_WRITE: join('killed-writing-later', 'checkpoint.safetensors'),
    });
    assert.ok(r4.killed, 'killed mid-write');
    assert.match(r4.out, /step 16/, 'the paused write is the step-16 checkpoint');
    const after = await loadCheckpoint(c);
    assert.equal(after.ckpt.train.step, 12, 'the step-12 checkpoint is intact');
    await runChild([c, 'resume'], null);
    assert.deepEqual([...stepLosses(c)], [...want], 'resumed losses equal the uninterrupted run');
    assert.deepEqual(readdirSync(c).filter((f) => f.endsWith('.tmp')), [], 'the resume removed the killed write\'s temp file');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
