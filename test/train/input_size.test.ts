/**
 * `--size` is checked against the model before a run folder is created (issue 8.8): too small,
 * not a multiple of the model's stride, or needing more memory than the machine has → a ConfigError
 * naming --size, and nothing on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { ConfigError } from '../../src/errors.js';
import { createModel } from '../../src/models/registry.js';
import { inputSizeRule } from '../../src/tasks/input_size.js';
import { trainJob, type TrainJobOptions } from '../../src/tasks/train.js';
import { runCli, STACK_FRAME } from '../helpers.js';

const engine = defaultEngine();

const root = mkdtempSync(join(tmpdir(), 'visionmix-size-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** Patch-4 stem and three 2× downsamplings: stride 32. */
const STRIDE_32 = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64] };
const job = (out: string, size: number, model: TrainJobOptions['model'] = STRIDE_32): TrainJobOptions => ({
  model,
  data: 'fashion-mnist:bundled',
  out,
  threads: 1,
  train: { epochs: 1, batchSize: 300, inputSize: size },
});

async function refused(size: number, re: RegExp): Promise<void> {
  const out = join(root, `size-${size}`);
  await assert.rejects(trainJob(engine, job(out, size)), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, re);
    return true;
  });
  assert.equal(existsSync(out), false, `no run folder for --size ${size}`);
}

test("8.8: the model's stride is read from the model", () => {
  assert.equal(inputSizeRule(createModel(STRIDE_32, { num_classes: 10, in_chans: 1 })).multipleOf, 32);
  assert.equal(inputSizeRule(createModel({ ...STRIDE_32, stem_stride: 2 }, { num_classes: 10, in_chans: 1 })).multipleOf, 16);
  assert.equal(inputSizeRule(createModel('convnext_tiny')).multipleOf, 32);
});

test('8.8: too small or not a multiple of the stride → ConfigError naming --size, before the folder exists', async () => {
  await refused(16, /^--size 16 is smaller than the 28×28 images of the data set .*use --size 32 or more/);
  await refused(48, /^--size 48 does not fit convnextv2: its stem and downsampling layers reduce the input 32×, so the size must be a multiple of 32 \(e\.g\. --size 32 or 64\)/);
  // The same size is fine for a model with stride 16.
  const ok = await trainJob(engine, job(join(root, 'stride16'), 48, { ...STRIDE_32, stem_stride: 2 }), { stopAfterSteps: 1 });
  assert.equal(ok.steps, 1);
});

test('8.8: the CLI reports --size 16 as an error without a stack and writes nothing', () => {
  const out = join(root, 'cli-16');
  const r = runCli(['train', '--model', 'convnextv2', '--config', JSON.stringify(STRIDE_32), '--data', 'fashion-mnist:bundled', '--size', '16', '--out', out]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error: --size 16 is smaller than the 28×28 images/m);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
  assert.equal(existsSync(out), false);
});

test('8.8: a size far beyond memory is refused with an estimate, before the run folder exists (not after minutes of growing memory)', async () => {
  await refused(100_000, /^--size 100000 with --batch 300 would need about \d+ GiB for one training step of convnextv2 .*more than this machine's [\d.]+ GiB allow/);
});

test('a model built for one input size (CMT at img_size 32) trains at it, and another --size names img_size', async () => {
  const cmt = { family: 'cmt', img_size: 32, embed_dims: [16, 32, 64, 128], stem_channel: 8, fc_dim: 64, depths: [1, 1, 1, 1], sr_ratios: [2, 1, 1, 1] };
  assert.equal(inputSizeRule(createModel(cmt, { num_classes: 10, in_chans: 1 })).multipleOf, 32);
  const ok = await trainJob(engine, { ...job(join(root, 'cmt32'), 32, cmt), train: { epochs: 1, batchSize: 100, inputSize: 32 } }, { stopAfterSteps: 1 });
  assert.equal(ok.steps, 1);
  const out = join(root, 'cmt64');
  await assert.rejects(trainJob(engine, { ...job(out, 64, cmt), train: { epochs: 1, batchSize: 100, inputSize: 64 } }), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, /^--size 64 does not fit cmt: .*img_size/);
    return true;
  });
  assert.equal(existsSync(out), false);
});
