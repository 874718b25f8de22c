/** The documents training reads back are parsed by schemas: a bad field is a DataError naming it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../../src/errors.js';
import { parseCheckpointMeta, parseTrainConfig } from '../../src/train/schemas.js';
import { DEFAULT_TRAIN_CONFIG } from '../../src/train/trainer.js';

const META = {
  format: 'visionmix-checkpoint/1',
  epoch: 2,
  sampler: { epoch: 2, position: 64 },
  rng: { s: [1, 2, 3, 4], spare: null },
  metricsCount: 10,
  bestTestAcc: 0.5,
  elapsed: 12.5,
  epochSums: { loss: 3, metrics: { acc: 1.5 }, seen: 64 },
};

test('checkpoint metadata: a good one parses; each kind of damage names its field', () => {
  assert.deepEqual(parseCheckpointMeta(META, 'ckpt'), META);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...META, format: 'other/2' }, /ckpt: 'format' Invalid type/],
    [{ ...META, epoch: -1 }, /ckpt: 'epoch' Invalid value/],
    [{ ...META, sampler: { epoch: 1 } }, /ckpt: 'sampler\.position' Invalid (type|key)/],
    [{ ...META, rng: { s: [1, 2, 3], spare: null } }, /ckpt: 'rng\.s' Invalid length/],
    [{ ...META, bestTestAcc: 1.5 }, /ckpt: 'bestTestAcc' Invalid value/],
    [{ ...META, epochSums: { loss: 1, seen: 'many' } }, /ckpt: 'epochSums\.seen' Invalid type/],
  ];
  for (const [meta, re] of bad) assert.throws(() => parseCheckpointMeta(meta, 'ckpt'), (e: unknown) => e instanceof DataError && re.test(e.message), JSON.stringify(meta));
});

test('training settings: the defaults parse; an unknown optimizer or a bad number names the field', () => {
  assert.deepEqual(parseTrainConfig(DEFAULT_TRAIN_CONFIG, 'run.json'), DEFAULT_TRAIN_CONFIG);
  assert.throws(() => parseTrainConfig({ ...DEFAULT_TRAIN_CONFIG, optimizer: { kind: 'lamb' } }, 'run.json'), /run\.json: 'optimizer\.kind' Invalid type/);
  assert.throws(() => parseTrainConfig({ ...DEFAULT_TRAIN_CONFIG, batchSize: 0 }, 'run.json'), /run\.json: 'batchSize' Invalid value/);
  assert.throws(() => parseTrainConfig({ ...DEFAULT_TRAIN_CONFIG, layerDecay: { decay: 0.8, mode: 'blocks' } }, 'run.json'), /'layerDecay\.mode' Invalid type/);
});
