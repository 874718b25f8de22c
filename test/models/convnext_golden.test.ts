/** ConvNeXt V1/V2 parity with the reference PyTorch code (../shared/golden/convnext). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, readSafetensors, type VisionModel } from '../../src/index.js';
import { assertClose, goldenCases, goldenFile, type GoldenCase } from '../golden.js';
import { goldenDir, goldenSkip, hasGolden } from '../helpers.js';

const FAMILY = 'convnext';
const skip = goldenSkip(FAMILY);

function buildModel(c: GoldenCase): VisionModel {
  const r = c.reference as { timm_config?: { model?: string }; depths: number[]; dims: number[]; num_classes: number };
  const family = c.family === 'convnext_v2' ? 'convnextv2' : 'convnext';
  if (r.timm_config?.model) return createModel(r.timm_config.model, { numClasses: r.num_classes });
  return createModel({ family, depths: r.depths, dims: r.dims, num_classes: r.num_classes });
}

const inferenceCases = hasGolden(FAMILY) ? goldenCases(FAMILY).filter((c) => c.mode === 'eval') : [];

test('golden cases exist', { skip }, () => {
  assert.ok(hasGolden(FAMILY), `golden data missing: ${goldenDir(FAMILY)}/cases.json`);
  assert.ok(inferenceCases.length >= 4, 'expected at least 4 inference cases');
});

for (const c of inferenceCases) {
  const weightFiles = [c.files.weights!, ...(c.files.weights_official ? [c.files.weights_official] : [])];
  for (const wf of weightFiles) {
    test(`${c.name}: logits and 4 feature maps (${wf.includes('official') ? 'official' : 'timm'} weights)`, { skip }, async (t) => {
      const tol = c.tolerance as { rel_to_absmax: number; max_abs_floor: number };
      const model = buildModel(c);
      await model.loadWeights(goldenFile(FAMILY, wf));
      const io = await readSafetensors(goldenFile(FAMILY, c.files.io!));
      const out = await model.run(io.get('input')!, { features: true });
      t.diagnostic(assertClose('logits', out.logits, io.get('logits')!, tol.rel_to_absmax, tol.max_abs_floor));
      assert.equal(out.features.length, 4);
      out.features.forEach((f, i) =>
        t.diagnostic(assertClose(`features.${i}`, f, io.get(`features.${i}`)!, tol.rel_to_absmax, tol.max_abs_floor)),
      );
    });
  }
}

/**
 * The same golden cases built from timm's constructor keywords: `ConvNeXt(use_grn=True,
 * ls_init_value=None)` is ConvNeXt V2, under family 'convnext' and (redundantly) 'convnextv2'.
 */
function timmKeywordBuilds(c: GoldenCase): [string, VisionModel][] {
  const r = c.reference as { depths: number[]; dims: number[]; num_classes: number; conv_mlp?: boolean };
  const base = { depths: r.depths, dims: r.dims, num_classes: r.num_classes, conv_mlp: r.conv_mlp ?? false };
  if (c.family === 'convnext_v2')
    return [
      ["{family: 'convnext', use_grn: true, ls_init_value: null}", createModel({ family: 'convnext', ...base, use_grn: true, ls_init_value: null })],
      ["{family: 'convnextv2', use_grn: true, ls_init_value: null}", createModel({ family: 'convnextv2', ...base, use_grn: true, ls_init_value: null })],
    ];
  return [["{family: 'convnext', use_grn: false, ls_init_value: 1e-6}", createModel({ family: 'convnext', ...base, use_grn: false, ls_init_value: 1e-6 })]];
}

for (const c of inferenceCases) {
  test(`${c.name}: built from timm's constructor keywords`, { skip }, async (t) => {
    const tol = c.tolerance as { rel_to_absmax: number; max_abs_floor: number };
    const io = await readSafetensors(goldenFile(FAMILY, c.files.io!));
    for (const [how, model] of timmKeywordBuilds(c)) {
      await model.loadWeights(goldenFile(FAMILY, c.files.weights!));
      const out = await model.run(io.get('input')!, { features: true });
      t.diagnostic(`${how}: ${assertClose('logits', out.logits, io.get('logits')!, tol.rel_to_absmax, tol.max_abs_floor)}`);
      out.features.forEach((f, i) => assertClose(`${how} features.${i}`, f, io.get(`features.${i}`)!, tol.rel_to_absmax, tol.max_abs_floor));
    }
  });
}
