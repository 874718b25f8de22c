/** Parameter counts equal the spec's table for all 17 ConvNeXt variants; GMACs match the papers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, listModels } from '../../src/index.js';

// ../shared/spec/convnext.md §3.1: computed params (timm, 1000 classes) and the papers' GFLOPs (=GMACs)
// (analytic GMACs for the timm-only small V1 variants, which have no paper figure).
const SPEC: [string, number, number][] = [
  ['convnext_atto', 3_695_520, 0.547],
  ['convnext_femto', 5_217_784, 0.78],
  ['convnext_pico', 9_045_672, 1.367],
  ['convnext_nano', 15_593_560, 2.446],
  ['convnext_tiny', 28_589_128, 4.5],
  ['convnext_small', 50_223_688, 8.7],
  ['convnext_base', 88_591_464, 15.4],
  ['convnext_large', 197_767_336, 34.4],
  ['convnext_xlarge', 350_196_968, 60.9],
  ['convnextv2_atto', 3_708_400, 0.55],
  ['convnextv2_femto', 5_233_240, 0.78],
  ['convnextv2_pico', 9_066_280, 1.37],
  ['convnextv2_nano', 15_623_800, 2.45],
  ['convnextv2_tiny', 28_635_496, 4.47],
  ['convnextv2_base', 88_717_800, 15.4],
  ['convnextv2_large', 197_956_840, 34.4],
  ['convnextv2_huge', 660_289_640, 115],
];

/** Agree to 2 significant digits: differ by less than half a unit in the paper figure's 2nd digit. */
const agreesTo2Sig = (ours: number, paper: number) => Math.abs(ours - paper) < 0.5 * 10 ** (Math.floor(Math.log10(paper)) - 1);

test('all 17 ConvNeXt variants are registered', () => {
  assert.deepEqual(listModels('convnext*').map((m) => m.name).sort(), SPEC.map(([n]) => n).sort());
});

for (const [name, params, gmacs] of SPEC) {
  test(`${name}: ${params} params, ${gmacs} GMACs (2 significant digits), counted from the traced graph`, () => {
    const [info] = listModels(name);
    assert.ok(info);
    assert.equal(info.params, params);
    assert.ok(agreesTo2Sig(info.gmacs, gmacs), `GMACs ${info.gmacs} vs ${gmacs}`);
    assert.deepEqual(info.inputSize, [3, 224, 224]);
  });
}

test('the closed form of spec §3.1 holds for a custom config', () => {
  // stem 51·C0; downsample 2C_{i-1} + 4C_{i-1}C_i + C_i; V2 block 8C² + 65C; head 2C3 + K·C3 + K
  const dims = [16, 32, 64, 128];
  const depths = [1, 1, 2, 1];
  const k = 10;
  let expected = 51 * dims[0]!;
  dims.forEach((c, i) => {
    if (i > 0) expected += 2 * dims[i - 1]! + 4 * dims[i - 1]! * c + c;
    expected += depths[i]! * (8 * c * c + 65 * c);
  });
  expected += 2 * dims[3]! + k * dims[3]! + k;
  assert.equal(createModel({ family: 'convnextv2', depths, dims, num_classes: k }).numParameters(), expected);
});
