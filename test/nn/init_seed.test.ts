/**
 * No hidden state: a model's random initialisation is fixed when it is built (its `seed`), not by a
 * global read when a parameter is first touched; the library and the CLI share one lazily made engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, defaultEngine, type Tensor } from '../../src/index.js';
import { nodeEngine } from '../../src/cli/engine.js';

const CONFIG = { family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 } as const;

const weights = (sd: Record<string, Tensor>) => Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));

test('init seed: captured at construction — building another model with another seed before reading changes nothing', () => {
  const a = createModel(CONFIG, { seed: 1 });
  const b = createModel(CONFIG, { seed: 2 }); // built before a's lazily initialised weights are read
  const aWeights = weights(a.stateDict());
  const bWeights = weights(b.stateDict());
  assert.deepEqual(aWeights, weights(createModel(CONFIG, { seed: 1 }).stateDict()), 'seed 1 twice gives the same weights');
  assert.notDeepEqual(aWeights['stages.0.blocks.0.conv_dw.weight'], bWeights['stages.0.blocks.0.conv_dw.weight'], 'seeds 1 and 2 differ');
  assert.deepEqual(weights(createModel(CONFIG).stateDict()), weights(createModel(CONFIG, { seed: 0 }).stateDict()), 'the default seed is 0');
});

test('init seed: a classifier reset later draws from the model\'s own seed', () => {
  const a = createModel(CONFIG, { seed: 3 }).resetClassifier(7);
  createModel(CONFIG, { seed: 4 }).resetClassifier(7);
  const again = createModel(CONFIG, { seed: 3 }).resetClassifier(7);
  assert.deepEqual(Array.from(a.stateDict()['head.fc.weight']!.data as Float32Array), Array.from(again.stateDict()['head.fc.weight']!.data as Float32Array));
});

test('init seed: a bad seed is a ConfigError', () => {
  assert.throws(() => createModel(CONFIG, { seed: 1.5 }), { name: 'ConfigError', message: /seed must be an integer/ });
});

test('engine: the library entry and the CLI share one engine', () => {
  assert.equal(defaultEngine(), nodeEngine());
  assert.equal(createModel(CONFIG).backend, defaultEngine());
});
