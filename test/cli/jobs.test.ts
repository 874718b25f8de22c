/**
 * The main job end to end through the binary: `visionmix demo` (one epoch, cut to 15 steps with
 * `--steps`: the whole chain in a fraction of the 94-step epoch's time), then `eval --run` and
 * `predict --run` on the folder it wrote, and `train --resume` refusing a folder without a checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers.js';

const BIN = join(repoRoot, 'bin', 'visionmix.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw r.error;
  return r;
}

test('demo → eval → predict on the bundled data', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-demo-'));
  const out = join(dir, 'demo');
  try {
    const demo = cli('demo', '--epochs', '1', '--steps', '15', '--out', out);
    assert.equal(demo.status, 0, demo.stderr);
    assert.match(demo.stdout, /Test accuracy \d+\.\d+% on 1000 held-out images/);
    assert.match(demo.stderr, /train ep 1\/1 \[.* 15\/15 step/, 'a progress bar; the epoch is 15 steps');
    for (const f of ['report.md', 'curves.svg', 'metrics.jsonl', 'model.safetensors', 'checkpoint.safetensors', 'run.json'])
      assert.ok(existsSync(join(out, f)), `${f} written`);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(report, /\*\*Final test accuracy: \d+\.\d+%\*\*/);
    assert.match(report, /\(960 train \/ 1000 test images\)/);
    assert.match(report, /Training: 15 AdamW steps/);
    assert.equal((report.match(/\| fmnist_test_\d+_\w+\.png \|/g) ?? []).length, 8, 'eight sample predictions');
    assert.match(readFileSync(join(out, 'curves.svg'), 'utf8'), /^<svg[\s\S]*<\/svg>\s*$/);
    const acc = Number(/Test accuracy (\d+\.\d+)%/.exec(demo.stdout)![1]);
    t.diagnostic(`one 15-step demo epoch: ${acc}%`);
    assert.ok(acc > 30, '15 steps learn far beyond chance (10%)');

    const ev = cli('eval', '--run', out, '--json');
    assert.equal(ev.status, 0, ev.stderr);
    const r = JSON.parse(ev.stdout) as { accuracy: number; count: number };
    assert.equal(r.count, 1000);
    assert.ok(Math.abs(r.accuracy * 100 - acc) < 0.051, `eval ${r.accuracy} agrees with the demo's ${acc}%`);

    const pr = cli('predict', '--run', out, '--json', join(repoRoot, 'assets', 'samples', 'fmnist_test_2_trouser.png'));
    assert.equal(pr.status, 0, pr.stderr);
    const [p] = JSON.parse(pr.stdout) as { top: { label: string; prob: number }[] }[];
    assert.equal(p!.top.length, 5, "top-5 by default");
    assert.ok(p!.top[0]!.prob >= p!.top[1]!.prob);

    const again = cli('train', '--model', 'convnextv2_atto', '--data', 'fashion-mnist:bundled', '--out', out);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already holds a training run; continue it with --resume/);
    const noCkpt = cli('train', '--resume', join(dir, 'nothing-here'));
    assert.equal(noCkpt.status, 1);
    assert.match(noCkpt.stderr, /no checkpoint to resume in/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
