/**
 * src/data/pil_ops.ts against PIL itself: test/fixtures/pil_ops.json holds Pillow's outputs for
 * every op timm's RandAugment and ColorJitter call (affine with nearest/bilinear/bicubic and a fill
 * colour, rotate incl. the transpose fast paths, the ImageOps point ops, ImageEnhance) on small
 * deterministic images; ours must give the same bytes (see pil_ops_reference.py for how it was made).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as P from '../../src/data/pil_ops.js';
import type { PlanarImage } from '../../src/data/resample.js';
import { repoRoot } from '../helpers.js';

interface Fixture {
  pillow: string;
  fill: [number, number, number];
  images: Record<string, { width: number; height: number; rgb: string }>;
  cases: { name: string; image: string; op: string; args: Record<string, unknown>; out: string }[];
}

const fixture: Fixture = JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'pil_ops.json'), 'utf8'));

/** Interleaved RGB hex → planar image. */
export function planarFromHex(hex: string, width: number, height: number): PlanarImage {
  const rgb = Buffer.from(hex, 'hex');
  const n = width * height;
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[c * n + i] = rgb[i * 3 + c]!;
  return { data, channels: 3, height, width };
}

function run(img: PlanarImage, op: string, a: Record<string, unknown>, fill: readonly number[]): PlanarImage {
  const rs = a.resample as P.Resample;
  switch (op) {
    case 'affine':
      return P.affine(img, a.matrix as P.AffineMatrix, rs, fill);
    case 'rotate':
      return P.rotate(img, a.degrees as number, rs, fill);
    case 'autocontrast':
      return P.autoContrast(img);
    case 'equalize':
      return P.equalize(img);
    case 'invert':
      return P.invert(img);
    case 'solarize':
      return P.solarize(img, a.threshold as number);
    case 'posterize':
      return P.posterize(img, a.bits as number);
    case 'solarize_add':
      return P.solarizeAdd(img, a.add as number);
    case 'color':
      return P.enhanceColor(img, a.factor as number);
    case 'contrast':
      return P.enhanceContrast(img, a.factor as number);
    case 'brightness':
      return P.enhanceBrightness(img, a.factor as number);
    case 'sharpness':
      return P.enhanceSharpness(img, a.factor as number);
  }
  throw new Error(`unknown op ${op}`);
}

const byOp = new Map<string, Fixture['cases']>();
for (const c of fixture.cases) byOp.set(c.op, [...(byOp.get(c.op) ?? []), c]);

for (const [op, cases] of byOp) {
  test(`${op}: the same bytes as Pillow ${fixture.pillow} (${cases.length} cases)`, () => {
    for (const c of cases) {
      const src = fixture.images[c.image]!;
      const img = planarFromHex(src.rgb, src.width, src.height);
      const before = img.data.slice();
      const got = run(img, c.op, c.args, fixture.fill);
      const want = planarFromHex(c.out, src.width, src.height);
      assert.deepEqual([got.width, got.height, got.channels], [want.width, want.height, 3], c.name);
      let diff = 0;
      let maxDiff = 0;
      for (let i = 0; i < want.data.length; i++) {
        const d = Math.abs(got.data[i]! - want.data[i]!);
        if (d) diff++;
        maxDiff = Math.max(maxDiff, d);
      }
      assert.equal(diff, 0, `${c.name}: ${diff} of ${want.data.length} values differ (max ${maxDiff})`);
      assert.deepEqual(img.data, before, `${c.name}: the input was modified`);
    }
  });
}

test('colour ops refuse images that are not RGB', () => {
  const gray: PlanarImage = { data: new Uint8Array(16), channels: 1, height: 4, width: 4 };
  assert.throws(() => P.enhanceColor(gray, 0.5), /RGB image \(3 channels\), got 1/);
  assert.throws(() => P.enhanceSharpness(gray, 0.5), /RGB/);
});
