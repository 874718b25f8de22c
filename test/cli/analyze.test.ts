/**
 * `visionmix analyze slots` end to end (spawned like a user runs it): a PNG of the reported size for
 * a small random GLNet, block selection by number and by path, and typed errors without stacks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { repoRoot } from '../helpers.js';

const BIN = join(repoRoot, 'bin', 'visionmix.js');
const IMAGE = join(repoRoot, 'assets', 'samples', 'fmnist_test_0_ankle_boot.png');
const CONFIG = JSON.stringify({ depth: [1, 2, 1, 1], embed_dim: [16, 32, 48, 64], head_dim: 16, slot_init: 'ada_avgpool', num_slots: 16, num_classes: 10 });

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

test('analyze slots writes a PNG of the reported size, for the chosen blocks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-analyze-'));
  try {
    const out = join(dir, 'slots.png');
    const r = cli('analyze', 'slots', '--model', 'glnet', '--config', CONFIG, '--size', '64', '--blocks', '1,stages.1.blocks.1', IMAGE, '--out', out, '--json');
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout) as { width: number; height: number; blocks: { path: string; number: number; height: number; width: number; slots: number }[]; randomWeights: boolean };
    assert.deepEqual(res.blocks.map((b) => [b.path, b.number, b.height, b.width, b.slots]), [['stages.0.blocks.0', 1, 16, 16, 16], ['stages.1.blocks.1', 3, 8, 8, 16]]);
    assert.equal(res.randomWeights, true);
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', res.width, res.height]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('analyze: bad analysis, missing blocks and non-GLNet models are errors that say what is wrong', () => {
  const cases: [string[], RegExp][] = [
    [['analyze', 'slots', '--model', 'glnet', '--config', CONFIG, '--size', '64', '--blocks', '9', IMAGE, '--out', '/tmp/x.png'], /GLMix block 9 does not exist; this model has GLMix blocks 1 … 4/],
    [['analyze', 'slots', '--model', 'convnext_atto', IMAGE, '--out', '/tmp/x.png'], /has no slot-assignment maps/],
    [['analyze', 'slots', IMAGE, '--out', '/tmp/x.png'], /--run DIR .* or --model/],
  ];
  // An unknown analysis is a usage error (exit 2), found while parsing (test/cli/traps.test.ts).
  const unknown = cli('analyze', 'clusters', IMAGE, '--out', '/tmp/x.png');
  assert.equal(unknown.status, 2, unknown.stderr);
  assert.match(unknown.stderr, /unknown analysis 'clusters'/);
  for (const [args, re] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  }
  assert.equal(cli('analyze', 'slots', IMAGE).status, 2, '--out is required: a usage error');
});
