/**
 * Gradient accumulation (`TrainStepOptions.microBatch`): a batch run as micro-batches gives the
 * update of the whole batch (to float rounding) for a model without batch statistics, through the
 * optimizer, clipping and EMA; sizes that do not divide the batch; frozen parameters; BatchNorm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/index.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor } from '../../src/tensor.js';
import { ConfigError } from '../../src/errors.js';
import { crossEntropy } from '../../src/train/losses.js';
import { adamw, sgd, type Optimizer } from '../../src/train/optim.js';
import { microBatchSizes, TrainStep, type TrainStepOptions } from '../../src/train/step.js';
import { backboneKeys } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { checkTrainInputSize, inputSizeRule, MEMORY_SHARE } from '../../src/tasks/input_size.js';
import { trainJob } from '../../src/tasks/train.js';
import { Engine, trainStepBytes } from '../../src/tasks/engine.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { readWeightsSource } from '../../src/io/weights_source.js';
import { engineWithoutRuntime } from '../fixtures/no_runtime_engine.js';
import type { ModelSpec } from '../../src/models/registry.js';

const factory = (bytes: Uint8Array, label: string) => createNodeSession(bytes, { threads: 1, label });

function batch(n: number, c: number, size: number, seed: number): Tensor {
  const r = new Rng(seed);
  return new Tensor(Float32Array.from({ length: n * c * size * size }, () => r.normal()), [n, c, size, size], 'float32');
}

/** Train two copies of a model (same seed) for `steps` steps, whole and in micro-batches; return both steps. */
async function trainBoth(spec: ModelSpec, o: Omit<TrainStepOptions, 'batchShape' | 'optimizer'> & { optimizer?: Optimizer }, microBatch: number, steps = 2) {
  const n = 8;
  const out: TrainStep<unknown>[] = [];
  const losses: number[][] = [];
  const gradNorms: number[][] = [];
  for (const mb of [undefined, microBatch]) {
    const m = createModel(spec, { seed: 3 });
    m.train();
    const c = m.defaultInputSize[0];
    const step = await TrainStep.compile(m, crossEntropy({ labelSmoothing: 0.1 }) as never, { optimizer: adamw({ weightDecay: 0.05 }), ...o, batchShape: [n, c, 32, 32], microBatch: mb }, factory);
    const ls: number[] = [];
    const gs: number[] = [];
    for (let s = 0; s < steps; s++) {
      const r = await step.step(batch(n, c, 32, 10 + s), Int32Array.from({ length: n }, (_, i) => (i * 7 + s) % 5), 1e-2, new Rng(s));
      ls.push(r.loss);
      gs.push(r.gradNorm);
    }
    out.push(step);
    losses.push(ls);
    gradNorms.push(gs);
  }
  return { whole: out[0]!, micro: out[1]!, losses, gradNorms };
}

function maxRelDiff(a: Map<string, Tensor>, b: Map<string, Tensor>): number {
  let worst = 0;
  for (const [k, t] of a) {
    const x = t.data as Float32Array;
    const y = b.get(k)!.data as Float32Array;
    let num = 0;
    let den = 0;
    for (let i = 0; i < x.length; i++) {
      num = Math.max(num, Math.abs(x[i]! - y[i]!));
      den = Math.max(den, Math.abs(x[i]!));
    }
    worst = Math.max(worst, den > 0 ? num / den : num);
  }
  return worst;
}

const v2 = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 5 } as const;

test('micro-batch sizes: full micro-batches, then the rest', () => {
  assert.deepEqual(microBatchSizes(8, 3), [3, 3, 2]);
  assert.deepEqual(microBatchSizes(8, 4), [4, 4]);
  assert.deepEqual(microBatchSizes(8, 8), [8]);
});

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.abs(a);

test('a batch in micro-batches gets the whole batch update: SGD with momentum, clipping and EMA, micro-batches of 3, 3 and 2', async () => {
  const { whole, micro, losses, gradNorms } = await trainBoth(v2, { optimizer: sgd({ momentum: 0.9, weightDecay: 0.05 }), clipGradNorm: 0.5, emaDecay: 0.9 }, 3);
  assert.ok(micro.graph.inputs.some((v) => v.name === 'grad_weight'), 'the micro-batched step runs the accumulation graph');
  for (let s = 0; s < 2; s++) {
    assert.ok(close(losses[0]![s]!, losses[1]![s]!, 1e-5), `loss ${s}: ${losses[0]![s]} vs ${losses[1]![s]}`);
    assert.ok(close(gradNorms[0]![s]!, gradNorms[1]![s]!, 1e-5), `gradient norm ${s}: ${gradNorms[0]![s]} vs ${gradNorms[1]![s]}`);
  }
  const a = whole.getState();
  const b = micro.getState();
  assert.equal(b.step, 2);
  for (const part of ['params', 'optimizer', 'ema'] as const) assert.ok(maxRelDiff(a[part], b[part]) < 1e-5, `${part} differ by ${maxRelDiff(a[part], b[part])}`);
  // The parameters did move: equal because both trained, not because neither did.
  const init = new Map(Object.entries(createModel(v2, { seed: 3 }).stateDict()));
  assert.ok(maxRelDiff(init, a.params) > 1e-3);
  await whole.release();
  await micro.release();
});

test('with AdamW too: the same loss and gradient norm; parameters within the rounding that AdamW\'s 1/√v amplifies', async () => {
  const { whole, micro, losses, gradNorms } = await trainBoth(v2, {}, 4);
  for (let s = 0; s < 2; s++) {
    assert.ok(close(losses[0]![s]!, losses[1]![s]!, 1e-5), `loss ${s}: ${losses[0]![s]} vs ${losses[1]![s]}`);
    assert.ok(close(gradNorms[0]![s]!, gradNorms[1]![s]!, 1e-5), `gradient norm ${s}: ${gradNorms[0]![s]} vs ${gradNorms[1]![s]}`);
  }
  // AdamW's step is lr·m/√v: for a gradient element near zero, a rounding difference changes the update
  // by up to lr (1e-2 here) whatever the gradient's size, so parameters agree to ~lr·1e-2, not 1e-6.
  assert.ok(maxRelDiff(whole.getState().params, micro.getState().params) < 1e-3);
  await whole.release();
  await micro.release();
});

test('frozen parameters stay put in micro-batches too', async () => {
  const m = createModel(v2, { seed: 3 });
  const frozen = backboneKeys(m);
  const { whole, micro } = await trainBoth(v2, { frozen }, 4, 1);
  const a = whole.getState();
  const b = micro.getState();
  assert.ok(maxRelDiff(a.params, b.params) < 1e-5);
  const init = m.stateDict();
  for (const k of frozen) assert.deepEqual(b.params.get(k)!.data, init[k]!.data, k);
  await whole.release();
  await micro.release();
});

test('BatchNorm models train in micro-batches, their running statistics updated once per micro-batch', async () => {
  const spec = { family: 'glnet', norm_layer: 'BatchNorm2d', downsample_style: 'ovlp', mixing_modes: ['glmix', 'glmix', 'mha_nchw', 'mha_nchw'], slot_init: 'ada_avgpool', num_slots: 4, cpe_ks: 3, mlp_dw: true, depth: [1, 1, 1, 1], embed_dim: [16, 32, 32, 32], mlp_ratios: [2, 2, 2, 2], head_dim: 16, num_classes: 5 } as ModelSpec;
  const { micro, losses } = await trainBoth(spec, {}, 4, 1);
  assert.ok(Number.isFinite(losses[1]![0]!));
  const counters = [...micro.getState().buffers].filter(([k]) => k.endsWith('num_batches_tracked'));
  assert.ok(counters.length > 0);
  for (const [k, t] of counters) assert.equal(Number(t.toArray()[0]), 2, k);
  await micro.release();
});

test('a micro-batch size that is not a positive integer is a ConfigError', async () => {
  const m = createModel(v2);
  m.train();
  for (const microBatch of [0, 2.5, -1])
    await assert.rejects(TrainStep.compile(m, crossEntropy(), { optimizer: adamw(), batchShape: [4, 3, 32, 32], microBatch }, factory), (e: unknown) => e instanceof ConfigError && /micro-batch size must be a positive integer/.test((e as Error).message));
});

test('a step beyond memory names the micro-batch that fits, and runs with it', async () => {
  const m = createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], in_chans: 1, num_classes: 10 });
  const { activationsPerPixel } = inputSizeRule(m);
  // A machine whose budget holds 10.5 images' activations at 64² (4 bytes, kept for the backward: × 2).
  const memory = (10.5 * activationsPerPixel * 64 * 64 * 4 * 2) / MEMORY_SHARE;
  assert.throws(
    () => checkTrainInputSize(m, 64, 32, 28, memory),
    (e: unknown) => e instanceof ConfigError && /^--size 64 with --batch 32 would need .* 10 images at a time fit: use --micro-batch 10 \(the same update, in micro-batches\)/.test((e as Error).message),
  );
  const fits = 10;
  checkTrainInputSize(m, 64, 32, 28, memory, '--size', fits);
  assert.throws(() => checkTrainInputSize(m, 64, 32, 28, memory, '--size', fits + 2), /in micro-batches of/);
});

test('train --micro-batch: the run records it and its steps run the accumulation graph, with the whole batch\'s loss', async () => {
  const root = mkdtempSync(join(tmpdir(), 'visionmix-micro-'));
  try {
    const spec = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64] };
    const run = (out: string, microBatch?: number) =>
      trainJob(defaultEngine(), { model: spec, data: 'fashion-mnist:bundled', out: join(root, out), threads: 1, train: { epochs: 1, batchSize: 20, inputSize: 32, ...(microBatch ? { microBatch } : {}) } }, { stopAfterSteps: 2 });
    const whole = await run('whole');
    const micro = await run('micro', 8);
    assert.equal(micro.steps, 2);
    const recorded = JSON.parse(readFileSync(join(root, 'micro', 'run.json'), 'utf8'));
    assert.equal(recorded.train.microBatch, 8);
    const losses = (dir: string) => readFileSync(join(root, dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.step !== undefined && r.loss !== undefined).map((r) => r.loss as number);
    const [a, b] = [losses('whole'), losses('micro')];
    assert.ok(a.length >= 1 && a.length === b.length, `${a} / ${b}`);
    a.forEach((l, i) => assert.ok(close(l, b[i]!, 1e-4), `step ${i + 1}: ${l} vs ${b[i]}`));
    void whole;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("compileTrainStep estimates the step's memory: refused with the micro-batch that fits, or run in it with 'auto'", async () => {
  const m = createModel(v2, { seed: 3 });
  m.train();
  const o = { optimizer: adamw(), batchShape: [16, 3, 32, 32] };
  const perFour = trainStepBytes(m, crossEntropy() as never, { ...o, batchShape: [4, 3, 32, 32] });
  const whole = trainStepBytes(m, crossEntropy() as never, o);
  assert.ok(whole > 2 * perFour, `${whole} vs ${perFour}`);
  // A runtime whose budget holds the step on 4 images (and not on 16).
  const memory = (perFour * 1.05) / MEMORY_SHARE;
  await assert.rejects(engineWithoutRuntime(memory).compileTrainStep(m, crossEntropy(), o), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, /a train step on a batch of 16 images \[16, 3, 32, 32\] would need about .* (\d) images at a time fit: pass microBatch: \1 \(or 'auto'/);
    const fits = Number(/pass microBatch: (\d+)/.exec(e.message)![1]);
    assert.ok(fits >= 4 && fits < 16, e.message);
    return true;
  });
  const limited = new Engine({ ...nodeRuntime(readWeightsSource), memoryBytes: () => memory });
  const step = await limited.compileTrainStep(m, crossEntropy(), { ...o, microBatch: 'auto' });
  assert.ok(step.graph.inputs.some((v) => v.name === 'grad_weight'), "'auto' runs the step in micro-batches");
  const r = await step.step(batch(16, 3, 32, 1), Int32Array.from({ length: 16 }, (_, i) => i % 5), 1e-3, new Rng(0));
  assert.ok(Number.isFinite(r.loss));
  await step.release();
  // With room for the whole batch, 'auto' keeps it whole.
  const roomy = await new Engine({ ...nodeRuntime(readWeightsSource), memoryBytes: () => 64 * whole }).compileTrainStep(m, crossEntropy(), { ...o, microBatch: 'auto' });
  assert.ok(!roomy.graph.inputs.some((v) => v.name === 'grad_weight'));
  await roomy.release();
});
