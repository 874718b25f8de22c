/** ConvNeXt V1/V2 parity with the reference PyTorch code (../shared/golden/convnext). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, readSafetensors, type VisionModel } from '../../src/index.js';
import { assertClose, goldenCases, goldenFile, goldenSkip, type GoldenCase } from '../golden.js';
import { goldenDir, hasGolden } from '../helpers.js';

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
