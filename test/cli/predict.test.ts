/**
 * `visionmix predict` (issue 8.10): images go through the model --batch at a time and results are
 * yielded batch by batch; an unreadable image is reported and the others are still classified
 * (exit 1 at the end). Also: the CLI leaves no /tmp/mat-debug-<pid>.log (ONNX Runtime telemetry).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { DataError } from '../../src/errors.js';
import type { VisionModel } from '../../src/models/base.js';
import { classifyBatches, type Classifier } from '../../src/tasks/classify.js';
import { trainJob } from '../../src/tasks/train.js';
import { Tensor } from '../../src/tensor.js';
import { repoRoot, runCli, STACK_FRAME } from '../helpers.js';
import { TINY_RUN_JOB } from '../fixtures/train_job.js';

const engine = defaultEngine();

const root = mkdtempSync(join(tmpdir(), 'visionmix-predict-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
const samplesDir = join(repoRoot, 'assets', 'samples');
const samples = readdirSync(samplesDir).filter((f) => f.endsWith('.png')).sort().map((f) => join(samplesDir, f));

test('classifyBatches runs at most --batch images at once and yields each batch before reading the next', async () => {
  const events: string[] = [];
  const clf: Classifier = {
    model: {
      async run(x: Tensor) {
        events.push(`run ${x.shape[0]}`);
        const n = x.shape[0]!;
        return { logits: new Tensor(new Float32Array(n * 2).map((_, i) => i % 2), [n, 2], 'float32'), features: [] };
      },
    } as unknown as VisionModel,
    classes: ['a', 'b'],
    inputShape: [1, 2, 2],
    weights: 'fake',
    async load(path) {
      events.push(`load ${path}`);
      if (path === 'bad') throw new DataError('cannot decode image bad');
      return new Float32Array(4);
    },
  };
  const paths = ['p0', 'p1', 'bad', 'p3', 'p4', 'p5', 'p6'];
  for await (const r of classifyBatches(clf, paths, { batch: 3, topk: 1 })) events.push(`yield ${r.path}${'error' in r ? ' error' : ''}`);
  assert.deepEqual(events, [
    'load p0', 'load p1', 'load bad', 'run 2', 'yield p0', 'yield p1', 'yield bad error',
    'load p3', 'load p4', 'load p5', 'run 3', 'yield p3', 'yield p4', 'yield p5',
    'load p6', 'run 1', 'yield p6',
  ]);
});

test('predict --batch classifies every readable image, reports the unreadable ones, exits 1; no mat-debug log', async () => {
  const dir = join(root, 'run');
  await trainJob(engine, { ...TINY_RUN_JOB, out: dir });
  const notAnImage = join(root, 'notes.png');
  writeFileSync(notAnImage, 'this is text, not a PNG');
  const missing = join(root, 'missing.png');
  const inputs = [...samples.slice(0, 3), notAnImage, ...samples.slice(3), missing, samples[0]!];

  // Telemetry must be off because the CLI turns it off, not because this test runner does.
  const r = runCli(['predict', '--run', dir, '--batch', '3', '--json', ...inputs], { env: { ORT_DISABLE_TELEMETRY: undefined } });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(existsSync(`/tmp/mat-debug-${r.pid}.log`), false, 'no /tmp/mat-debug-<pid>.log left behind');
  const out = JSON.parse(r.stdout) as ({ path: string; top: { label: string; prob: number }[] } | { path: string; error: string })[];
  assert.deepEqual(out.map((p) => p.path), inputs, 'every input, in order');
  for (const p of out) {
    if (p.path === notAnImage) assert.match((p as { error: string }).error, /cannot decode image .*notes\.png/);
    else if (p.path === missing) assert.match((p as { error: string }).error, /image not found: .*missing\.png/);
    else assert.equal((p as { top: unknown[] }).top.length, 5, 'top-5 by default');
  }
  assert.match(r.stderr, /^error: cannot decode image .*notes\.png/m);
  assert.match(r.stderr, /^error: image not found: .*missing\.png/m);
  assert.match(r.stderr, new RegExp(`^2 of ${inputs.length} images could not be classified$`, 'm'));
  assert.doesNotMatch(r.stderr, STACK_FRAME);

  const plain = runCli(['predict', '--run', dir, ...samples.slice(0, 2)]);
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal((plain.stdout.match(/^\s+\d+\.\d%\s+\S/gm) ?? []).length, 10, 'top-5 for each of the two images');
});
