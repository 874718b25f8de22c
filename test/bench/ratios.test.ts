/** The benchmark's same-run ratios: which rows they read and how (the bench/ modules are imported, not run); interleaved timing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cases } from '../../bench/cases.js';
import { FCMAE_ROWS } from '../../bench/cases_training.js';
import { evaluateComparisons } from '../../bench/ratios.js';
import type { BenchRow, Section } from '../../bench/types.js';
import { timeAsync, timeInterleaved } from '../../src/tasks/bench.js';

const row = (model: string, batch: number, min: number, median: number, section: Section = 'inference'): BenchRow => ({
  section,
  label: model,
  model,
  runtime: 'onnxruntime-node',
  batch,
  size: 224,
  threads: 2,
  msPerImageMin: min,
  msPerImageMedian: median,
  imagesPerSecond: 1000 / median,
});

test('the suite times MobileViT-XXS, CMT-S and GLNet-4G b1 in the same run as ConvNeXt-T b1', () => {
  const ids = cases.map((c) => c.id);
  for (const m of ['mobilevit_xxs', 'cmt_s', 'glnet_4g', 'convnext_tiny']) assert.ok(ids.includes(`inference/${m}/b1`), m);
});

test('a same-run ratio is min over min and median over median of the b1 rows, held to its goal', () => {
  const rows = [row('convnext_tiny', 1, 50, 55), row('convnext_tiny', 8, 40, 44), row('mobilevit_xxs', 1, 10, 13.2), row('glnet_4g', 1, 90, 80)];
  const r = evaluateComparisons(rows).map(({ label, ratioMin, ratioMedian, goal, by, met }) => ({ label, ratioMin, ratioMedian, goal, by, met }));
  assert.deepEqual(r, [
    { label: 'GLNet-4G / ConvNeXt-T time', ratioMin: 1.8, ratioMedian: 80 / 55, goal: 1.63, by: 'min', met: false },
    { label: 'MobileViT-XXS / ConvNeXt-T time', ratioMin: 0.2, ratioMedian: 13.2 / 55, goal: 0.24, by: 'min', met: true },
  ]);
  // Without both rows (a run with --only) there is no ratio.
  assert.deepEqual(evaluateComparisons(rows.slice(0, 2)), []);
});

test('the FCMAE pretrain step at mask 0.6 over the same step at mask 0: training rows of the same run, goal 0.6 by median time', () => {
  // One case times both steps, interleaved.
  assert.ok(cases.some((c) => c.id === 'training/fcmae_convnextv2_atto/mask0.6+mask0/b32/s224'));
  const rows = [row(FCMAE_ROWS.masked, 32, 70, 80, 'training'), row(FCMAE_ROWS.unmasked, 32, 100, 100, 'training')];
  const [r, ...rest] = evaluateComparisons(rows);
  assert.equal(rest.length, 0);
  assert.deepEqual({ label: r!.label, ratioMin: r!.ratioMin, ratioMedian: r!.ratioMedian, goal: r!.goal, met: r!.met }, { label: 'FCMAE step mask 0.6 / mask 0', ratioMin: 0.7, ratioMedian: 0.8, goal: 0.6, met: false });
  assert.equal(evaluateComparisons([row(FCMAE_ROWS.masked, 32, 50, 55, 'training'), rows[1]!])[0]!.met, true);
  // Judged by median (issue 26): 0.58 by min but 0.62 by median is not met.
  const edge = evaluateComparisons([row(FCMAE_ROWS.masked, 32, 58, 62, 'training'), rows[1]!])[0]!;
  assert.deepEqual({ by: edge.by, met: edge.met }, { by: 'median', met: false });
  // Rows of another table or batch do not count.
  assert.deepEqual(evaluateComparisons([row(FCMAE_ROWS.masked, 32, 70, 80), rows[1]!]), []);
  assert.deepEqual(evaluateComparisons([row(FCMAE_ROWS.masked, 8, 70, 80, 'training'), rows[1]!]), []);
});

test('timeInterleaved: warm-up of each, then rounds calling each once in turn; one timing per function', async () => {
  // A fake clock that each function advances by its own cost: the timings are exact, not the timer's.
  let clock = 0;
  const calls: string[] = [];
  const fn = (name: string, costs: number[]) => async () => {
    calls.push(name);
    clock += costs[calls.filter((c) => c === name).length - 1]!;
  };
  // Warm-up costs first (100, 200), then the timed rounds.
  const [a, b] = await timeInterleaved([fn('a', [100, 1, 3, 2]), fn('b', [200, 12, 10, 11])], { warmup: 1, iters: 3, now: () => clock });
  assert.deepEqual(calls, ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  assert.deepEqual(a, { samplesMs: [1, 3, 2], minMs: 1, medianMs: 2 });
  assert.deepEqual(b, { samplesMs: [12, 10, 11], minMs: 10, medianMs: 11 });
});

test('timeAsync: warm-up untimed, then one sample per timed call, on the clock it is given', async () => {
  let clock = 0;
  const costs = [50, 4, 6, 5, 9];
  let i = 0;
  const t = await timeAsync(async () => void (clock += costs[i++]!), { warmup: 1, iters: 4, now: () => clock });
  assert.deepEqual(t, { samplesMs: [4, 6, 5, 9], minMs: 4, medianMs: 5.5 });
});
