/**
 * loadImage = PIL's Image.open(p).convert('RGB'), for both decoders, on images made here with
 * known pixels: grayscale replicated, palette expanded, alpha dropped (not composited), 16-bit
 * reduced as PIL does, EXIF orientation not applied; bad files are DataErrors naming the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { DataError } from '../../src/index.js';
import { decodeImage } from '../../src/io/image.js';
import { loadImage, type LoadImageOptions } from '../../src/io/load_image.js';

const DECODERS = ['sharp', 'js'] as const;
const dir = mkdtempSync(join(tmpdir(), 'vm-img-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A PNG with explicit colour type and bit depth (pngjs writes exactly what it is given). */
function png(name: string, w: number, h: number, colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16, samples: number[]): string {
  const p = new PNG({ width: w, height: h, colorType, inputColorType: colorType, bitDepth, inputHasAlpha: colorType === 4 || colorType === 6 });
  const per = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  if (bitDepth === 16) {
    const buf = Buffer.alloc(w * h * per * 2);
    samples.forEach((v, i) => buf.writeUInt16LE(v, i * 2)); // pngjs takes native-endian 16-bit input
    p.data = buf;
  } else p.data = Buffer.from(samples);
  const path = join(dir, name);
  writeFileSync(path, PNG.sync.write(p, { colorType, inputColorType: colorType, bitDepth, inputHasAlpha: colorType === 4 || colorType === 6 }));
  return path;
}

const planes = (img: { data: Uint8Array; width: number; height: number }) => {
  const n = img.width * img.height;
  return [0, 1, 2].map((c) => Array.from(img.data.subarray(c * n, (c + 1) * n)));
};

for (const decoder of DECODERS) {
  const o: LoadImageOptions = { decoder };

  test(`${decoder}: 8-bit gray is replicated; RGBA and gray+alpha drop alpha without compositing`, async () => {
    const gray = await loadImage(png('g8.png', 2, 1, 0, 8, [10, 250]), o);
    assert.deepEqual(planes(gray), [[10, 250], [10, 250], [10, 250]]);
    const rgba = await loadImage(png('rgba.png', 2, 1, 6, 8, [255, 0, 0, 0, 1, 2, 3, 128]), o);
    assert.deepEqual(planes(rgba), [[255, 1], [0, 2], [0, 3]], 'a fully transparent red pixel stays red');
    const la = await loadImage(png('la.png', 1, 1, 4, 8, [77, 0]), o);
    assert.deepEqual(planes(la), [[77], [77], [77]]);
  });

  test(`${decoder}: 16-bit colour keeps the high byte; 16-bit gray clips at 255 (PIL's mode I)`, async () => {
    const rgb16 = await loadImage(png('rgb16.png', 1, 1, 2, 16, [0x1234, 0xff00, 0x00ff]), o);
    assert.deepEqual(planes(rgb16), [[0x12], [0xff], [0x00]]);
    const g16 = await loadImage(png('g16.png', 3, 1, 0, 16, [100, 255, 4000]), o);
    assert.deepEqual(planes(g16), [[100, 255, 255], [100, 255, 255], [100, 255, 255]]);
  });

  test(`${decoder}: palette images are expanded`, async () => {
    const path = join(dir, 'pal.png');
    const rgb = Buffer.from([200, 10, 20, 30, 40, 250, 200, 10, 20, 30, 40, 250]);
    await sharp(rgb, { raw: { width: 4, height: 1, channels: 3 } }).png({ palette: true, colours: 2, dither: 0 }).toFile(path);
    assert.deepEqual(planes(await loadImage(path, o)), [[200, 30, 200, 30], [10, 40, 10, 40], [20, 250, 20, 250]]);
  });

  test(`${decoder}: a JPEG's EXIF orientation is not applied (as PIL's open)`, async () => {
    const path = join(dir, 'rot.jpg');
    const px = Buffer.alloc(6 * 4 * 3, 128);
    await sharp(px, { raw: { width: 6, height: 4, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toFile(path);
    assert.equal((await sharp(path).metadata()).orientation, 6);
    const img = await loadImage(path, o);
    assert.deepEqual([img.width, img.height], [6, 4], 'stored size, not rotated');
  });

  test(`${decoder}: missing, empty, corrupt, truncated and oversized images are DataErrors naming the file`, async () => {
    const isData = (re: RegExp) => (e: unknown) => e instanceof DataError && re.test(e.message);
    await assert.rejects(loadImage(join(dir, 'nope.png'), o), isData(/image not found: .*nope\.png/));
    writeFileSync(join(dir, 'empty.png'), '');
    await assert.rejects(loadImage(join(dir, 'empty.png'), o), isData(/empty\.png.*empty/));
    writeFileSync(join(dir, 'junk.png'), 'this is not an image at all');
    await assert.rejects(loadImage(join(dir, 'junk.png'), o), isData(/cannot decode image .*junk\.png/));
    const good = await sharp(Buffer.alloc(64 * 64 * 3, 90), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
    writeFileSync(join(dir, 'cut.jpg'), good.subarray(0, 40));
    await assert.rejects(loadImage(join(dir, 'cut.jpg'), o), isData(/cut\.jpg/));
    writeFileSync(join(dir, 'big.jpg'), good);
    await assert.rejects(loadImage(join(dir, 'big.jpg'), { ...o, maxPixels: 1000 }), isData(/big\.jpg is 64×64 = 4096 pixels, more than the limit of 1000/));
    await assert.rejects(loadImage(null as never, o), isData(/expected a file path, an http\(s\) URL or the image's bytes/));
    await assert.rejects(loadImage(dir, o), isData(/is a folder/));
  });
}

test('both decoders agree on a JPEG photo-like image and on bytes given directly', async () => {
  const raw = Buffer.from(Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 37 + ((i / 120) | 0) * 11) % 256));
  const bytes = await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).jpeg({ quality: 80, chromaSubsampling: '4:2:0' }).toBuffer();
  const a = await loadImage(new Uint8Array(bytes), { decoder: 'sharp' });
  const b = await loadImage(new Uint8Array(bytes), { decoder: 'js' });
  assert.deepEqual(a, b);
});

test('the decoder without native code reads PNG and JPEG only; others are DataErrors', async () => {
  const webp = await sharp(Buffer.alloc(4 * 4 * 3, 5), { raw: { width: 4, height: 4, channels: 3 } }).webp().toBuffer();
  assert.equal((await loadImage(new Uint8Array(webp), { decoder: 'sharp' })).width, 4);
  await assert.rejects(loadImage(new Uint8Array(webp), { decoder: 'js' }), (e: unknown) => e instanceof DataError && /PNG and JPEG only/.test(e.message));
});

test('20.12: a CMYK JPEG is refused the same way on every decode path (sharp, WebAssembly, the grayscale path of Fashion-MNIST runs)', async () => {
  const px = Buffer.alloc(8 * 8 * 3, 120);
  const path = join(dir, 'cmyk.jpg');
  writeFileSync(path, await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer());
  assert.equal((await sharp(path).metadata()).space, 'cmyk');
  const refused = (e: unknown) => e instanceof DataError && e.message === `image ${path} is CMYK: convert it to RGB first (PIL's naive CMYK→RGB is not reproduced)`;
  for (const decoder of DECODERS) await assert.rejects(loadImage(path, { decoder }), refused, decoder);
  await assert.rejects(decodeImage(path, 1, { resizeTo: 28 }), refused, 'io/image.ts');
});

test('20.12: the JS PNG decoder checks the pixel limit from the header before decoding', async () => {
  // A 12×12 PNG whose image data is cut off: the size check must answer before pngjs reads the data.
  const good = PNG.sync.write(Object.assign(new PNG({ width: 12, height: 12 }), { data: Buffer.alloc(12 * 12 * 4, 7) }));
  const path = join(dir, 'cut.png');
  writeFileSync(path, good.subarray(0, 40));
  await assert.rejects(loadImage(path, { decoder: 'js', maxPixels: 100 }), (e: unknown) => e instanceof DataError && /is 12×12 = 144 pixels, more than the limit of 100/.test(e.message));
  // A header claiming 100000 × 100000 pixels is refused by the default limit, without allocating 40 GB.
  const huge = Buffer.from(good);
  huge.writeUInt32BE(100_000, 16);
  huge.writeUInt32BE(100_000, 20);
  writeFileSync(path, huge);
  await assert.rejects(loadImage(path, { decoder: 'js' }), (e: unknown) => e instanceof DataError && /100000×100000 = 10000000000 pixels, more than the limit/.test(e.message));
});

test('20.12: the WebAssembly JPEG decoder is instantiated on first use: the library imports and runs a model under ulimit -v 6 GB', () => {
  const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
  const script =
    `const m = await import(${JSON.stringify(entry)});` +
    `const model = m.createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 2 });` +
    `const out = await model.run(m.Tensor.from(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]));` +
    `const img = await m.loadImage(${JSON.stringify(png('small.png', 1, 1, 2, 8, [1, 2, 3]))}, { decoder: 'js' });` +
    `console.log(out.logits.shape.join('x'), img.width);`;
  const r = spawnSync('bash', ['-c', `ulimit -v 6000000 && exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '1x2 1');
});
