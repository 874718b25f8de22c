/**
 * The browser entry's inputs, in Chromium: weights by URL (sha256-checked, kept in the Cache API and
 * read from it offline), File and bytes; images from every kind of source — decoded bytes must be the
 * pixels Node decodes, and an opaque PNG read back through an element, canvas, bitmap, ImageData or
 * VideoFrame must come back unchanged (colorSpaceConversion/premultiplyAlpha 'none').
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { Tensor } from '../../src/tensor.js';
import { loadImage } from '../../src/index.js';
import { serializeSafetensors } from '../../src/io/safetensors_format.js';
import { browserSkip, ISOLATION_HEADERS, PAGE_HELPERS, startHarness, type Harness } from './harness.js';

const skip = browserSkip();
let h: Harness;
before(async () => {
  if (!skip) h = await startHarness();
});
after(async () => {
  await h?.close();
});

test('weights: URL with sha256 (right and wrong), the Cache API offline, File and bytes', { skip }, async () => {
  const bytes = serializeSafetensors(new Map([['w', new Tensor(Float32Array.of(1, 2, 3), [3], 'float32')]]));
  const sha = createHash('sha256').update(bytes).digest('hex');
  h.server.put('/data/w.safetensors', bytes);
  const page = await h.page();
  try {
    const r = await page.evaluate(
      async (sha: string) => {
        const vm = (window as any).vm;
        const events: string[] = [];
        const err = async (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => `${e.constructor.name}: ${e.message}`);
        await caches.delete('visionmix-weights');
        const a = await vm.readWeights(`/data/w.safetensors#sha256=${sha}`, { onProgress: (e: any) => events.push(e.status) });
        const wrong = await err(vm.readWeights(`/data/w.safetensors#sha256=${'0'.repeat(64)}`, { cacheName: null }));
        const offline = await vm.readWeights('/data/w.safetensors', { offline: true });
        const missing = await err(vm.readWeights('/data/other.safetensors', { offline: true }));
        const notFound = await err(vm.readWeights('/data/nothing.safetensors'));
        const buf = await (await fetch('/data/w.safetensors')).arrayBuffer();
        const file = await vm.readWeights(new File([buf], 'w.safetensors'));
        const fromBytes = await vm.readWeights(new Uint8Array(buf), { sha256: sha });
        const badBytes = await err(vm.readWeights(buf, { sha256: 'f'.repeat(64) }));
        const http = await err(vm.readWeights('http://example.com/w.safetensors'));
        return {
          values: [a, offline, file, fromBytes].map((m: Map<string, any>) => Array.from(m.get('w').data as Float32Array)),
          events,
          wrong,
          missing,
          notFound,
          badBytes,
          http,
        };
      },
      sha,
    );
    for (const v of r.values) assert.deepEqual(v, [1, 2, 3]);
    assert.deepEqual(r.events, ['initiate', 'download', 'progress', 'done']);
    assert.match(r.wrong, /^HubError: .*sha256 .* not the expected 0{64}/);
    assert.match(r.missing, /^HubError: .*offline, and not in the browser's cache/);
    assert.match(r.notFound, /^HubError: .*answered 404/);
    assert.match(r.badBytes, /^HubError: <ArrayBuffer>: sha256 .* does not match/);
    assert.match(r.http, /^HubError: .*only https:\/\//);
  } finally {
    await page.close();
  }
});

test('weights: a download that breaks off is continued with a Range request where the server takes ranges', { skip }, async () => {
  const bytes = serializeSafetensors(new Map([['w', new Tensor(Float32Array.from({ length: 4096 }, (_, i) => i), [4096], 'float32')]]));
  const sha = createHash('sha256').update(bytes).digest('hex');
  const ranges: string[] = [];
  const headers = { ...ISOLATION_HEADERS, 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'Cache-Control': 'no-store' };
  // The first transfer sends half the file and drops the connection; a range request gets the rest.
  h.server.handle('/data/broken.safetensors', (req, res) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      ranges.push(req.headers.range!);
      const from = Number(range[1]);
      res.writeHead(206, { ...headers, 'Content-Length': bytes.length - from, 'Content-Range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` });
      res.end(bytes.subarray(from));
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': bytes.length });
    res.write(bytes.subarray(0, bytes.length >> 1), () => setImmediate(() => res.socket?.destroy()));
  });
  const page = await h.page();
  try {
    const r = await page.evaluate(async (sha: string) => {
      const vm = (window as any).vm;
      const sd = await vm.readWeights(`/data/broken.safetensors#sha256=${sha}`, { cacheName: null });
      return Array.from(sd.get('w').data.slice(0, 4)).concat(sd.get('w').data.length);
    }, sha);
    assert.deepEqual(r, [0, 1, 2, 3, 4096]);
    // From the bytes the page had read when the connection broke (how many arrived before the error
    // depends on timing: at least none).
    assert.equal(ranges.length, 1, 'one range request');
    assert.match(ranges[0]!, /^bytes=\d+-$/);
  } finally {
    await page.close();
  }
});

test('weights: hf:org/name[@revision][:file] from a hub endpoint, checked against its X-Linked-Etag sha256; bad references refused', { skip }, async () => {
  const bytes = serializeSafetensors(new Map([['w', new Tensor(Float32Array.of(4, 5), [2], 'float32')]]));
  const sha = createHash('sha256').update(bytes).digest('hex');
  h.server.put('/org/tiny/resolve/main/model.safetensors', bytes, { 'X-Linked-Etag': `"${sha}"` });
  h.server.put('/org/tiny/resolve/v2/sub/w.safetensors', bytes, { 'X-Linked-Etag': `"${'1'.repeat(64)}"` });
  const page = await h.page();
  try {
    const r = await page.evaluate(async () => {
      const vm = (window as any).vm;
      const err = async (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => `${e.constructor.name}: ${e.message}`);
      const hubUrl = location.origin;
      const ok = await vm.readWeights('hf:org/tiny', { hubUrl, cacheName: null });
      return {
        ok: Array.from(ok.get('w').data as Float32Array),
        tampered: await err(vm.readWeights('hf:org/tiny@v2:sub/w.safetensors', { hubUrl, cacheName: null })),
        badRepo: await err(vm.readWeights('hf:org/..', { hubUrl })),
        notRef: await err(vm.readWeights('hf:org/a/b', { hubUrl })),
        badFile: await err(vm.readWeights('hf:org/tiny:../../etc/passwd', { hubUrl })),
      };
    });
    assert.deepEqual(r.ok, [4, 5]);
    assert.match(r.tampered, /^HubError: hf:org\/tiny@v2:sub\/w\.safetensors: the download .* not the expected 1{64}/);
    assert.match(r.badRepo, /^HubError: hub repository id "org\/\.\." is not valid/);
    assert.match(r.notRef, /^WeightsError: .*a hub reference is hf:org\/name\[@revision\]\[:file\]/);
    assert.match(r.badFile, /^HubError: hub file path "\.\.\/\.\.\/etc\/passwd" is not valid/);
  } finally {
    await page.close();
  }
});

test('loadImage: bytes, Blob and URL equal Node; an opaque PNG through img, canvas, ImageBitmap, ImageData and VideoFrame is unchanged', { skip }, async () => {
  const [w, hgt] = [37, 23];
  const raw = Buffer.alloc(w * hgt * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 53 + 7) & 0xff;
  const png = await sharp(raw, { raw: { width: w, height: hgt, channels: 3 } }).png().toBuffer();
  const jpg = await sharp(raw, { raw: { width: w, height: hgt, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
  h.server.put('/data/p.png', png);
  h.server.put('/data/p.jpg', jpg);
  const sha = (a: Uint8Array) => createHash('sha256').update(a).digest('hex');
  const wantPng = sha((await loadImage(new Uint8Array(png))).data);
  const wantJpg = sha((await loadImage(new Uint8Array(jpg))).data);
  const page = await h.page();
  await page.evaluate(PAGE_HELPERS);
  try {
    const got = await page.evaluate(async () => {
      const vm = (window as any).vm;
      const sha = (window as any).sha;
      const s = async (src: unknown) => {
        const img = await vm.loadImage(src);
        return `${img.width}x${img.height}:${await sha(img.data)}`;
      };
      const pngBuf = await (await fetch('/data/p.png')).arrayBuffer();
      const el = new Image();
      el.src = '/data/p.png';
      await el.decode();
      const bitmap = await createImageBitmap(new Blob([pngBuf], { type: 'image/png' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [bitmap.width, bitmap.height];
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(bitmap, 0, 0);
      const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const frame = new VideoFrame(canvas, { timestamp: 0 });
      const out = {
        url: await s('/data/p.png'),
        bytes: await s(pngBuf),
        u8: await s(new Uint8Array(pngBuf)),
        blob: await s(new Blob([pngBuf])),
        jpgUrl: await s('/data/p.jpg'),
        img: await s(el),
        canvas: await s(canvas),
        bitmap: await s(bitmap),
        imageData: await s(imageData),
        videoFrame: await s(frame),
        bad: await vm.loadImage(42).then(() => 'no error', (e: Error) => `${e.constructor.name}: ${e.message}`),
      };
      frame.close();
      return out;
    });
    const png0 = `${w}x${hgt}:${wantPng}`;
    for (const k of ['url', 'bytes', 'u8', 'blob', 'img', 'canvas', 'bitmap', 'imageData', 'videoFrame'] as const) assert.equal((got as Record<string, string>)[k], png0, k);
    assert.equal(got.jpgUrl, `${w}x${hgt}:${wantJpg}`, 'JPEG bytes decode as in Node');
    assert.match(got.bad, /^DataError: loadImage: expected a URL, Blob\/File.*got number/);
  } finally {
    await page.close();
  }
});
