/**
 * README.md's "Train from code" example is examples/finetune.mjs verbatim, and it runs as written
 * against the package's `visionmix/train` export: fine-tuning "pretrained" weights from a local file
 * on the bundled Fashion-MNIST as PNG class folders, with progress events, checkpoints, and a
 * Ctrl-C + rerun that resumes exactly (same losses and final weights as an uninterrupted run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, readSafetensors, writeSafetensors } from '../../src/index.js';
import { repoRoot } from '../helpers.js';

const example = join(repoRoot, 'examples', 'finetune.mjs');
const root = mkdtempSync(join(tmpdir(), 'vm-readme-example-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

test("README's library example is examples/finetune.mjs, verbatim", () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const block = /<!-- examples\/finetune\.mjs -->\n```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README.md has the example under <!-- examples/finetune.mjs -->');
  assert.equal(block[1], readFileSync(example, 'utf8'));
});

/** Run the example; with `interruptAfter`, send SIGINT once it has printed that many step lines. */
function runExample(args: string[], interruptAfter?: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [example, ...args], { cwd: root, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (interruptAfter !== undefined && !sent && (out.match(/^step \d+/gm) ?? []).length >= interruptAfter) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

const stepLosses = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>)
    .filter((r) => r.step !== undefined && r.loss !== undefined)
    .map((r) => [r.step, r.loss]);

test('the example fine-tunes from a local weights file with progress and checkpoints, and resumes exactly after Ctrl-C', async () => {
  // Three Fashion-MNIST classes, 16 images each per split, as PNG class folders.
  const data = join(root, 'fm');
  execFileSync(process.execPath, [join(repoRoot, 'dist', 'scripts', 'fashion_mnist_to_folders.js'), '--out', data, '--src', 'bundled', '--classes', '0-2', '--limit', '16']);
  // "Pretrained" weights from a local file (no network): a convnextv2_atto with another head.
  const weights = join(root, 'pretrained.safetensors');
  await writeSafetensors(weights, createModel('convnextv2_atto', { num_classes: 7, seed: 3 }).stateDict());

  const straight = await runExample([data, join(root, 'a'), weights, '32']);
  assert.equal(straight.code, 0, straight.err);
  assert.match(straight.out, /^step 1: loss \d/m);
  assert.match(straight.out, /^epoch 2: val acc [\d.]+, EMA [\d.]+$/m);
  assert.match(straight.out, /finished 6 steps, val accuracy [\d.]+/);

  const b = join(root, 'b');
  const stopped = await runExample([data, b, weights, '32'], 2);
  assert.notEqual(stopped.code, 0, 'Ctrl-C stops the run');
  assert.match(stopped.err, /InterruptedError|interrupted/i);
  const resumed = await runExample([data, b, weights, '32']);
  assert.equal(resumed.code, 0, resumed.err);
  assert.match(resumed.out, /finished 6 steps/);
  assert.deepEqual(stepLosses(b), stepLosses(join(root, 'a')), 'the same losses, step by step');
  const [wa, wb] = [await readSafetensors(join(root, 'a', 'model.safetensors')), await readSafetensors(join(b, 'model.safetensors'))];
  assert.ok(wa.size > 0);
  for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.data, t.data, k);
});
