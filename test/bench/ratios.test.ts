/** The benchmark's same-run ratios: which rows they read and how (bench/run.ts is imported, not run). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cases, ratioRows, type BenchRow } from '../../bench/run.js';

const row = (model: string, batch: number, min: number, median: number): BenchRow => ({
  section: 'inference',
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

test('the suite times MobileViT-XXS b1 at 256² in the same run as ConvNeXt-T b1', () => {
  const ids = cases.map((c) => c.id);
  assert.ok(ids.includes('inference/mobilevit_xxs/b1'));
  assert.ok(ids.includes('inference/convnext_tiny/b1'));
});

test('"MobileViT-XXS / ConvNeXt-T time" is min over min and median over median of the b1 rows, goal 0.24', () => {
  const rows = [row('convnext_tiny', 1, 50, 55), row('convnext_tiny', 8, 40, 44), row('mobilevit_xxs', 1, 10, 13.2)];
  assert.deepEqual(ratioRows(rows), [{ label: 'MobileViT-XXS / ConvNeXt-T time', min: 0.2, median: 0.24, goal: 0.24 }]);
  // Without both rows (a run with --only) there is no ratio.
  assert.deepEqual(ratioRows(rows.slice(0, 2)), []);
});
