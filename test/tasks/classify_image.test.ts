/**
 * classify(model, image, { topk }) — the pipeline shared by both entries — and the web runtime's
 * thread rule (runtime/web.ts), which needs no browser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classify, ConfigError, createModel, loadImage, NumericalError, Tensor } from '../../src/index.js';
import { imagenetLabels } from '../../src/data/imagenet_labels.js';
import { chooseThreads } from '../../src/runtime/web.js';
import { topK } from '../../src/tasks/classify_image.js';
import { repoRoot } from '../helpers.js';

const SAMPLE = join(repoRoot, 'assets', 'samples', 'fmnist_test_0_ankle_boot.png');
const TRANSFORM = { inputSize: [3, 32, 32] as [number, number, number], cropPct: 1, interpolation: 'bilinear' as const, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.5, 0.5, 0.5] as [number, number, number] };

/** A tiny model whose head bias makes `winner` the top class by far. */
async function tiny(numClasses: number, winner: number) {
  const m = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 8, 8, 8], num_classes: numClasses });
  const sd = m.stateDict();
  const [key, bias] = Object.entries(sd).find(([k, t]) => k.startsWith('head') && k.endsWith('bias') && t.shape[0] === numClasses)!;
  const b = Float32Array.from(bias.data as Float32Array);
  b[winner] = 30;
  await m.loadWeights({ ...sd, [key]: new Tensor(b, [numClasses], 'float32') });
  return m.eval();
}

test('classify: a path, bytes, pixels or a tensor → top k with ImageNet labels, best first', async () => {
  const m = await tiny(1000, 207);
  const img = await loadImage(SAMPLE);
  const x = await (await import('../../src/index.js')).createTransform(TRANSFORM)(img);
  for (const input of [SAMPLE, new Uint8Array(readFileSync(SAMPLE)), img, x]) {
    const top = await classify(m, input, { topk: 3, transform: TRANSFORM });
    assert.equal(top.length, 3);
    assert.deepEqual(top[0]!.label, imagenetLabels()[207]);
    assert.equal(top[0]!.index, 207);
    assert.ok(top[0]!.score > 0.99 && top[0]!.score >= top[1]!.score && top[1]!.score >= top[2]!.score);
  }
  assert.equal((await classify(m, img, { transform: TRANSFORM })).length, 5, 'topk defaults to 5');
});

test('classify: a run’s labels; errors name the option', async () => {
  const m = await tiny(3, 1);
  const top = await classify(m, await loadImage(SAMPLE), { transform: TRANSFORM, labels: ['cat', 'dog', 'bird'], topk: 10 });
  assert.deepEqual(top.map((t) => t.label).slice(0, 1), ['dog']);
  assert.equal(top.length, 3, 'topk is capped at the class count');
  assert.equal((await classify(m, await loadImage(SAMPLE), { transform: TRANSFORM }))[0]!.label, 'class 1');
  await assert.rejects(classify(m, await loadImage(SAMPLE), { transform: TRANSFORM, labels: ['a'] }), (e: Error) => e instanceof ConfigError && /labels must be 3 strings/.test(e.message));
  await assert.rejects(classify(m, await loadImage(SAMPLE), { transform: TRANSFORM, topk: 0 }), (e: Error) => e instanceof ConfigError && /topk/.test(e.message));
  await assert.rejects(classify(m, await loadImage(SAMPLE)), (e: Error) => e instanceof ConfigError && /no pretrained config.*transform/.test(e.message));
  await assert.rejects(classify(m, new Tensor(new Float32Array(2 * 3 * 32 * 32), [2, 3, 32, 32], 'float32')), (e: Error) => e instanceof ConfigError && /one image/.test(e.message));
});

test('topK: softmax order with ties by index; non-finite logits are a NumericalError', () => {
  const r = topK([1, 3, 3, 0], 3, null);
  assert.deepEqual(r.map((c) => c.index), [1, 2, 0]);
  assert.ok(Math.abs(topK([1, 3, 3, 0], 4, null).reduce((s, c) => s + c.score, 0) - 1) < 1e-12, 'probabilities sum to 1');
  assert.equal(r[0]!.label, 'class 1');
  assert.throws(() => topK([1, NaN], 1, null), NumericalError);
});

test('web runtime threads: one unless cross-origin isolated (said why), else the request or up to 4 cores', () => {
  assert.equal(chooseThreads(undefined, false, 8).threads, 1);
  assert.match(chooseThreads(4, false, 8).note, /not cross-origin isolated \(numThreads 4 asked for\).*Cross-Origin-Opener-Policy/);
  assert.equal(chooseThreads(undefined, true, 8).threads, 4);
  assert.equal(chooseThreads(undefined, true, 2).threads, 2);
  assert.equal(chooseThreads(3, true, 2).threads, 3);
  assert.throws(() => chooseThreads(0, true, 2), /numThreads must be an integer ≥ 1/);
});
