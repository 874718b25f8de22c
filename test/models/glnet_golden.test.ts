/**
 * GLNet parity with the reference PyTorch code (../shared/golden/glnet): logits, the four stage maps
 * and the first GLMix block's slot maps (assignment logits, dispatch and clustering weights), for
 * both stage layouts, learned slots, the token-labelling head and a 224² input with uneven pooling bins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, readSafetensors, type Tensor, type VisionModel } from '../../src/index.js';
import { assertClose, goldenCases, goldenFile, type GoldenCase } from '../golden.js';
import { goldenSkip } from '../helpers.js';

const FAMILY = 'glnet';
const skip = goldenSkip(FAMILY);

interface Tol {
  max_abs: number;
  rel: number;
}

export function glnetFromCase(c: GoldenCase): VisionModel {
  return createModel({ family: 'glnet', ...(c.config as Record<string, unknown>) });
}

const evalCases = skip ? [] : goldenCases(FAMILY).filter((c) => String(c.mode).startsWith('eval'));

test('golden eval cases exist', { skip }, () => {
  assert.ok(evalCases.length >= 5, `expected ≥ 5 eval cases, got ${evalCases.length}`);
});

for (const c of evalCases) {
  test(`${c.name}: logits, 4 stage maps and the first GLMix block's slot maps`, { skip }, async (t) => {
    const tol = c.tolerance as Record<'logits' | 'features' | 'assign', Tol>;
    const model = glnetFromCase(c);
    await model.loadWeights(goldenFile(FAMILY, c.files.weights!));
    assert.equal(model.numParameters(), c.num_params);
    const io = await readSafetensors(goldenFile(FAMILY, c.files.io!));
    const out = await model.run(io.get('input')!, { features: true, slots: true });
    const check = (label: string, ours: Tensor, tl: Tol) => t.diagnostic(assertClose(label, ours, io.get(label)!, tl.rel, tl.max_abs));
    check('logits', out.logits, tol.logits);
    assert.equal(out.features.length, 4);
    out.features.forEach((f, i) => check(`features.${i}`, f, tol.features));
    const slots = out.slots as Record<string, { assignLogits: Tensor; assign: Tensor; cluster: Tensor }>;
    const first = slots[c.first_glmix_block as string];
    assert.ok(first, `slots has ${c.first_glmix_block} (keys: ${Object.keys(slots).join(', ')})`);
    check('assign_logits.0', first.assignLogits, tol.assign);
    check('assign.0', first.assign, tol.assign);
    check('cluster.0', first.cluster, tol.assign);
  });
}
