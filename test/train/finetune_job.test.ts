/**
 * finetuneJob (visionmix/train): `visionmix finetune` from code — a recipe's values under the settings
 * given (lr scaled to the batch), the weights resolved as --weights resolves them (a finished run
 * folder brings its own network), and the option mistakes the command refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, createModel, writeSafetensors } from '../../src/index.js';
import { finetuneJob, recipePreset, scaledLr } from '../../src/train_entry.js';
import { repoRoot } from '../helpers.js';

const TINY = { depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], patch_size: 1 };
const root = mkdtempSync(join(tmpdir(), 'vm-ftjob-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, any>;

test('finetuneJob: a recipe under the settings given; a run folder as weights brings its network', async () => {
  const data = join(root, 'fm');
  execFileSync(process.execPath, [join(repoRoot, 'dist', 'scripts', 'fashion_mnist_to_folders.js'), '--out', data, '--src', 'bundled', '--classes', '0-2', '--limit', '8']);
  const weights = join(root, 'pretrained.safetensors');
  await writeSafetensors(weights, createModel({ family: 'convnextv2', ...TINY, num_classes: 7 }).stateDict());
  const train = { epochs: 1, batchSize: 8, inputSize: 32, warmupEpochs: 0.5 };

  const a = join(root, 'a');
  await finetuneJob({ model: { family: 'convnextv2', ...TINY }, weights, data, out: a, recipe: 'convnextv2-ft', train });
  const r = recipePreset('convnextv2-ft');
  const rc = runJson(a);
  assert.equal(rc.train.batchSize, 8, 'given settings win');
  assert.equal(rc.train.warmupEpochs, 0.5);
  assert.equal(rc.train.lr, scaledLr(r, 8), "the recipe's lr, scaled to the batch");
  assert.deepEqual(rc.train.layerDecay, r.layerDecay);
  assert.equal(rc.train.emaDecay, r.emaDecay);
  assert.equal(rc.folder.augment.autoAugment, r.augment.autoAugment);
  assert.deepEqual(rc.folder.mixup, r.mixup);
  assert.equal(rc.init.weights, weights);

  // A finished run folder as the weights: its network and its final weights, no model given.
  const b = join(root, 'b');
  await finetuneJob({ weights: a, data, out: b, train });
  const rb = runJson(b);
  assert.equal(rb.model.family, 'convnextv2');
  assert.deepEqual(rb.model.dims, TINY.dims);
  assert.equal(rb.init.weights, join(a, 'model.safetensors'));

  await assert.rejects(finetuneJob({ data, out: join(root, 'c') }), (e: unknown) => e instanceof ConfigError && /model is required/.test(e.message));
  await assert.rejects(finetuneJob({ model: 'convnextv2_atto', weights, pretrained: true, data, out: join(root, 'd') }), (e: unknown) => e instanceof ConfigError && /not both/.test(e.message));
});
