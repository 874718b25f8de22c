/**
 * MobileViT parity with the reference PyTorch code (../shared/golden/mobilevit): logits and the five
 * stage maps of every inference case, from the timm-named weights and from the same weights under
 * ml-cvnets' names (keymaps.json), with and without BatchNorm's num_batches_tracked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readSafetensors, Tensor } from '../../src/index.js';
import { goldenCases, goldenFile, type GoldenCase } from '../golden.js';
import { FAMILY, assertElementwise, goldenModel, skip, type Tolerance } from './mobilevit_cases.js';

type Naming = 'timm' | 'ml-cvnets' | 'timm + num_batches_tracked';

/** The case's weights under the given naming (keymaps.json gives the ml-cvnets name of every key). */
async function weights(c: GoldenCase, naming: Naming): Promise<Map<string, Tensor>> {
  const sd = await readSafetensors(goldenFile(FAMILY, c.files.weights!));
  if (naming === 'timm') return sd;
  const keymap = (JSON.parse(readFileSync(goldenFile(FAMILY, 'keymaps.json'), 'utf8')) as Record<string, { timm: string; cvnets: string }[]>)[
    c.model as string
  ]!;
  const out = new Map<string, Tensor>();
  for (const { timm, cvnets } of keymap) {
    const t = timm.endsWith('num_batches_tracked') ? new Tensor(BigInt64Array.of(7n), [], 'int64') : sd.get(timm);
    assert.ok(t, `golden weights hold ${timm}`);
    out.set(naming === 'ml-cvnets' ? cvnets : timm, t);
  }
  assert.equal(out.size, keymap.length);
  return out;
}

const inferenceCases = skip ? [] : goldenCases(FAMILY).filter((c) => c.mode.startsWith('eval'));

test('golden inference cases exist (full XXS, batch 2, the resize path)', { skip }, () => {
  assert.deepEqual(inferenceCases.map((c) => c.name).sort(), ['mobilevit_xxs_256_eval', 'tiny_100x120_eval_interp', 'tiny_64_eval']);
});

for (const c of inferenceCases) {
  for (const naming of ['timm', 'ml-cvnets', 'timm + num_batches_tracked'] as const) {
    test(`${c.name}: logits and 5 stage maps (${naming} names)`, { skip }, async (t) => {
      const tol = c.suggested_tolerance as Tolerance;
      const model = goldenModel(c);
      await model.loadWeights(await weights(c, naming));
      const io = await readSafetensors(goldenFile(FAMILY, c.files.io!));
      const out = await model.run(io.get('input')!, { features: true });
      t.diagnostic(assertElementwise('logits', out.logits, io.get('logits')!, tol).line);
      assert.equal(out.features.length, 5);
      out.features.forEach((f, i) => t.diagnostic(assertElementwise(`features.${i}`, f, io.get(`features.${i}`)!, tol).line));
      if (naming !== 'timm') {
        // A loaded counter is kept (ml-cvnets and torch checkpoints carry it).
        const sd = model.stateDict();
        assert.deepEqual(sd['stem.bn.num_batches_tracked']!.toArray(), [7]);
      }
    });
  }
}
