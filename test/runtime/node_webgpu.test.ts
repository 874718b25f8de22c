/**
 * `device: 'webgpu'` in Node: onnxruntime-node's built-in WebGPU EP when an adapter exists, and an
 * error that says why not otherwise (no GPU, no Vulkan); 'auto' falls back to the CPU once, saying so.
 * On this project's CPU machines there is no adapter; on a GPU machine the same test checks the values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readWeightsSource } from '../../src/io/weights_source.js';
import { RuntimeError, Tensor, createEngine } from '../../src/index.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { Engine } from '../../src/tasks/engine.js';
import { Rng } from '../../src/util/rng.js';

const CONFIG = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 } as const;
const rng = new Rng(4);
const x = new Tensor(Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => rng.normal()), [2, 3, 32, 32], 'float32');

test("device 'webgpu': the values of the CPU, or an error saying why there is no WebGPU", async () => {
  const cpu = await createEngine().createModel(CONFIG, { seed: 3 }).run(x);
  const gpu = createEngine({ device: 'webgpu' }).createModel(CONFIG, { seed: 3 });
  try {
    const out = await gpu.run(x);
    const a = cpu.logits.data as Float32Array;
    (out.logits.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - a[i]!) <= 1e-4 * (1 + Math.abs(a[i]!)), `logit ${i}`));
  } catch (err) {
    assert.ok(err instanceof RuntimeError, String(err));
    assert.match(err.message, /device 'webgpu': (no WebGPU adapter: this machine has no GPU that Dawn can use|onnxruntime-node's WebGPU EP failed to start)/);
  }
});

test("device 'auto': WebGPU when there is an adapter, else the CPU — said once", async () => {
  const lines: string[] = [];
  const runtime = nodeRuntime(readWeightsSource, { device: 'auto', log: (m) => lines.push(m) });
  const engine = new Engine(runtime);
  const m = engine.createModel(CONFIG, { seed: 3 });
  const out = await m.run(x);
  await m.run(x, { features: true });
  const cpu = await createEngine().createModel(CONFIG, { seed: 3 }).run(x);
  if ((await runtime.device()) === 'cpu') {
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, /device 'auto' runs on the CPU \(/);
    assert.deepEqual(out.logits.data, cpu.logits.data, 'the CPU gives the CPU engine\'s values');
  } else assert.equal(lines.length, 0);
  assert.throws(() => nodeRuntime(readWeightsSource, { device: 'tpu' as 'cpu' }), { name: 'RuntimeError', message: /'cpu', 'webgpu' or 'auto'/ });
});
