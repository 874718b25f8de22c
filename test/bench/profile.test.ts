/** Where-the-time-goes summaries: module parts from scopes, ONNX node counts, real profiled runs, the roofline. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../../src/index.js';
import { onnxOpCounts } from '../../src/graph/emit.js';
import { traceModel } from '../../src/models/trace.js';
import { int8DotProduct, vectorRoofline } from '../../src/runtime/node_machine.js';
import { machineRoofline } from '../../src/tasks/bench.js';
import { modulePart, profileInference } from '../../src/tasks/bench_profile.js';
import { benchTrainStep, trainPhase } from '../../src/tasks/bench_train.js';
import { measureTrainStepRss } from '../../bench/train_step_rss.js';

test('a node belongs to the module part below its innermost block index', () => {
  assert.equal(modulePart('blocks_c.3.attn.sr'), 'attn.sr');
  assert.equal(modulePart('stages.2.blocks.1.relation_mha.out_proj.x'), 'relation_mha.out_proj');
  assert.equal(modulePart('stages.2.blocks.1'), 'block');
  assert.equal(modulePart('stem'), 'stem');
  assert.equal(modulePart(''), '(graph)');
});

test('ONNX node counts are per op type and add up to the emitted graph', () => {
  const m = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 3 });
  m.eval();
  const counts = onnxOpCounts(traceModel(m, [1, 3, 32, 32]).graph);
  // 4 stages of one block, each with a 7×7 depthwise conv; the stem and 3 downsamples are convs too.
  assert.equal(counts.get('Conv'), 8);
  assert.ok([...counts.values()].every((n) => Number.isInteger(n) && n > 0));
});

test('a profiled inference run splits its kernel time by op type and by module part', async () => {
  const m = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 3 });
  const p = await profileInference({ model: m, size: 32, threads: 1, profilePrefix: join(tmpdir(), `visionmix-profile-test-${process.pid}`), warmup: 1 });
  assert.ok(p.onnxNodes > 0 && p.kernels > 0 && p.totalMs > 0);
  const sum = (xs: { share: number }[]) => xs.reduce((a, x) => a + x.share, 0);
  assert.ok(Math.abs(sum(p.byOp) - 1) < 1e-9 && Math.abs(sum(p.byModule) - 1) < 1e-9);
  assert.equal(p.byOp.reduce((a, x) => a + x.count, 0), p.kernels);
  assert.ok(p.byOp.some((x) => x.op === 'Conv' || x.op === 'FusedConv'), JSON.stringify(p.byOp));
});

test('train-step nodes belong to the forward, the loss, the backward or the optimizer, by scope', () => {
  assert.equal(trainPhase('stages.0.blocks.1.conv_dw'), 'forward');
  assert.equal(trainPhase(''), 'forward');
  assert.equal(trainPhase('loss'), 'loss');
  assert.equal(trainPhase('grad(loss)'), 'backward');
  assert.equal(trainPhase('grad(stages.0.blocks.1.conv_dw)'), 'backward');
  assert.equal(trainPhase('optimizer'), 'optimizer');
});

test('a profiled train step splits its kernel time by phase, op type and module part, and reports its peak RSS', async () => {
  const m = createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 3 });
  const r = await benchTrainStep({ model: m, batch: 2, size: 32, threads: 1, warmup: 1, iters: 1, profilePrefix: join(tmpdir(), `visionmix-train-profile-test-${process.pid}`) });
  const p = r.profile;
  const sum = (xs: { share: number }[]) => xs.reduce((a, x) => a + x.share, 0);
  for (const xs of [p.byOp, p.byModule, p.byPhase]) assert.ok(Math.abs(sum(xs) - 1) < 1e-9);
  const phases = new Set(p.byPhase.map((x) => x.op));
  for (const phase of ['forward', 'loss', 'backward', 'optimizer']) assert.ok(phases.has(phase), `no ${phase} kernels in ${[...phases]}`);
  // Backward nodes are counted with the part of the model whose gradient they compute.
  assert.ok(p.byModule.some((x) => x.op === 'conv_dw'), JSON.stringify(p.byModule));
  assert.ok(!p.byModule.some((x) => x.op.startsWith('grad(')), JSON.stringify(p.byModule));
  if (process.platform === 'linux') {
    assert.ok(r.peakRssBytes !== null && r.peakRssBytes >= r.baseRssBytes * 0.9, `${r.peakRssBytes} vs ${r.baseRssBytes}`);
  }
});

test("the machine's int8 dot-product instructions come from cpuinfo's flags (VNNI or not)", () => {
  assert.equal(int8DotProduct('flags\t\t: fpu avx2 fma avx512f avx512_vnni avx_vnni\n'), 'AVX-512 VNNI');
  assert.equal(int8DotProduct('flags\t\t: fpu avx2 fma avx_vnni\n'), 'AVX-VNNI');
  assert.match(int8DotProduct('flags\t\t: fpu avx2 fma avx512f\n'), /^none: AVX2 sums u8·s8 products pairwise/);
  assert.equal(int8DotProduct('Features\t: fp asimd asimddp\n'), 'Arm dot product (SDOT/UDOT)');
});

test('the vector roofline is cores × 2 FMA pipes × lanes × 2 × clock, from cpuinfo; a faster GEMM replaces it', () => {
  const avx512 = 'processor\t: 0\ncpu MHz\t\t: 3000.000\nflags\t\t: fpu sse avx avx2 fma avx512f\n';
  assert.equal(vectorRoofline(2, avx512)!.gflops, 2 * 2 * 16 * 2 * 3);
  const avx2 = 'cpu MHz\t\t: 2445.414\nflags\t\t: fpu sse fma avx avx2\n';
  assert.ok(Math.abs(vectorRoofline(2, avx2)!.gflops - 2 * 2 * 8 * 2 * 2.445414) < 1e-9);
  assert.match(vectorRoofline(2, avx2)!.how, /8 fp32 lanes \(AVX2\)/);
  assert.equal(vectorRoofline(2, 'flags\t: avx2\n'), null);
  const here = vectorRoofline(2);
  if (here) {
    assert.deepEqual(machineRoofline(2, here.gflops / 2), here);
    const faster = machineRoofline(2, here.gflops * 1.2);
    assert.equal(faster.gflops, here.gflops * 1.2);
    assert.match(faster.how, /GEMM, above the CPU's reported/);
  }
});

test('a train step\'s peak memory is read in a fresh process, and a probe that cannot build its model says so', async () => {
  const spec = { family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 3 } as const;
  // The parent holds 800 MB while the child runs: the child's own peak must not include them
  // (getrusage's maxRSS would: Linux carries it over fork and exec).
  const ballast = Buffer.alloc(800e6, 1);
  const small = await measureTrainStepRss({ spec, batch: 2, size: 32, threads: 1 });
  assert.ok(small.peakBytes < 500e6 && ballast[12345] === 1, `the child reported the parent's memory: ${JSON.stringify(small)}`);
  // A fresh Node process (tens of MB) that then loaded ORT, compiled and ran the step.
  assert.ok(small.baselineBytes > 10e6 && small.peakBytes > small.baselineBytes + 5e6, JSON.stringify(small));
  const big = await measureTrainStepRss({ spec: { ...spec, dims: [32, 64, 96, 128] }, batch: 16, size: 96, threads: 1 });
  assert.ok(big.peakBytes > small.peakBytes + 50e6, `a larger step must need more memory: ${JSON.stringify({ small, big })}`);
  await assert.rejects(measureTrainStepRss({ spec: 'no_such_model', batch: 2, size: 32, threads: 1 }), /memory probe failed.*no_such_model/s);
});
