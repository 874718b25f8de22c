/**
 * The engine: compile caches that hold under concurrency and stay bounded, named outputs, input
 * validation, train-mode forwards that update BatchNorm statistics, seeded randomness, and no
 * global state (two engines are independent).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, Engine, Tensor, VisionModel, createEngine } from '../../src/index.js';
import type { Value } from '../../src/graph/graph.js';
import * as F from '../../src/graph/ops/index.js';
import { readWeightsSource } from '../../src/io/weights_source.js';
import type { TracedOutputs } from '../../src/models/base.js';
import { createModel as buildModel } from '../../src/models/registry.js';
import { BatchNorm2d, Linear } from '../../src/nn/index.js';
import { nodeOrt, nodeRuntime } from '../../src/runtime/node.js';
import type { OrtModule } from '../../src/runtime/session.js';
import { LinearHeadTestModel } from '../fixtures/linear_head_model.js';

/** An engine whose ort module counts the sessions it creates and releases. */
function countingEngine(sessionCacheSize?: number): { engine: Engine; created: () => number; live: () => number } {
  let created = 0;
  let released = 0;
  const ort: OrtModule = {
    Tensor: nodeOrt.Tensor,
    InferenceSession: {
      async create(bytes, opts) {
        const s = await nodeOrt.InferenceSession.create(bytes, opts);
        created++;
        const release = s.release.bind(s);
        s.release = async () => {
          released++;
          await release();
        };
        return s;
      },
    },
  };
  const engine = new Engine({ ...nodeRuntime(readWeightsSource), ort }, { sessionCacheSize });
  return { engine, created: () => created, live: () => created - released };
}

const tiny = (engine: Engine) =>
  engine.createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 3, stem_stride: 2 });

function ramp(shape: number[], offset = 0): Tensor {
  return new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37 + offset)), shape, 'float32');
}

/**
 * An evicted session is released from a promise callback that the cache queues when the last lease on
 * it ends (before `run` returns). Those callbacks are microtasks: one turn of the event loop runs them
 * all, so after this every release the cache decided on has been called — no timing involved.
 */
const queuedReleases = () => new Promise((r) => setImmediate(r));

test('concurrent runs on more input shapes than the cache holds all succeed, with the results of sequential runs', async () => {
  const { engine, live } = countingEngine(2);
  const m = tiny(engine);
  const sizes = [32, 64, 96, 128, 160];
  const results = await Promise.allSettled(sizes.map((s) => m.run(ramp([1, 3, s, s], s))));
  for (const [i, r] of results.entries()) assert.equal(r.status, 'fulfilled', `size ${sizes[i]}: ${r.status === 'rejected' ? String(r.reason) : ''}`);
  for (const [i, s] of sizes.entries()) {
    const again = await m.run(ramp([1, 3, s, s], s));
    assert.deepEqual(again.logits.data, (results[i] as PromiseFulfilledResult<{ logits: Tensor }>).value.logits.data);
  }
  await queuedReleases();
  assert.ok(live() <= 2, `sessions kept after the burst: ${live()} (cache size 2)`);
});

test('cycling through 5 input shapes compiles each once (default cache); a small cache stays bounded', async () => {
  const big = countingEngine();
  const m = tiny(big.engine);
  const sizes = [32, 48, 64, 80, 96];
  for (let round = 0; round < 3; round++) for (const s of sizes) await m.run(ramp([1, 3, s, s]));
  assert.equal(big.created(), sizes.length, 'one compile per shape');

  const small = countingEngine(2);
  const m2 = tiny(small.engine);
  for (const s of sizes) await m2.run(ramp([1, 3, s, s]));
  await queuedReleases();
  assert.ok(small.live() <= 2, `live sessions ${small.live()} with a cache of 2`);
  assert.throws(() => createEngine({ sessionCacheSize: 0 }), /session cache size must be an integer ≥ 1/);
});

test('run copies its input: changing the caller\'s buffer after the call does not change the result', async () => {
  const { engine } = countingEngine();
  const m = tiny(engine);
  const x = ramp([2, 3, 32, 32]);
  const want = await m.run(ramp([2, 3, 32, 32]));
  const pending = m.run(x); // the session is compiled asynchronously, after this returns
  (x.data as Float32Array).fill(7);
  assert.deepEqual((await pending).logits.data, want.logits.data);
});

test('run: bad inputs and options are ConfigErrors naming what is wrong', async () => {
  const { engine } = countingEngine();
  const m = tiny(engine);
  const x = ramp([1, 3, 32, 32]);
  await assert.rejects(m.run(null as never), (e: unknown) => e instanceof ConfigError && /input must be a visionmix Tensor \[N, 3, H, W\].*got null/.test(e.message));
  await assert.rejects(m.run(x, { featurs: true } as never), (e: unknown) => e instanceof ConfigError && /unknown run option 'featurs' \(outputs to ask for: features/.test(e.message));
  await assert.rejects(m.run(x, { features: 1 } as never), (e: unknown) => e instanceof ConfigError && /run option 'features' must be true or false/.test(e.message));
  await assert.rejects(m.run(x, { threads: -1 }), (e: unknown) => e instanceof ConfigError && /^threads must be an integer ≥ 1, got -1/.test(e.message));
  await assert.rejects(m.run(x, { threads: 1.5 }), (e: unknown) => e instanceof ConfigError && /threads/.test(e.message));
  // More threads than cores: capped, not hung.
  const capped = await m.run(x, { threads: 1000 });
  assert.deepEqual(capped.logits.shape, [1, 3]);
  const f = await m.run(x, { features: true });
  assert.deepEqual(f.features.map((t) => t.shape), [[1, 8, 16, 16], [1, 16, 8, 8], [1, 32, 4, 4], [1, 64, 2, 2]]);
  assert.deepEqual((await m.run(x, { features: false })).features, []);
});

test('a model not made by an engine says how to get one; two engines are independent', async () => {
  const bare = buildModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 3 });
  await assert.rejects(bare.run(ramp([1, 3, 32, 32])), (e: unknown) => e instanceof ConfigError && /not attached to an engine/.test(e.message));
  const a = countingEngine();
  const b = countingEngine();
  const m = tiny(a.engine);
  await m.run(ramp([1, 3, 32, 32]));
  assert.equal(a.created(), 1);
  assert.equal(b.created(), 0);
  b.engine.attach(m);
  await m.run(ramp([1, 3, 32, 32]));
  assert.equal(b.created(), 1, 'the model now runs on the engine it was attached to');
});

/** BatchNorm on the raw input → pool → Linear: the running statistics have a closed form. */
class BnNet extends LinearHeadTestModel {
  readonly family = 'bn_net';
  readonly numClasses = 2;
  readonly defaultInputSize: [number, number, number] = [2, 4, 4];
  bn = new BatchNorm2d(2);
  head = new Linear(2, 2);

  forwardTraced(x: Value): TracedOutputs {
    const y = this.bn.call(x);
    return { logits: this.head.call(F.reshape(F.reduceMean(y, [2, 3]), [x.shape[0]!, 2])), features: [y] };
  }
}

test('train mode: one lossAndGrads (or run) is one train-mode forward — BatchNorm running statistics update as in PyTorch', async () => {
  const { engine } = countingEngine();
  const m = engine.attach(new BnNet().bindKeys());
  const x = ramp([3, 2, 4, 4]);
  const d = x.data as Float32Array;
  // Per-channel batch mean and unbiased variance over N, H, W.
  const stats = [0, 1].map((c) => {
    const v: number[] = [];
    for (let n = 0; n < 3; n++) for (let i = 0; i < 16; i++) v.push(d[n * 32 + c * 16 + i]!);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return { mean, varUnbiased: v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1) };
  });
  m.train();
  await m.lossAndGrads(x, [0, 1, 1]);
  const sd = m.stateDict();
  stats.forEach((s, c) => {
    assert.ok(Math.abs((sd['bn.running_mean']!.data as Float32Array)[c]! - 0.1 * s.mean) < 1e-6);
    assert.ok(Math.abs((sd['bn.running_var']!.data as Float32Array)[c]! - (0.9 + 0.1 * s.varUnbiased)) < 1e-6);
  });
  assert.deepEqual(sd['bn.num_batches_tracked']!.toArray(), [1]);
  await m.run(x);
  assert.deepEqual(m.stateDict()['bn.num_batches_tracked']!.toArray(), [2], 'a train-mode run() is a forward too');
  // Eval graphs embed the statistics: they see the new ones.
  m.eval();
  const before = await m.run(x);
  m.train();
  await m.run(x);
  m.eval();
  const after = await m.run(x);
  assert.notDeepEqual(after.logits.data, before.logits.data, 'the eval graph was rebuilt with the updated statistics');
});

test('train-mode randomness (drop path) is drawn from the model\'s seeded generator', async () => {
  const { engine } = countingEngine();
  const m = engine.createModel({ family: 'convnextv2', depths: [2, 2, 2, 2], dims: [8, 16, 32, 64], num_classes: 3, drop_path_rate: 0.5 });
  m.train();
  const x = ramp([4, 3, 32, 32]);
  m.seed(7);
  const a = await m.run(x);
  const b = await m.run(x);
  m.seed(7);
  const c = await m.run(x);
  assert.deepEqual(c.logits.data, a.logits.data, 'same seed → same masks');
  assert.notDeepEqual(b.logits.data, a.logits.data, 'next call → next masks');
  const state = m.randomState();
  const d1 = await m.run(x);
  m.setRandomState(state);
  const d2 = await m.run(x);
  assert.deepEqual(d2.logits.data, d1.logits.data, 'the generator state can be saved and restored');
});

test('model.onCompile: compile → compiled for each new graph (the first run of a shape), nothing for a cached one', async () => {
  const m = createEngine().createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 8, 8, 8], num_classes: 3 });
  const events: string[] = [];
  m.onCompile = (e) => events.push(`${e.status} ${e.model}${e.status === 'compiled' ? ` ${typeof e.ms}` : ''}`);
  await m.run(ramp([1, 3, 32, 32]));
  await m.run(ramp([1, 3, 32, 32]));
  await m.run(ramp([2, 3, 32, 32]));
  assert.deepEqual(events, ['compile convnext', 'compiled convnext number', 'compile convnext', 'compiled convnext number']);
});
