/**
 * WebGPU in Node against the CPU, on the same machine: ONNX Runtime's WebGPU EP (built into
 * onnxruntime-node 1.30, Dawn over Vulkan) for inference and for the compiled train step, beside its
 * CPU EP. Made for a machine with a GPU (none here: run it where one is lent); it prints a markdown
 * table of same-run ratios for BENCHMARKS.md.
 *
 *   npx tsc -p . && node dist/bench/webgpu_node.js [--iters 10]
 */
import { Tensor, createEngine, type VisionModel } from '../src/index.js';
import type { Engine } from '../src/tasks/engine.js';
import { timeAsync } from '../src/tasks/bench.js';
import { crossEntropy } from '../src/train/losses.js';
import { adamw } from '../src/train/optim.js';
import { TrainStep } from '../src/train/step.js';
import { Rng } from '../src/util/rng.js';

const iters = Number(process.argv[process.argv.indexOf('--iters') + 1] ?? 10) || 10;
const rng = new Rng(1);
const batch = (n: number, side: number) => new Tensor(Float32Array.from({ length: n * 3 * side * side }, () => rng.normal()), [n, 3, side, side], 'float32');

async function inference(engine: Engine, name: string, n: number): Promise<number> {
  const m: VisionModel = engine.createModel(name);
  const x = batch(n, 224);
  const t = await timeAsync(() => m.run(x), { warmup: 3, iters });
  return t.medianMs / n;
}

async function trainStep(engine: Engine, name: string, n: number, target: 'cpu' | 'webgpu'): Promise<number> {
  const m = engine.createModel(name).train();
  const step = await TrainStep.compile(m, crossEntropy(), { optimizer: adamw({ weightDecay: 0.05 }), batchShape: [n, 3, 224, 224], target }, (bytes, label) =>
    engine.createSession(bytes, { label }),
  );
  const x = batch(n, 224);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 1000);
  const t = await timeAsync(() => step.step(x, labels, 1e-3, rng), { warmup: 2, iters });
  await step.release();
  return t.medianMs;
}

const cpu = createEngine({ device: 'cpu' });
const gpu = createEngine({ device: 'webgpu' });
const rows: [string, number, number][] = [];
for (const [name, n] of [['convnext_tiny', 1], ['convnext_tiny', 8], ['convnextv2_atto', 1], ['convnextv2_atto', 8]] as const)
  rows.push([`${name} inference b${n} (ms/img)`, await inference(cpu, name, n), await inference(gpu, name, n)]);
rows.push(['convnextv2_atto train step b32 224² (ms/step)', await trainStep(cpu, 'convnextv2_atto', 32, 'cpu'), await trainStep(gpu, 'convnextv2_atto', 32, 'webgpu')]);

console.log('| case | CPU EP | WebGPU EP | WebGPU / CPU time |');
console.log('| :-- | --: | --: | --: |');
for (const [label, c, g] of rows) console.log(`| ${label} | ${c.toFixed(1)} | ${g.toFixed(1)} | ${(g / c).toFixed(2)}× |`);
