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
