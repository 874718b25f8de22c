/**
 * PIL-exact preprocessing on real photos (../shared/golden/transforms: PIL decode + torchvision
 * Resize/CenterCrop/ToTensor/Normalize): the resized uint8 image within one level of PIL's, the
 * final tensor within 1/255/std — through the sharp decoder and the pure-JS one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../../src/index.js';
import { roundHalfEven } from '../../src/data/image_transform.js';
import { resizeImage } from '../../src/data/resample.js';
import { loadImage } from '../../src/io/load_image.js';
import { createTransform } from '../../src/tasks/transform.js';
import { goldenDir, sharedSkip } from '../helpers.js';

interface TransformCases {
  configs: Record<string, { size: number; crop_pct: number; interp: 'bicubic' | 'bilinear'; norm: { mean: number[]; std: number[] } | null }>;
  cases: { image: string; decoded_size_wh: [number, number]; file: string }[];
}

const DIR = goldenDir('transforms');
const missing = !existsSync(join(DIR, 'cases.json'));
const skip = sharedSkip(join('golden', 'transforms', 'cases.json'));
const golden: TransformCases = missing ? { configs: {}, cases: [] } : JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8'));

for (const decoder of ['sharp', 'js'] as const) {
  for (const c of golden.cases) {
    test(`${c.image} (${decoder} decoder): resized uint8 within 1 level of PIL, tensors within 1/255/std`, { skip }, async (t) => {
      const img = await loadImage(join(DIR, c.image), { decoder });
      assert.deepEqual([img.width, img.height], c.decoded_size_wh);
      const ref = await readSafetensors(join(DIR, c.file));
      for (const [name, cfg] of Object.entries(golden.configs)) {
        const mean = (cfg.norm?.mean ?? [0, 0, 0]) as [number, number, number];
        const std = (cfg.norm?.std ?? [1, 1, 1]) as [number, number, number];
        const tf = createTransform({ inputSize: [3, cfg.size, cfg.size], cropPct: cfg.crop_pct, interpolation: cfg.interp, mean, std });
        const resized = await tf.resize(img);
        const wantResized = ref.get(`${name}.resized_uint8`)!;
        assert.deepEqual([1, 3, resized.height, resized.width], wantResized.shape, `${name} resized shape`);
        const a = resized.data;
        const b = wantResized.data as Uint8Array;
        let worst = 0;
        let off = 0;
        for (let i = 0; i < b.length; i++) {
          const d = Math.abs(a[i]! - b[i]!);
          worst = Math.max(worst, d);
          if (d) off++;
        }
        assert.ok(worst <= 1, `${name}: resized max |diff| ${worst} levels`);
        const x = await tf(img);
        const want = ref.get(name)!;
        assert.deepEqual(x.shape, want.shape);
        const xd = x.data as Float32Array;
        const wd = want.data as Float32Array;
        const plane = cfg.size * cfg.size;
        let worstT = 0;
        for (let i = 0; i < wd.length; i++) {
          const tol = 1 / 255 / std[Math.floor(i / plane)]! + 1e-6;
          const d = Math.abs(xd[i]! - wd[i]!);
          worstT = Math.max(worstT, d / tol);
        }
        assert.ok(worstT <= 1, `${name}: tensor off by ${worstT.toFixed(2)}× the tolerance`);
        t.diagnostic(`${name}: resized max |diff| ${worst} (${off} of ${b.length} values differ); tensor within ${(worstT * 100).toFixed(0)}% of tolerance`);
      }
    });
  }
}

test('PNG: the sharp and pure-JS decoders give identical pixels', { skip }, async () => {
  for (const c of golden.cases.filter((x) => x.image.endsWith('.png'))) {
    const a = await loadImage(join(DIR, c.image), { decoder: 'sharp' });
    const b = await loadImage(join(DIR, c.image), { decoder: 'js' });
    assert.deepEqual(a, b, c.image);
  }
});

test("torchvision's crop offsets round halves to even (Python's round)", () => {
  assert.deepEqual([0.5, 1.5, 2.5, 34.5, 3.2, 3.7].map(roundHalfEven), [0, 2, 2, 34, 3, 4]);
});

test('resize: identity at the same size; upscaling and downscaling keep a constant image constant', () => {
  const img = { data: new Uint8Array(3 * 5 * 7).fill(200), channels: 3, height: 5, width: 7 };
  assert.deepEqual(resizeImage(img, 7, 5, 'bicubic').data, img.data);
  for (const [w, h] of [[3, 2], [20, 11], [7, 2], [1, 1]] as const)
    for (const f of ['bicubic', 'bilinear'] as const) {
      const r = resizeImage(img, w, h, f);
      assert.equal(r.data.length, 3 * w * h);
      assert.ok(r.data.every((v) => v === 200), `${f} ${w}×${h}`);
    }
});

test('resize of a region = that region of the whole resize (both filters, shrinking, enlarging, one axis kept)', () => {
  let s = 7;
  const img = { data: Uint8Array.from({ length: 3 * 37 * 53 }, () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) >> 8) & 255), channels: 3, height: 37, width: 53 };
  const region = (full: { data: Uint8Array; width: number; height: number }, r: { left: number; top: number; width: number; height: number }) => {
    const out: number[] = [];
    for (let ch = 0; ch < 3; ch++) for (let y = 0; y < r.height; y++) for (let x = 0; x < r.width; x++) out.push(full.data[(ch * full.height + r.top + y) * full.width + r.left + x]!);
    return out;
  };
  for (const f of ['bicubic', 'bilinear'] as const)
    for (const [w, h] of [[29, 21], [80, 61], [53, 20], [30, 37], [53, 37]] as const)
      for (const r of [{ left: 0, top: 0, width: w, height: h }, { left: 3, top: 2, width: w - 7, height: h - 5 }, { left: w - 1, top: h - 1, width: 1, height: 1 }]) {
        const part = resizeImage(img, w, h, f, r);
        assert.deepEqual([part.width, part.height], [r.width, r.height]);
        assert.deepEqual(Array.from(part.data), region(resizeImage(img, w, h, f), r), `${f} ${w}×${h} region ${JSON.stringify(r)}`);
      }
  assert.throws(() => resizeImage(img, 20, 20, 'bicubic', { left: 15, top: 0, width: 6, height: 4 }), /not inside the 20×20 output/);
});
