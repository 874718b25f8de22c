/**
 * `visionmix pretrain`: FCMAE pretraining end to end from the CLI — progress, the run folder with
 * reconstructions after each epoch and the encoder to fine-tune from, refusals that protect the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createModel, readSafetensors } from '../../src/index.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { resolveInitWeights } from '../../src/tasks/finetune.js';
import { STACK_FRAME, runCli } from '../helpers.js';

const CONFIG = '{"depths":[1,1,1,1],"dims":[8,16,32,64],"patch_size":1}';

test('pretrain: one epoch from the CLI writes metrics, reconstructions and encoder.safetensors; eval refuses it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'vm-pretrain-'));
  const out = join(root, 'fcmae');
  try {
    const r = runCli(
      ['pretrain', '--model', 'convnextv2', '--config', CONFIG, '--patch-size', '8', '--decoder-dim', '16', '--data', 'fashion-mnist:bundled', '--epochs', '1', '--batch', '200', '--out', out],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /finished 30 steps: test loss \d+\.\d+/);
    assert.match(r.stderr, /train ep 1\/1 .*loss/);
    const epochs = MetricsLog.read(join(out, 'metrics.jsonl')).filter((x) => x.test_loss !== undefined);
    assert.equal(epochs.length, 1);
    assert.equal(epochs[0]!.test_acc, undefined, 'no accuracy for a reconstruction task');
    assert.ok(Number(epochs[0]!.test_loss) > 0 && Number(epochs[0]!.test_loss) < 2);
    // The reconstructions: a header naming the columns (7-pixel text between 4-pixel gaps), then
    // 8 rows of 4 tiles, each 32×32 enlarged ×3.
    const png = join(out, 'reconstructions_epoch001.png');
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height], [4 * 96 + 5 * 4, 15 + 8 * 96 + 9 * 4]);
    const { data: px, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const inked = (x0: number, x1: number, y0: number, y1: number) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (px[(y * info.width + x) * info.channels]! < 128) n++;
      return n;
    };
    for (let col = 0; col < 4; col++) assert.ok(inked(4 + col * 100, 4 + col * 100 + 96, 4, 11) > 20, `header text over column ${col}`);
    // The encoder under a classifier's names: fine-tuning loads it, only the head is new.
    const enc = await readSafetensors(join(out, 'encoder.safetensors'));
    assert.ok(enc.has('stem.0.weight') && ![...enc.keys()].some((k) => k.startsWith('encoder.') || k.includes('decoder') || k === 'mask_token'));
    const clf = createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], patch_size: 1, in_chans: 1, num_classes: 10 });
    const { missing, unexpected } = await clf.loadWeights(join(out, 'encoder.safetensors'), { strict: false });
    assert.deepEqual(unexpected, []);
    assert.deepEqual(missing.sort(), ['head.fc.bias', 'head.fc.weight', 'head.norm.bias', 'head.norm.weight']);
    // `finetune --weights RUN` starts from that encoder, not from the whole autoencoder in model.safetensors.
    assert.ok(existsSync(join(out, 'model.safetensors')));
    assert.equal(resolveInitWeights('convnextv2', { weights: out }), join(out, 'encoder.safetensors'));

    const ev = runCli(['eval', '--run', out]);
    assert.equal(ev.status, 1);
    assert.match(ev.stderr, /is an FCMAE pretraining run, not a classifier: fine-tune its encoder/);
    assert.doesNotMatch(ev.stderr, STACK_FRAME);
    const again = runCli(['pretrain', '--resume', out, '--mask-ratio', '0.5']);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /--mask-ratio cannot be used with --resume/);
    assert.ok(existsSync(join(out, 'compiles.jsonl')));
    assert.match(readFileSync(join(out, 'run.json'), 'utf8'), /"mask_ratio": 0\.6/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pretrain: bad FCMAE options are usage errors naming the option, before a folder is created', () => {
  const root = mkdtempSync(join(tmpdir(), 'vm-pretrain-bad-'));
  try {
    const r = runCli(['pretrain', '--model', 'convnextv2', '--config', CONFIG, '--patch-size', '16', '--data', 'fashion-mnist:bundled', '--out', join(root, 'x')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /patch_size must equal the encoder's total stride, 8/);
    assert.ok(!existsSync(join(root, 'x')));
    const noGrn = runCli(['pretrain', '--model', 'convnext', '--config', CONFIG, '--patch-size', '8', '--data', 'fashion-mnist:bundled', '--out', join(root, 'y')]);
    assert.match(noGrn.stderr, /encoder has no GRN.*require_grn/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
