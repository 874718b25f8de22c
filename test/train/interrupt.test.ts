/**
 * Ctrl-C (SIGINT) or SIGTERM during `visionmix train` writes a checkpoint of the last finished step
 * before exiting (128 + signal), so even an interrupted first epoch resumes, and the resumed run
 * equals an uninterrupted one (issue 8.10).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/index.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { repoRoot, runCli } from '../helpers.js';

/** 60 steps in one epoch, and checkpoints only at the epoch end: without the signal handling an
 * interrupted run would have nothing to resume from. */
const ARGS = ['--model', 'convnextv2', '--config', '{"depths":[1,1,1,1],"dims":[8,16,32,64]}', '--data', 'fashion-mnist:bundled', '--epochs', '1', '--batch', '100', '--ckpt-every', '0', '--threads', '1', '--seed', '3'];

const records = (dir: string) => MetricsLog.read(join(dir, 'metrics.jsonl')).map(({ img_s: _a, elapsed_s: _b, ...r }) => r);
const stepCount = (dir: string) => MetricsLog.read(join(dir, 'metrics.jsonl')).length;

/** Start `visionmix train …args`, send `signal` once `afterSteps` steps are logged, resolve with its exit. */
function interrupt(args: string[], dir: string, afterSteps: number, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(repoRoot, 'bin', 'visionmix.js'), 'train', ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      if (stepCount(dir) >= afterSteps) {
        clearInterval(poll);
        p.kill(signal);
      }
    }, 20);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, stderr });
    });
  });
}

test('8.10: SIGINT and SIGTERM during training write a checkpoint first; resuming reproduces the uninterrupted run', async () => {
  const root = mkdtempSync(join(tmpdir(), 'visionmix-interrupt-'));
  try {
    const ref = join(root, 'ref');
    const full = runCli(['train', ...ARGS, '--out', ref]);
    assert.equal(full.status, 0, full.stderr);

    const dir = join(root, 'run');
    const first = await interrupt([...ARGS, '--out', dir], dir, 5, 'SIGINT');
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stderr, /SIGINT: finishing the current step and writing a checkpoint/);
    assert.match(first.stderr, new RegExp(`stopped: interrupted after step \\d+; a checkpoint of that step was written\\. Continue with: visionmix train --resume ${dir}`));
    const c1 = await loadCheckpoint(dir);
    assert.ok(c1.ckpt.train.step >= 5 && c1.ckpt.meta.epoch === 0, `a mid-epoch checkpoint (step ${c1.ckpt.train.step})`);
    assert.equal(existsSync(join(dir, '.visionmix.lock')), false, 'lock released');

    const second = await interrupt(['--resume', dir], dir, c1.ckpt.train.step + 5, 'SIGTERM');
    assert.equal(second.code, 143, second.stderr);
    const c2 = await loadCheckpoint(dir);
    assert.ok(c2.ckpt.train.step > c1.ckpt.train.step, 'progress saved again');

    const rest = runCli(['train', '--resume', dir]);
    assert.equal(rest.status, 0, rest.stderr);
    assert.deepEqual(records(dir), records(ref));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
