/**
 * The feature-collapse measure (ConvNeXt V2 §3.2): known answers of the formula, and the analysis over
 * checkpoints — random, a classifier trained for other classes, an FCMAE checkpoint's encoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanPairwiseCosineDistance } from '../../src/analysis/feature_distance.js';
import { Graph, toModelProto, withGraph } from '../../src/graph/index.js';
import { defaultEngine } from '../../src/index.js';
import { loadFashionMnist } from '../../src/io/fashion_mnist_files.js';
import { BUNDLED_FASHION_MNIST_DIR } from '../../src/io/fashion_mnist_files.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { featureDistances } from '../../src/tasks/feature_distance.js';
import { Tensor } from '../../src/tensor.js';

const engine = defaultEngine();

async function distance(channels: number[][]): Promise<number> {
  const c = channels.length;
  const hw = channels[0]!.length;
  const g = new Graph();
  withGraph(g, () => g.markOutput(meanPairwiseCosineDistance(g.input('x', [1, c, 1, hw])), 'd'));
  const s = await createNodeSession(toModelProto(g));
  const out = await s.run({ x: new Tensor(Float32Array.from(channels.flat()), [1, c, 1, hw], 'float32') });
  await s.release();
  return out.d!.toArray()[0]!;
}

test('feature distance: (1/C²) Σ_ij (1 − cos)/2 — identical channels 0, orthogonal pairs ½ off the diagonal, opposite ones 1 off it', async () => {
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  close(await distance([[1, 2, 3], [2, 4, 6], [0.5, 1, 1.5]]), 0); // all the same direction
  // Two orthogonal channels: the off-diagonal pairs have cos 0 → (0 + ½ + ½ + 0) / 4.
  close(await distance([[1, 0], [0, 1]]), 0.25);
  // Opposite channels: cos −1 off the diagonal → (0 + 1 + 1 + 0) / 4.
  close(await distance([[1, 2], [-1, -2]]), 0.5);
  // A dead (all-zero) channel has cosine 0 with every channel, itself included.
  close(await distance([[1, 1], [0, 0]]), (0 + 0.5 + 0.5 + 0.5) / 4);
});

test('feature distance over checkpoints: a classifier for other classes and an FCMAE checkpoint are measured on their backbone', async () => {
  const config = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], stem_stride: 2 } as const;
  const data = (await loadFashionMnist(BUNDLED_FASHION_MNIST_DIR)).test;
  const trained = engine.createModel(config, { in_chans: 1, num_classes: 5 });
  const sd = new Map(Object.entries(trained.stateDict()));
  const fcmaeStyle = new Map<string, Tensor>([...sd].filter(([k]) => !k.startsWith('head.')).map(([k, t]) => [`encoder.${k}`, t] as const));
  fcmaeStyle.set('mask_token', Tensor.zeros([1, 64, 1, 1]));
  const r = await featureDistances(engine, {
    model: config,
    overrides: { in_chans: 1 },
    checkpoints: [
      { label: 'five classes', weights: sd },
      { label: 'encoder', weights: fcmaeStyle },
      { label: 'random', weights: 'random' },
    ],
    data,
    images: 8,
    inputSize: 32,
  });
  assert.equal(r.layers, 4);
  assert.deepEqual(r.curves.map((c) => c.label), ['five classes', 'encoder', 'random']);
  for (const c of r.curves) for (const d of c.distances) assert.ok(d >= 0 && d <= 1, `${c.label}: ${d}`);
  // The same backbone, whichever head or wrapping: the same distances.
  assert.deepEqual(r.curves[0]!.distances, r.curves[1]!.distances);
});
