/**
 * The browser test harness: an esbuild bundle of src/web.ts (onnxruntime-web left out, loaded by the
 * page through an import map from its dist/ files), a loopback HTTP server with the cross-origin
 * isolation headers, and Debian's Chromium driven by puppeteer-core (no browser download).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import * as esbuild from 'esbuild';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { isCI, repoRoot, sharedDir } from '../helpers.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here (no Chromium outside CI), or false. In CI they always run. */
export function browserSkip(): string | false {
  if (existsSync(CHROMIUM) || isCI()) return false;
  return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); browser tests skipped outside CI`;
}

/**
 * Bundle `entry` for the browser into `outfile`. Nothing Node is marked external, so a Node built-in
 * reachable from the entry fails the build; only onnxruntime-web (a peer dependency the page loads)
 * stays out.
 */
export async function bundle(entry: string, outfile: string): Promise<esbuild.Metafile> {
  const r = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: ['onnxruntime-web', 'onnxruntime-web/*'],
    metafile: true,
    logLevel: 'silent',
  });
  return r.metafile;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.css': 'text/css',
};

/** The headers that make a page cross-origin isolated (multi-threaded wasm), on every response. */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** URL prefix → folder served under it ('/' last-resort for pages), plus in-memory files. */
export interface Mounts {
  [prefix: string]: string;
}

export interface TestServer {
  url: string;
  /** Serve these bytes at this path (e.g. '/data/w.safetensors'), with extra response headers. */
  put(path: string, body: Uint8Array | string, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

/** A 127.0.0.1 server (port 0) over `mounts`, with the isolation headers. */
export async function serve(mounts: Mounts): Promise<TestServer> {
  const memory = new Map<string, { body: Uint8Array | string; headers: Record<string, string> }>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const send = (status: number, body: Uint8Array | string, type = 'text/plain', extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...ISOLATION_HEADERS, ...extra });
      res.end(body);
    };
    const mem = memory.get(path);
    if (mem !== undefined) return send(200, mem.body, TYPES[extname(path)] ?? 'application/octet-stream', mem.headers);
    const prefix = Object.keys(mounts)
      .filter((p) => path.startsWith(p))
      .sort((a, b) => b.length - a.length)[0];
    if (prefix === undefined) return send(404, 'not found');
    const root = mounts[prefix]!;
    const file = normalize(join(root, path.slice(prefix.length)));
    if (!(file + sep).startsWith(normalize(root + sep)) || !existsSync(file) || !statSync(file).isFile()) return send(404, 'not found');
    send(200, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    put: (p, body, headers = {}) => memory.set(p, { body, headers }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function launch(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--headless=new', '--disable-dev-shm-usage'],
  });
}

/** A page that imports the bundle as `window.vm` (onnxruntime-web through the import map). */
export function testPage(bundlePath = '/app/web.js'): string {
  const importMap = { imports: { 'onnxruntime-web/wasm': '/ort/ort.wasm.min.mjs', 'onnxruntime-web/webgpu': '/ort/ort.webgpu.min.mjs' } };
  return `<!doctype html><meta charset="utf-8"><title>visionmix test</title>
<script type="importmap">${JSON.stringify(importMap)}</script>
<script type="module">
import * as vm from '${bundlePath}';
vm.setJpegWasm('/wasm/jpeg-turbo.wasm');
window.vm = vm;
window.vmReady = true;
</script>`;
}

/** The bundle, a server for it (with onnxruntime-web's files, the jpeg wasm and ../shared/golden) and a browser. */
export interface Harness {
  server: TestServer;
  browser: Browser;
  dir: string;
  /** A fresh page with the entry loaded. */
  page(): Promise<Page>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-web-'));
  await bundle(join(repoRoot, 'src', 'web.ts'), join(dir, 'web.js'));
  const server = await serve({
    '/app/': dir,
    '/ort/': join(repoRoot, 'node_modules', 'onnxruntime-web', 'dist'),
    '/wasm/': join(repoRoot, 'node_modules', '@cwasm', 'jpeg-turbo'),
    '/golden/': join(sharedDir, 'golden'),
    '/assets/': join(repoRoot, 'assets'),
  });
  server.put('/index.html', testPage());
  const browser = await launch();
  return {
    server,
    browser,
    dir,
    async page() {
      const page = await browser.newPage();
      page.on('pageerror', (e) => console.error('[page error]', e));
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction('window.vmReady === true', { timeout: 60_000 });
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Float32 bytes ↔ base64, to move tensors out of the page cheaply. */
export function fromBase64F32(b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** A function for the page (stringified into it): Float32Array → base64. */
export const PAGE_HELPERS = `
window.b64 = (f) => { const u = new Uint8Array(f.buffer, f.byteOffset, f.byteLength); let s = ''; for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000)); return btoa(s); };
window.sha = async (u) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', u)), (b) => b.toString(16).padStart(2, '0')).join('');
`;
