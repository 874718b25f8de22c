/** loadImage from anywhere: an http(s) URL (status, size limit, network failure as typed errors), bytes, a file: URL. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { DataError, FetchError, loadImage } from '../../src/index.js';
import { bundledSampleImages } from '../../src/io/package_root.js';

const path = bundledSampleImages()[0]!;
const png = readFileSync(path);

/** A local server: /img.png (with Content-Length), /chunked.png (without), /missing (404). */
const server = createServer((req, res) => {
  if (req.url === '/img.png') res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
  else if (req.url === '/chunked.png') {
    res.writeHead(200, { 'content-type': 'image/png' });
    res.write(png.subarray(0, 100));
    res.end(png.subarray(100));
  } else res.writeHead(404).end('not here');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
test.after(() => server.close());

test('a URL, a Buffer, a Uint8Array, an ArrayBuffer and a file: URL give the pixels of the path', async () => {
  const want = await loadImage(path);
  const copy = Uint8Array.from(png);
  for (const source of [`${base}/img.png`, new URL(`${base}/chunked.png`), png, copy, copy.buffer, pathToFileURL(path), pathToFileURL(path).href]) {
    const got = await loadImage(source);
    assert.deepEqual([got.width, got.height], [want.width, want.height], String(source));
    assert.deepEqual(got.data, want.data, String(source));
  }
});

test('URL failures are typed: HTTP status, size limit (declared or streamed), no server', async () => {
  await assert.rejects(loadImage(`${base}/missing`), (e: unknown) => e instanceof FetchError && e.status === 404 && /HTTP 404/.test(e.message) && e.url === `${base}/missing`);
  const limit = png.length - 1;
  await assert.rejects(loadImage(`${base}/img.png`, { maxBytes: limit }), (e: unknown) => e instanceof FetchError && /more than the limit of/.test(e.message));
  await assert.rejects(loadImage(`${base}/chunked.png`, { maxBytes: limit }), (e: unknown) => e instanceof FetchError && /more than the limit of/.test(e.message));
  // A port nobody listens on: a connection error, still a DataError subclass naming the URL.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const dead = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/x.png`;
  await new Promise<void>((r) => closed.close(() => r()));
  await assert.rejects(loadImage(dead), (e: unknown) => e instanceof FetchError && e instanceof DataError && e.status === undefined && e.message.includes(dead));
  await assert.rejects(loadImage('ftp://example.com/a.png'), (e: unknown) => e instanceof DataError && /image not found/.test(e.message));
});
