/**
 * timm's model contract (its tests/test_models.py), over every registered model up to ~30M
 * parameters, at a small input so the whole zoo runs in the suite: forward without NaN; a backward
 * pass in which every parameter gets a gradient; `featureInfo` agreeing with `forwardIntermediates`
 * in channels and stride; `resetClassifier(0)` giving pooled features of `numFeatures`, then
 * `resetClassifier(10)`, and `resetClassifier(0, '')` the unpooled map; `num_classes: 0` at
 * creation; the classifier and the first conv in the state dict; layer groups for every parameter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, listModels, Tensor, type VisionModel } from '../../src/index.js';
import { Rng } from '../../src/util/rng.js';

const MAX_PARAMS = 31e6; // ~30M: the GLNet-STL variants (30.3M) are in, as the spirit of timm's cap
const SIDE = 64;

/** The input side each model runs at: 64 (CMT's relative position biases fix it, so it is built there). */
const overrides = (name: string) => (name.startsWith('cmt_') ? { img_size: SIDE } : {});

function input(channels: number, seed: number, batch = 2): Tensor {
  const rng = new Rng(seed);
  const data = Float32Array.from({ length: batch * channels * SIDE * SIDE }, () => rng.normal(0, 1));
  return new Tensor(data, [batch, channels, SIDE, SIDE], 'float32');
}

const finite = (t: Tensor) => (t.data as Float32Array).every(Number.isFinite);

const names = listModels().filter((m) => m.params <= MAX_PARAMS).map((m) => m.name);

test('contract: the zoo below ~30M params is covered', () => {
  assert.ok(names.length >= 15, `${names.length} models`);
  for (const family of ['convnext', 'convnextv2', 'cmt', 'glnet', 'mobilevit'])
    assert.ok(names.some((n) => createModel(n).family === family), family);
});

for (const name of names) {
  test(`contract: ${name}`, async () => {
    const m: VisionModel = createModel(name, { ...overrides(name), num_classes: 7 });
    const sd = m.stateDict();
    assert.ok(`${m.classifierPath}.weight` in sd, `classifier ${m.classifierPath}.weight in the state dict`);
    assert.ok(`${m.firstConv}.weight` in sd, `first conv ${m.firstConv}.weight in the state dict`);
    assert.equal(m.getClassifier(), name.startsWith('cmt_') || name.startsWith('glnet_') ? (m as unknown as { head: unknown }).head : (m as unknown as { head: { fc: unknown } }).head.fc);
    assert.equal(m.headHiddenSize, m.numFeatures);
    const c = m.defaultInputSize[0];

    // Forward (eval), without NaN.
    m.eval();
    const out = await m.run(input(c, 1), { features: true });
    assert.deepEqual(out.logits.shape, [2, 7]);
    assert.ok(finite(out.logits), 'finite logits');

    // featureInfo agrees with forwardIntermediates in channels and stride.
    const { intermediates } = await m.forwardIntermediates(input(c, 1));
    assert.equal(intermediates.length, m.featureInfo.length);
    m.featureInfo.forEach((f, i) => {
      const t = intermediates[i]!;
      assert.equal(t.shape[1], f.numChs, `stage ${i} channels`);
      assert.equal(SIDE / t.shape[2]!, f.reduction, `stage ${i} stride`);
    });

    // Backward (train mode): every parameter gets a (non-zero, finite) gradient.
    m.train();
    const { loss, grads } = await m.lossAndGrads(input(c, 2), Int32Array.of(1, 5));
    assert.ok(Number.isFinite(loss), `finite loss, got ${loss}`);
    const keys = m.namedParameters().map(([k]) => k);
    const without = keys.filter((k) => !grads[k] || !finite(grads[k]!) || (grads[k]!.data as Float32Array).every((v) => v === 0));
    assert.deepEqual(without, [], 'parameters without a gradient');
    m.eval();

    // Layer groups: every parameter has an id, the head's is the largest.
    const { ids, maxId } = m.layerIds('single');
    assert.equal(ids.size, keys.length);
    assert.equal(ids.get(`${m.classifierPath}.weight`), maxId);
    assert.ok(m.layerIds('group').maxId < maxId || name.startsWith('convnext'), 'coarse groups are fewer');

    // resetClassifier(0): pooled features of numFeatures; then a classifier again.
    m.resetClassifier(0);
    assert.deepEqual((await m.run(input(c, 1))).logits.shape, [2, m.numFeatures]);
    m.resetClassifier(10);
    assert.deepEqual((await m.run(input(c, 1))).logits.shape, [2, 10]);
    assert.ok(`${m.classifierPath}.weight` in m.stateDict());
    // No pooling: the unpooled final map.
    m.resetClassifier(0, '');
    const map = (await m.run(input(c, 1))).logits;
    assert.equal(map.shape.length, 4);
    assert.equal(map.shape[1], m.numFeatures);
    m.resetClassifier(3, 'avg');
    assert.deepEqual((await m.run(input(c, 1))).logits.shape, [2, 3]);

    // num_classes: 0 at creation.
    const bare = createModel(name, { ...overrides(name), num_classes: 0 });
    assert.deepEqual((await bare.run(input(c, 1, 1))).logits.shape, [1, bare.numFeatures]);
    assert.deepEqual(bare.getClassifier().namedParameters(), []);
  });
}

test('contract: resetClassifier refuses a classifier without pooling, and bad arguments', () => {
  const m = createModel('cmt_ti', { num_classes: 0 });
  m.resetClassifier(10); // CMT and GLNet: from no classifier back to one (threw 'cannot reset the classifier at head')
  assert.equal(m.numClasses, 10);
  assert.throws(() => m.resetClassifier(5, ''), { name: 'ConfigError', message: /without pooling/ });
  assert.throws(() => m.resetClassifier(5, 'max' as 'avg'), { name: 'ConfigError', message: /globalPool/ });
  assert.throws(() => m.resetClassifier(-1), { name: 'ConfigError', message: /numClasses/ });
  const g = createModel('glnet_4g_tklb', { num_classes: 5 });
  g.resetClassifier(0);
  g.resetClassifier(4);
  assert.deepEqual(g.stateDict()['tklb_aux_head.weight']!.shape, [4, 512]);
});
