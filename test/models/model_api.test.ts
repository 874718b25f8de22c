/** timm's model API where users expect it: forwardIntermediates, featureInfo, resetClassifier. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, Tensor, createModel } from '../../src/index.js';
import { liveSet } from '../../src/graph/emit.js';
import { traceModel } from '../../src/models/trace.js';

const tiny = () => createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 5, stem_stride: 2 });
const input = (n = 2) => new Tensor(Float32Array.from({ length: n * 3 * 32 * 32 }, (_, i) => Math.cos(i * 0.1)), [n, 3, 32, 32], 'float32');

test('featureInfo: channels, reduction and module per stage (timm names)', () => {
  assert.deepEqual(createModel('convnext_tiny').featureInfo, [
    { numChs: 96, reduction: 4, module: 'stages.0' },
    { numChs: 192, reduction: 8, module: 'stages.1' },
    { numChs: 384, reduction: 16, module: 'stages.2' },
    { numChs: 768, reduction: 32, module: 'stages.3' },
  ]);
});

test('forwardIntermediates: the chosen stage maps, equal to run(…, {features: true}); the final map unless intermediatesOnly', async () => {
  const m = tiny();
  const x = input();
  const all = await m.run(x, { features: true });
  const r = await m.forwardIntermediates(x, { indices: [1, 3] });
  assert.deepEqual(r.intermediates.map((t) => t.data), [all.features[1]!.data, all.features[3]!.data]);
  assert.deepEqual(r.final!.data, all.features[3]!.data);
  const last2 = await m.forwardIntermediates(x, { indices: 2, intermediatesOnly: true });
  assert.equal(last2.final, undefined);
  assert.deepEqual(last2.intermediates.map((t) => t.shape), [all.features[2]!.shape, all.features[3]!.shape]);
  const neg = await m.forwardIntermediates(x, { indices: [-1], intermediatesOnly: true });
  assert.deepEqual(neg.intermediates[0]!.data, all.features[3]!.data);
  await assert.rejects(m.forwardIntermediates(x, { indices: [4] }), (e: unknown) => e instanceof ConfigError && /feature index 4 is out of range \(4 stages/.test(e.message));
});

test('asking for early stages only computes those: later stages and the head are not emitted', () => {
  const m = tiny();
  const { graph } = traceModel(m, [1, 3, 32, 32], { outputs: ['features'], featureIndices: [0], logits: false });
  const scopes = new Set(liveSet(graph).nodes.map((n) => n.scope).filter(Boolean));
  assert.ok([...scopes].every((s) => s.startsWith('stem') || s.startsWith('stages.0')), [...scopes].join(', '));
});

test('resetClassifier: a fresh head for new classes (or pooled features for 0), used by run and lossAndGrads', async () => {
  const m = tiny();
  const x = input();
  await m.lossAndGrads(x, [0, 4]); // compiles graphs for the old head
  m.resetClassifier(3);
  assert.equal(m.numClasses, 3);
  assert.deepEqual(m.stateDict()['head.fc.weight']!.shape, [3, 64]);
  assert.deepEqual((await m.run(x)).logits.shape, [2, 3]);
  const r = await m.lossAndGrads(x, [0, 2]);
  assert.deepEqual(r.grads['head.fc.weight']!.shape, [3, 64]);
  m.resetClassifier(0);
  assert.ok(!('head.fc.weight' in m.stateDict()));
  assert.deepEqual((await m.run(x)).logits.shape, [2, 64], 'pooled, normalised features');
  assert.throws(() => m.resetClassifier(-1), /numClasses must be an integer in \[0, 1000000\]/);
});
