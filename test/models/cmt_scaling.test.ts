/**
 * CMT's compound scaling (paper §"Model scaling", spec §9): what `cmtCompoundScale` makes of φ = −2…1
 * from CMT-S, beside the released Ti/XS/S/B configs and their measured MACs ratios
 * (0.158 / 0.384 / 1 / 2.311). The released configs follow the rule only approximately; the registry
 * uses them, not the helper.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, createModel } from '../../src/index.js';
import { CMT_SCALING, CMT_VARIANTS, cmtCompoundScale, compoundFlopsFactor } from '../../src/models/cmt.js';
import { modelInfo } from '../../src/models/index.js';
import type { RawConfig } from '../../src/models/registry.js';

const gmacs = (c: RawConfig | string) => modelInfo(typeof c === 'string' ? createModel(c) : createModel({ family: 'cmt', ...c })).gmacs;

const RELEASED: [number, keyof typeof CMT_VARIANTS, number][] = [
  [-2, 'cmt_ti', 0.158],
  [-1, 'cmt_xs', 0.384],
  [0, 'cmt_s', 1],
  [1, 'cmt_b', 2.311],
];

test('the coefficients satisfy α·β^1.5·γ² ≈ 2.5 (2.35 with the spec’s α 1.2, β 1.3, γ 1.15)', () => {
  const { alpha, beta, gamma } = CMT_SCALING;
  const product = alpha * beta ** 1.5 * gamma ** 2;
  assert.equal(product.toFixed(2), '2.35');
  assert.ok(Math.abs(product - 2.5) / 2.5 < 0.1);
  assert.equal(compoundFlopsFactor(1, CMT_SCALING), product);
  assert.equal(compoundFlopsFactor(-2, CMT_SCALING), product ** -2);
});

test('φ = 0 is CMT-S itself; φ must be finite', () => {
  assert.deepEqual(cmtCompoundScale(0), CMT_VARIANTS.cmt_s);
  assert.throws(() => cmtCompoundScale(Number.NaN), ConfigError);
});

test('helper vs released Ti/XS/S/B: resolutions equal, depths within one block per stage, MACs ratios compared', (t) => {
  const s = gmacs('cmt_s');
  const rows: string[] = ['φ   variant  released MACs/S  helper MACs/S  rule (αβ^1.5γ²)^φ  2.5^φ   helper depths / dims / stem / res'];
  let previous = 0;
  for (const [phi, name, measured] of RELEASED) {
    const released = CMT_VARIANTS[name] as RawConfig & { depths: number[]; embed_dims: number[]; img_size: number };
    const scaled = cmtCompoundScale(phi) as RawConfig & { depths: number[]; embed_dims: number[]; stem_channel: number; img_size: number };
    const releasedRatio = gmacs(name) / s;
    const helperRatio = gmacs(scaled) / s;
    // The released configs' ratios, measured from their traced graphs (spec §9's table).
    assert.equal(releasedRatio.toFixed(3), measured.toFixed(3), name);
    // The rule reproduces the released resolutions exactly and the depths to ±1 block per stage.
    assert.equal(scaled.img_size, released.img_size, `${name} resolution`);
    scaled.depths.forEach((d, i) => assert.ok(Math.abs(d - released.depths[i]!) <= 1, `${name} depth of stage ${i}: ${d} vs ${released.depths[i]}`));
    // Widths were hand-tuned in the release: within 20% of the rule's.
    assert.ok(Math.abs(scaled.embed_dims[0]! / released.embed_dims[0]! - 1) < 0.2, `${name} width ${scaled.embed_dims[0]} vs ${released.embed_dims[0]}`);
    // The helper's MACs are within 25% of the release's; the release's within 10% of 2.5^φ.
    assert.ok(Math.abs(helperRatio / releasedRatio - 1) < 0.25, `${name}: helper ${helperRatio} vs released ${releasedRatio}`);
    assert.ok(Math.abs(releasedRatio / 2.5 ** phi - 1) < 0.1, `${name}: released ${releasedRatio} vs 2.5^φ`);
    assert.ok(helperRatio > previous, 'MACs grow with φ');
    previous = helperRatio;
    rows.push(
      `${String(phi).padStart(2)}  ${name.padEnd(7)}  ${releasedRatio.toFixed(3).padStart(15)}  ${helperRatio.toFixed(3).padStart(13)}  ` +
        `${compoundFlopsFactor(phi, CMT_SCALING).toFixed(3).padStart(17)}  ${(2.5 ** phi).toFixed(3).padStart(5)}   ` +
        `[${scaled.depths}] / [${scaled.embed_dims}] / ${scaled.stem_channel} / ${scaled.img_size}`,
    );
  }
  for (const r of rows) t.diagnostic(r);
});
