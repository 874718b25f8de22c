/** Where-the-time-goes summaries: module parts from scopes, ONNX node counts, a real profiled run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../../src/index.js';
import { onnxOpCounts } from '../../src/graph/emit.js';
import { traceModel } from '../../src/models/trace.js';
import { modulePart, profileInference } from '../../src/tasks/bench_profile.js';

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
