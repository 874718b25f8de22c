/**
 * Tasks chosen by name (`--task`): token labelling trains from the CLI on a GLNet with a
 * token-labelling head and is evaluated through its objective (accuracy and both losses); a model
 * without such a head is refused before a run folder exists; `train --task fcmae` is the path of
 * `visionmix pretrain` (the same losses).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor.js';
import { readFashionMnistLabels } from '../fixtures/small_data.js';
import { STACK_FRAME, runCli } from '../helpers.js';
import { writeSmallFashionMnist } from '../fixtures/small_data.js';
import { TINY_STL } from '../models/glnet_configs.js';

const root = mkdtempSync(join(tmpdir(), 'vm-tasks-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const data = await writeSmallFashionMnist(join(root, 'fm'), { train: 64, test: 32 });
const { family: _f, num_classes: _n, ...tklbConfig } = { ...TINY_STL, tklb: true };
const COMMON = ['--data', data, '--epochs', '1', '--batch', '16', '--size', '32', '--threads', '1', '--warmup-epochs', '0'];

test('train --task token-labelling: both heads trained, evaluated through the objective', () => {
  const out = join(root, 'tklb');
  const r = runCli(['train', '--model', 'glnet', '--config', JSON.stringify(tklbConfig), '--task', 'token-labelling', ...COMMON, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).task, 'token-labelling');
  const records = MetricsLog.read(join(out, 'metrics.jsonl'));
  const steps = records.filter((x) => x.loss !== undefined && x.test_loss === undefined);
  assert.equal(steps.length, 4);
  assert.ok(steps.every((x) => typeof x.cls_loss === 'number' && typeof x.dense_loss === 'number'), 'the objective reports its parts per step');
  const epoch = records.find((x) => x.test_loss !== undefined)!;
  for (const k of ['test_acc', 'test_cls_loss', 'test_dense_loss', 'train_acc', 'train_cls_loss'])
    assert.equal(typeof epoch[k], 'number', `${k} in the epoch record`);
  // Without smoothing the evaluation loss is cls CE + ½ · dense CE.
  assert.ok(Math.abs((epoch.test_loss as number) - ((epoch.test_cls_loss as number) + 0.5 * (epoch.test_dense_loss as number))) < 1e-4);
});

test('train --task token-labelling --token-labels: each token takes its cell of the label maps (a tiny generated set)', async () => {
  // 7×7 maps per training image: the left half says the image's class, the right half the next class.
  const labels = await readFashionMnistLabels(data, 64);
  const maps = new Int32Array(64 * 49);
  labels.forEach((c, i) => {
    for (let y = 0; y < 7; y++) for (let x = 0; x < 7; x++) maps[i * 49 + y * 7 + x] = x < 3 ? c : (c + 1) % 10;
  });
  const file = join(root, 'token_labels.safetensors');
  await writeSafetensors(file, new Map([['token_labels', new Tensor(maps, [64, 7, 7], 'int32')]]));
  const run = (out: string, extra: string[]) => runCli(['train', '--model', 'glnet', '--config', JSON.stringify(tklbConfig), '--task', 'token-labelling', ...COMMON, ...extra, '--out', out]);
  const withMaps = run(join(root, 'maps'), ['--token-labels', file]);
  assert.equal(withMaps.status, 0, withMaps.stderr);
  assert.equal(JSON.parse(readFileSync(join(root, 'maps', 'run.json'), 'utf8')).tokenLabels, file);
  const plain = MetricsLog.read(join(root, 'tklb', 'metrics.jsonl')).filter((x) => x.dense_loss !== undefined);
  const mapped = MetricsLog.read(join(root, 'maps', 'metrics.jsonl')).filter((x) => x.dense_loss !== undefined);
  assert.equal(mapped[0]!.cls_loss, plain[0]!.cls_loss, 'the same first batch and class loss');
  assert.notEqual(mapped[0]!.dense_loss, plain[0]!.dense_loss, 'the token targets come from the maps');
  // A map file for another data set is refused, naming the file.
  const wrong = join(root, 'wrong.safetensors');
  await writeSafetensors(wrong, new Map([['token_labels', new Tensor(new Int32Array(10 * 4), [10, 2, 2], 'int32')]]));
  const bad = run(join(root, 'wrong-run'), ['--token-labels', wrong]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /wrong\.safetensors: token_labels has maps for 10 images, but the training set has 64/);
  assert.equal(existsSync(join(root, 'wrong-run')), false);
  const noTask = runCli(['train', '--model', 'glnet', '--config', JSON.stringify(tklbConfig), '--token-labels', file, ...COMMON, '--out', join(root, 'x')]);
  assert.match(noTask.stderr, /--token-labels needs --task token-labelling/);
});

test('train --task token-labelling on a model without a token-labelling head: refused before the folder is made', () => {
  const out = join(root, 'plain');
  const { tklb: _t, ...plain } = tklbConfig;
  const r = runCli(['train', '--model', 'glnet', '--config', JSON.stringify(plain), '--task', 'token-labelling', ...COMMON, '--out', out]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /--task token-labelling needs a model with a token-labelling head/);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
  assert.equal(existsSync(out), false);
});

test('train --task fcmae is visionmix pretrain: the same run, the same losses', () => {
  const config = '{"depths":[1,1,1,1],"dims":[8,16,32,64],"stem_stride":2}';
  const viaTrain = join(root, 'via-train');
  const viaPretrain = join(root, 'via-pretrain');
  const a = runCli(['train', '--model', 'convnextv2', '--config', config, '--task', 'fcmae', ...COMMON, '--out', viaTrain]);
  assert.equal(a.status, 0, a.stderr);
  const b = runCli(['pretrain', '--model', 'convnextv2', '--config', config, '--patch-size', '16', ...COMMON, '--out', viaPretrain]);
  assert.equal(b.status, 0, b.stderr);
  const losses = (dir: string) => MetricsLog.read(join(dir, 'metrics.jsonl')).map((x) => x.loss ?? x.test_loss);
  assert.deepEqual(losses(viaTrain), losses(viaPretrain));
  assert.ok(existsSync(join(viaTrain, 'encoder.safetensors')));
  assert.equal(JSON.parse(readFileSync(join(viaTrain, 'run.json'), 'utf8')).task, 'fcmae');
});
