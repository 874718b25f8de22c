/**
 * WebGPU-safe train graphs (issue 23 §2): emitted for the 'webgpu' target, no node of any family's
 * train step touches more than 7 tensors and no Slice has a negative step — and the lowered graph
 * computes the same step as the CPU emission (run here on onnxruntime-node: same losses, same weights).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emittedNodes, WEBGPU_MAX_NODE_TENSORS } from '../../src/graph/emit.js';
import { createModel, Tensor, type VisionModel } from '../../src/index.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { crossEntropy } from '../../src/train/losses.js';
import { adamw } from '../../src/train/optim.js';
import { buildTrainGraph, TrainStep, type TrainStepOptions } from '../../src/train/step.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_G } from '../models/glnet_configs.js';

const TINY: Record<string, { family: string } & Record<string, unknown>> = {
  convnextv2: { family: 'convnextv2', depths: [1, 1, 2, 1], dims: [8, 16, 24, 32], num_classes: 5 },
  mobilevit: {
    family: 'mobilevit',
    stem: 8,
    layer1: { out: 8, exp: 2, n: 1, stride: 1 },
    layer2: { out: 16, exp: 2, n: 1, stride: 2 },
    layer3: { out: 16, exp: 2, stride: 2, dim: 16, depth: 1 },
    layer4: { out: 24, exp: 2, stride: 2, dim: 24, depth: 1 },
    layer5: { out: 24, exp: 2, stride: 2, dim: 24, depth: 1 },
    num_classes: 5,
  },
  cmt: { family: 'cmt', embed_dims: [16, 32, 48, 64], stem_channel: 8, fc_dim: 64, depths: [1, 1, 1, 1], num_classes: 5, img_size: 64 },
  glnet: { ...TINY_G, num_classes: 5 },
};

const options = (o: Partial<TrainStepOptions> = {}): TrainStepOptions => ({
  optimizer: adamw({ weightDecay: 0.05 }),
  batchShape: [2, 3, 64, 64],
  clipGradNorm: 1,
  emaDecay: 0.9,
  ...o,
});

function batch(seed: number): Tensor {
  const rng = new Rng(seed);
  return new Tensor(Float32Array.from({ length: 2 * 3 * 64 * 64 }, () => rng.normal()), [2, 3, 64, 64], 'float32');
}

const model = (family: string): VisionModel => createModel(TINY[family]!).train();

for (const family of Object.keys(TINY)) {
  test(`webgpu target: ${family}'s train step has no node over ${WEBGPU_MAX_NODE_TENSORS} tensors and no reversed Slice`, () => {
    const { graph } = buildTrainGraph(model(family), crossEntropy({ labelSmoothing: 0.1 }), options());
    const cpu = emittedNodes(graph);
    // The CPU emission does have them (the flat optimizer buckets, the kernel flips of conv gradients).
    assert.ok(cpu.some((n) => n.inputs.length + n.outputs.length > WEBGPU_MAX_NODE_TENSORS), 'the CPU graph has wide nodes');
    const isReversedSlice = (n: (typeof cpu)[number]) => n.opType === 'Slice' && (n.intInputs[4] ?? []).some((s) => s < 0);
    assert.ok(cpu.some(isReversedSlice), 'the CPU graph flips kernels with reversed Slices');
    const nodes = emittedNodes(graph, { target: 'webgpu' });
    const wide = nodes.filter((n) => n.inputs.filter(Boolean).length + n.outputs.filter(Boolean).length > WEBGPU_MAX_NODE_TENSORS);
    assert.deepEqual(wide.map((n) => `${n.opType} ${n.inputs.length}→${n.outputs.length}`), []);
    assert.equal(nodes.filter(isReversedSlice).length, 0, 'Slices with a negative step');
  });
}

test('webgpu target: the lowered train step computes the same steps as the CPU emission', async () => {
  for (const family of ['convnextv2', 'glnet']) {
    const steps = await Promise.all(
      (['cpu', 'webgpu'] as const).map((target) => TrainStep.compile(model(family), crossEntropy(), options({ target }), (bytes, label) => createNodeSession(bytes, { label, threads: 1 }))),
    );
    for (let i = 0; i < 2; i++) {
      const labels = Int32Array.of(i, 3);
      const [a, b] = await Promise.all(steps.map((s) => s.step(batch(i), labels, 1e-3, new Rng(9))));
      assert.equal(a!.loss, b!.loss, `${family} step ${i + 1}: loss`);
    }
    const [sa, sb] = steps.map((s) => s.getState());
    for (const [k, t] of sa!.params) assert.deepEqual(t.data, sb!.params.get(k)!.data, `${family} ${k}`);
    await Promise.all(steps.map((s) => s.release()));
  }
});
