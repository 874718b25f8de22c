/**
 * Recipe presets: the papers' values as the specs give them, overrides merged key by key, and
 * typed errors for an unknown preset, an unknown option or a value the pieces would refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { IMAGENET_TRAIN_IMAGES, RECIPES, recipePreset, recipeTransform, scaleRecipeToRun, scaledLr } from '../../src/train/recipes.js';

test('presets carry the specs\' values', () => {
  const c = recipePreset('convnext');
  assert.equal(c.lr, 4e-3);
  assert.equal(c.batchSize, 4096);
  assert.equal(c.augment.autoAugment, 'rand-m9-mstd0.5-inc1');
  assert.equal(c.augment.reProb, 0.25);
  assert.deepEqual(c.mixup, { mixupAlpha: 0.8, cutmixAlpha: 1, prob: 1, switchProb: 0.5, mode: 'batch' });
  assert.equal(c.emaDecay, 0.9999);
  const ft = recipePreset('convnextv2-ft');
  assert.deepEqual(ft.layerDecay, { decay: 0.9, mode: 'single' });
  assert.equal(ft.warmupEpochs, 40);
  const m = recipePreset('mobilevit');
  assert.equal(m.mixup, null);
  assert.equal(m.augment.autoAugment, null);
  assert.equal(m.decayAll, true);
  assert.equal(m.optimizer.weightDecay, 0.01);
  assert.equal(m.warmupIterations, 3000);
  assert.equal(recipePreset('deit').minLr, 1e-5);
  assert.deepEqual(Object.keys(RECIPES).sort(), ['convnext', 'convnextv2-ft', 'deit', 'mobilevit']);
});

test('overrides merge key by key; the linear scaling rule; the transform for a model', () => {
  const r = recipePreset('convnext', { lr: 1e-3, augment: { reProb: 0 }, mixup: { cutmixAlpha: 0 }, layerDecay: { decay: 0.7, mode: 'group' } });
  assert.equal(r.lr, 1e-3);
  assert.equal(r.augment.reProb, 0);
  assert.equal(r.augment.autoAugment, 'rand-m9-mstd0.5-inc1');
  assert.equal(r.mixup!.cutmixAlpha, 0);
  assert.equal(r.mixup!.mixupAlpha, 0.8);
  assert.deepEqual(r.layerDecay, { decay: 0.7, mode: 'group' });
  assert.equal(recipePreset('convnext', { mixup: null }).mixup, null);
  assert.equal(RECIPES.convnext!.lr, 4e-3, 'presets are not modified');
  assert.equal(scaledLr(recipePreset('convnext'), 128), 4e-3 / 32);
  const tf = recipeTransform(r, [3, 224, 224], [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
  assert.deepEqual(tf.inputSize, [3, 224, 224]);
  assert.equal(tf.interpolation, 'bicubic');
});

test('unknown presets, unknown options and refused values are ConfigErrors naming them', () => {
  const bad: [() => unknown, RegExp][] = [
    [() => recipePreset('resnet'), /unknown recipe 'resnet' \(known: convnext, convnextv2-ft, deit, mobilevit\)/],
    [() => recipePreset('convnext', { lrr: 1 } as never), /unknown option `lrr`/],
    [() => recipePreset('convnext', { augment: { randAugment: 'x' } } as never), /unknown option `augment.randAugment`/],
    [() => recipePreset('convnext', { mixup: { alpha: 1 } } as never), /`mixup.alpha`/],
    [() => recipePreset('convnext', { augment: { autoAugment: 'rand-m99' } }), /m99 is out of range/],
    [() => recipePreset('convnext', { mixup: { mixupAlpha: -1 } }), /`mixupAlpha`/],
    [() => recipePreset('convnext', { mixup: { prob: 2 } }), /`prob` is a probability/],
    [() => recipePreset('convnext', { augment: { reProb: 1.5 } }), /reProb/],
    [() => recipePreset('convnext', { lr: 0 }), /`lr` must be a positive number/],
    [() => recipePreset('convnext', { labelSmoothing: 1 }), /`labelSmoothing`/],
    [() => recipePreset('convnext', { layerDecay: { decay: 1.2, mode: 'single' } }), /`layerDecay.decay`/],
    [() => recipePreset('convnext', { emaDecay: 1 }), /`emaDecay`/],
  ];
  for (const [f, re] of bad) assert.throws(f, (e: Error) => e instanceof ConfigError && re.test(e.message), String(re));
});

test('a shortened run scales warm-up and EMA to its length (issue 21.6); values the user set stay', () => {
  const r = recipePreset('convnextv2-ft'); // 300 epochs, 40 warm-up, EMA 0.9999 at batch 1024
  // 10 epochs of 30 steps: warm-up keeps its share (40/300 of the run), EMA its horizon share.
  const s = scaleRecipeToRun(r, { epochs: 10, stepsPerEpoch: 30 });
  assert.equal(s.warmupEpochs, 1.333);
  assert.ok(s.warmupEpochs < 10);
  const paperSteps = (300 * IMAGENET_TRAIN_IMAGES) / 1024;
  const horizon = ((1 / 1e-4) / paperSteps) * 300; // the share of the paper's steps, over this run's 300
  assert.equal(s.emaDecay, Number((1 - 1 / horizon).toFixed(6)));
  assert.ok(s.emaDecay > 0 && s.emaDecay < 0.9999);
  assert.match(s.changes.join('; '), /warm-up 1\.333 epochs \(recipe: 40 of 300\); EMA decay 0\.\d+ \(recipe: 0\.9999/);
  // What the user gave is kept.
  const kept = scaleRecipeToRun(r, { epochs: 10, stepsPerEpoch: 30, keepWarmup: true, keepEma: true });
  assert.deepEqual([kept.warmupEpochs, kept.emaDecay, kept.changes], [40, 0.9999, []]);
  // The paper's length (or longer, on more data): nothing changes; EMA is never raised.
  assert.deepEqual(scaleRecipeToRun(r, { epochs: 300, stepsPerEpoch: 2000 }).changes, []);
  // A run too short for any averaging turns EMA off rather than keeping a decay that never moves.
  assert.equal(scaleRecipeToRun(r, { epochs: 1, stepsPerEpoch: 2 }).emaDecay, 0);
  // MobileViT counts warm-up in iterations: 3000 of 300 × 1251 steps.
  const m = scaleRecipeToRun(recipePreset('mobilevit'), { epochs: 30, stepsPerEpoch: 100 });
  assert.equal(m.warmupSteps, Math.round((3000 / ((300 * IMAGENET_TRAIN_IMAGES) / 1024)) * 3000));
});
