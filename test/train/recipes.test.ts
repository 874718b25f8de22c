/**
 * Recipe presets: the papers' values as the specs give them, overrides merged key by key, and
 * typed errors for an unknown preset, an unknown option or a value the pieces would refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { RECIPES, recipePreset, recipeTransform, scaledLr } from '../../src/train/recipes.js';

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
