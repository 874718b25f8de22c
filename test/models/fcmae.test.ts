/**
 * FCMAE (../shared/golden/convnext, case fcmae_*): with the stored mask, pred, latent, encoder maps and
 * loss equal the reference from the dense-named weights and from the official sparse checkpoint;
 * masked pixels cannot change visible outputs or the loss; bad masks and options are typed errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ShapeError, Tensor, engine, readSafetensors } from '../../src/index.js';
import { createFcmae, type Fcmae } from '../../src/tasks/fcmae.js';
import { assertClose, goldenCases, goldenFile } from '../golden.js';
import { hasGolden } from '../helpers.js';

if (!hasGolden('convnext') && process.env.CI === 'true') throw new Error('CI: ../shared/golden/convnext is missing');
const skip = !hasGolden('convnext') && 'no ../shared/golden/convnext';
const ENCODER = { family: 'convnextv2', depths: [1, 1, 2, 1], dims: [16, 32, 64, 128] };
const OPTIONS = { decoder_embed_dim: 32, patch_size: 32, mask_ratio: 0.6, norm_pix_loss: true };

const tiny = (o: Record<string, unknown> = {}) => createFcmae(engine, ENCODER, { ...OPTIONS, ...o });

for (const weights of ['weights', 'weights_official_sparse'] as const) {
  test(`FCMAE golden: pred, latent, encoder maps and loss with the stored mask (${weights})`, { skip }, async (t) => {
    const c = goldenCases('convnext').find((x) => x.name.startsWith('fcmae'))!;
    const f = tiny();
    await f.loadWeights(goldenFile('convnext', c.files[weights]!));
    const io = await readSafetensors(goldenFile('convnext', c.files.fcmae!));
    const x = io.get('input')!;
    const mask = io.get('mask')!;
    const tol = c.tolerance as { pred: { rel_to_absmax: number; max_abs_floor: number }; loss: { rel: number } };
    const r = await f.run(x, { mask });
    t.diagnostic(assertClose('pred', r.pred, io.get('pred')!, tol.pred.rel_to_absmax, tol.pred.max_abs_floor));
    const want = io.get('loss')!.toArray()[0]!;
    assert.ok(Math.abs(r.loss - want) <= tol.loss.rel * Math.abs(want), `loss ${r.loss} vs ${want}`);
    t.diagnostic(`loss ${r.loss} vs ${want} (rel ${(Math.abs(r.loss - want) / want).toExponential(2)})`);
    const e = await engine.evaluate(f.net, x, mask, { objective: f.objective, outputs: ['latent', 'features'] });
    t.diagnostic(assertClose('latent', e.outputs.latent as Tensor, io.get('latent')!, tol.pred.rel_to_absmax, tol.pred.max_abs_floor));
    (e.outputs.features as Tensor[]).forEach((m, i) => assertClose(`features.${i}`, m, io.get(`encoder.features.${i}`)!, tol.pred.rel_to_absmax, tol.pred.max_abs_floor));
  });
}

test('pixels inside masked patches change neither the encoder nor the prediction (only the loss targets)', { skip }, async () => {
  const f = tiny();
  const c = goldenCases('convnext').find((x) => x.name.startsWith('fcmae'))!;
  await f.loadWeights(goldenFile('convnext', c.files.weights!));
  const io = await readSafetensors(goldenFile('convnext', c.files.fcmae!));
  const x = io.get('input')!;
  const mask = io.get('mask')!;
  const m = mask.data as Float32Array;
  // Scribble over every masked 32×32 patch.
  const y = new Float32Array(x.data as Float32Array);
  for (let n = 0; n < 2; n++)
    for (let ch = 0; ch < 3; ch++)
      for (let r = 0; r < 128; r++)
        for (let col = 0; col < 128; col++)
          if (m[n * 16 + Math.floor(r / 32) * 4 + Math.floor(col / 32)] === 1) y[((n * 3 + ch) * 128 + r) * 128 + col] = 100 * Math.sin(r * col + ch);
  const a = await engine.evaluate(f.net, x, mask, { objective: f.objective, outputs: ['latent', 'features', 'pred'] });
  const b = await engine.evaluate(f.net, new Tensor(y, x.shape, 'float32'), mask, { objective: f.objective, outputs: ['latent', 'features', 'pred'] });
  assert.deepEqual((b.outputs.latent as Tensor).data, (a.outputs.latent as Tensor).data);
  (b.outputs.features as Tensor[]).forEach((t, i) => assert.deepEqual(t.data, (a.outputs.features as Tensor[])[i]!.data, `features.${i}`));
  assert.deepEqual((b.outputs.pred as Tensor).data, (a.outputs.pred as Tensor).data, 'the prediction sees visible pixels only');
  // The loss does change: its targets are the masked pixels themselves.
  assert.notEqual(b.loss, a.loss);
});

test('random masks: floor(L·(1 − ratio)) visible patches per image, seeded', { skip }, async () => {
  const f = tiny();
  const x = new Tensor(new Float32Array(2 * 3 * 128 * 128).map((_, i) => Math.sin(i)), [2, 3, 128, 128], 'float32');
  f.net.seed(3);
  const a = await f.run(x);
  f.net.seed(3);
  const b = await f.run(x);
  assert.deepEqual(a.mask.data, b.mask.data);
  const md = a.mask.data as Float32Array;
  for (let n = 0; n < 2; n++) assert.equal(md.subarray(n * 16, (n + 1) * 16).filter((v) => v === 0).length, Math.floor(16 * 0.4));
  assert.equal(a.loss, b.loss);
});

test('bad masks and options are typed errors naming the option and the expected value', async () => {
  const f: Fcmae = tiny();
  const x = new Tensor(new Float32Array(2 * 3 * 128 * 128), [2, 3, 128, 128], 'float32');
  const isConfig = (re: RegExp) => (e: unknown) => e instanceof ConfigError && re.test(e.message);
  await assert.rejects(f.run(x, { mask: new Tensor(new Float32Array(2 * 15), [2, 15], 'float32') }), isConfig(/mask must be a float32 Tensor \[2, 16\]/));
  const half = new Float32Array(32).fill(1);
  half[5] = 0.5;
  await assert.rejects(f.run(x, { mask: new Tensor(half, [2, 16], 'float32') }), isConfig(/mask values must be 0 \(visible\) or 1 \(masked\); mask\[0, 5\] is 0\.5/));
  await assert.rejects(f.run(new Tensor(new Float32Array(2 * 3 * 100 * 100), [2, 3, 100, 100], 'float32')), (e: unknown) => e instanceof ShapeError && /100×100 must be divisible by patch_size 32/.test(e.message));
  assert.throws(() => tiny({ mask_ratio: 1 }), isConfig(/mask_ratio' of family 'fcmae' must be number ≥ 0 < 1, got 1/));
  assert.throws(() => tiny({ mask_ratio: 0 }), isConfig(/mask_ratio.*must be in \(0, 1\), got 0/));
  assert.throws(() => tiny({ patch_size: 16 }), isConfig(/patch_size must equal the encoder's total stride, 32.*got 16/));
  assert.throws(() => createFcmae(engine, { family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 8, 8, 8] }, {}), isConfig(/encoder has no GRN.*require_grn/));
  assert.doesNotThrow(() => createFcmae(engine, { family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 8, 8, 8] }, { require_grn: false }));
  assert.throws(() => createFcmae(engine, ENCODER, { decoderEmbedDim: 8, decoder_embed_dim: 8 }), isConfig(/given once/));
});
