/**
 * The decoder without Node (data/decode_image.ts: the browser entry's): every PNG layout (bit depths,
 * palettes, gray + alpha, 16-bit, Adam7 interlacing) and JPEG give the pixels of Node's decoders
 * (sharp / libvips, which PIL matches), and bad bytes are DataErrors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImageBytes } from '../../src/data/decode_image.js';
import { jpegDecoderFromWasm } from '../../src/data/jpeg_wasm.js';
import { DataError } from '../../src/errors.js';
import { loadImage } from '../../src/io/load_image.js';
import { repoRoot, sharedDir, sharedSkip } from '../helpers.js';

const wasm = readFileSync(join(repoRoot, 'node_modules', '@cwasm', 'jpeg-turbo', 'jpeg-turbo.wasm'));
const jpeg = jpegDecoderFromWasm(wasm);
const decode = async (b: Uint8Array) => decodeImageBytes(b, { jpeg: () => jpeg });

/** A deterministic RGBA test pattern. */
function pattern(w: number, h: number, channels: number): Buffer {
  const b = Buffer.alloc(w * h * channels);
  for (let i = 0; i < b.length; i++) b[i] = (i * 37 + ((i / channels) | 0) * 11) & 0xff;
  return b;
}

async function sameAsSharp(bytes: Buffer, what: string): Promise<void> {
  const ours = await decode(new Uint8Array(bytes));
  const ref = await loadImage(new Uint8Array(bytes));
  assert.deepEqual([ours.width, ours.height], [ref.width, ref.height], what);
  assert.ok(Buffer.from(ours.data).equals(Buffer.from(ref.data)), `${what}: pixels differ from sharp's`);
}

test('decodeImageBytes: PNG layouts give sharp’s pixels', async () => {
  const [w, h] = [13, 9];
  const rgb = pattern(w, h, 3);
  const rgba = pattern(w, h, 4);
  const gray = pattern(w, h, 1);
  const cases: [string, Promise<Buffer>][] = [
    ['rgb8', sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer()],
    ['rgba8', sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer()],
    ['rgb8 interlaced', sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png({ progressive: true }).toBuffer()],
    ['gray8', sharp(gray, { raw: { width: w, height: h, channels: 1 } }).png().toBuffer()],
    ['gray8 interlaced', sharp(gray, { raw: { width: w, height: h, channels: 1 } }).png({ progressive: true }).toBuffer()],
    ['palette 4 bit', sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png({ palette: true, colours: 16, dither: 0 }).toBuffer()],
    ['palette 8 bit', sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png({ palette: true, colours: 200, dither: 0 }).toBuffer()],
    ['rgb16', sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).toColourspace('rgb16').png().toBuffer()],
    ['gray+alpha', sharp(pattern(w, h, 2), { raw: { width: w, height: h, channels: 2 } }).png().toBuffer()],
  ];
  for (const [what, bytes] of cases) await sameAsSharp(await bytes, what);
});

test('decodeImageBytes: JPEG through the WebAssembly libjpeg-turbo gives sharp’s pixels', async () => {
  const bytes = await sharp(pattern(40, 24, 3), { raw: { width: 40, height: 24, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
  await sameAsSharp(bytes, 'jpeg');
});

test('decodeImageBytes: the golden photos give the pixels of Node’s decoder', { skip: sharedSkip('golden/transforms/cases.json') }, async () => {
  const dir = join(sharedDir, 'golden', 'transforms');
  const files = readdirSync(dir).filter((f) => /\.(png|jpe?g)$/.test(f));
  assert.ok(files.length >= 4);
  for (const f of files) await sameAsSharp(readFileSync(join(dir, f)), f);
});

test('decodeImageBytes: corrupt, truncated or unknown bytes are DataErrors naming the image', async () => {
  const png = await sharp(pattern(8, 8, 3), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
  const flipped = Buffer.from(png);
  flipped[40] ^= 0xff;
  await assert.rejects(decodeImageBytes(new Uint8Array(flipped), { name: 'x.png' }), (e: Error) => e instanceof DataError && /x\.png.*CRC/.test(e.message));
  await assert.rejects(decodeImageBytes(new Uint8Array(png.subarray(0, 30)), { name: 'cut.png' }), (e: Error) => e instanceof DataError && /cut\.png/.test(e.message));
  await assert.rejects(decodeImageBytes(new Uint8Array([1, 2, 3, 4]), { name: 'a.gif' }), (e: Error) => e instanceof DataError && /a\.gif.*PNG and JPEG/.test(e.message));
  await assert.rejects(decodeImageBytes(new Uint8Array(0)), DataError);
  const jpg = await sharp(pattern(8, 8, 3), { raw: { width: 8, height: 8, channels: 3 } }).jpeg().toBuffer();
  await assert.rejects(decodeImageBytes(new Uint8Array(jpg), { name: 'p.jpg' }), (e: Error) => e instanceof DataError && /p\.jpg.*no JPEG decoder/.test(e.message));
  await assert.rejects(decodeImageBytes(new Uint8Array(png), { maxPixels: 10 }), /more than the limit of 10/);
});
