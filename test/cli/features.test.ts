/** `visionmix features`: embeddings of a folder of photos, equal to the model's own pre-logits; .npy output; bad images skipped. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, readSafetensors } from '../../src/index.js';
import { loadImage } from '../../src/io/load_image.js';
import { createTransform } from '../../src/tasks/transform.js';
import { goldenDir, goldenSkip, runCli } from '../helpers.js';

const skip = goldenSkip('convnext');

test('features: pooled embeddings of a folder = pool + LayerNorm of the model on the transformed images; .npy beside', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vm-feat-'));
  try {
    const imgs = join(dir, 'imgs');
    const photos = ['chelsea.png', 'hubble_deep_field.jpg'];
    mkdirSync(imgs);
    for (const p of photos) copyFileSync(join(goldenDir('transforms'), p), join(imgs, p));
    writeFileSync(join(imgs, 'broken.jpg'), 'not a jpeg');
    const weights = join(goldenDir('convnext'), 'convnext_atto_224.weights.safetensors');
    const out = join(dir, 'emb.safetensors');
    const r = runCli(['features', '-m', 'convnext_atto', '--weights', weights, imgs, '-o', out, '--npy', '--batch', '1', '--json']);
    assert.equal(r.status, 1, 'one image could not be read');
    assert.match(r.stderr, /skipped .*broken\.jpg: cannot decode image/);
    const summary = JSON.parse(r.stdout) as { images: number; tensors: Record<string, number[]> };
    assert.equal(summary.images, 2);
    assert.deepEqual(summary.tensors, { pooled: [2, 320] });

    const file = await readSafetensors(out);
    const got = file.get('pooled')!;
    // Reference: the model with its classifier removed on each transformed photo.
    const m = createModel('convnext_atto');
    await m.loadWeights(weights);
    m.resetClassifier(0);
    const tf = createTransform('convnext_atto');
    for (const [i, p] of photos.sort().entries()) {
      const want = (await m.run(await tf(await loadImage(join(imgs, p))))).logits.data as Float32Array;
      const row = (got.data as Float32Array).subarray(i * 320, (i + 1) * 320);
      assert.ok(want.every((v, k) => Math.abs(v - row[k]!) < 1e-5), p);
    }
    // The .npy holds the same array (header per NumPy's format 1.0).
    const npy = readFileSync(join(dir, 'emb.pooled.npy'));
    assert.equal(npy.subarray(1, 6).toString(), 'NUMPY');
    const headerLen = npy.readUInt16LE(8);
    assert.match(npy.subarray(10, 10 + headerLen).toString(), /'descr': '<f4', 'fortran_order': False, 'shape': \(2, 320\)/);
    assert.equal((10 + headerLen) % 64, 0);
    const data = new Float32Array(npy.buffer.slice(npy.byteOffset + 10 + headerLen, npy.byteOffset + npy.length));
    assert.deepEqual(data, got.data);

    // Batch 2 from chunks of 1 image per worker task (the unreadable one first): the same rows, in file order.
    const out2 = join(dir, 'emb2.safetensors');
    const r2 = runCli(['features', '-m', 'convnext_atto', '--weights', weights, imgs, '-o', out2, '--batch', '2', '--workers', '2', '--json']);
    assert.equal(r2.status, 1);
    const s2 = JSON.parse(r2.stdout) as { images: number; seconds: Record<string, number> };
    assert.equal(s2.images, 2);
    assert.ok(s2.seconds.waiting! >= 0 && s2.seconds.decode! > 0, JSON.stringify(s2.seconds));
    const got2 = (await readSafetensors(out2)).get('pooled')!;
    assert.deepEqual(got2.shape, [2, 320]);
    assert.ok((got2.data as Float32Array).every((v, k) => Math.abs(v - (got.data as Float32Array)[k]!) < 1e-5));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('features: usage errors name the option', async () => {
  const r = runCli(['features', '-m', 'convnext_atto', 'nowhere/', '-o', '/tmp/x.bin']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--out must name a \.safetensors file/);
  const r2 = runCli(['features', '-m', 'convnext_atto', '/definitely/not/here.png', '-o', '/tmp/vm-features-none.safetensors']);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /skipped \/definitely\/not\/here\.png: image not found/);
});
