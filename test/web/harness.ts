/**
 * The browser test harness: an esbuild bundle of src/web.ts (onnxruntime-web left out, loaded by the
 * page through an import map from its dist/ files), a loopback HTTP server with the cross-origin
 * isolation headers, and Debian's Chromium driven by puppeteer-core (no browser download).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { serveStatic, type Mounts, type StaticServer } from '../../scripts/static_server.js';
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

// The static server with the isolation headers is the demo's (scripts/static_server.ts).
export { ISOLATION_HEADERS, type Mounts } from '../../scripts/static_server.js';
export type TestServer = StaticServer;

/** A 127.0.0.1 server (a free port) over `mounts`, with the isolation headers. */
export function serve(mounts: Mounts): Promise<TestServer> {
  return serveStatic(mounts);
}

export async function launch(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // A fake camera (a moving test pattern) for the demo page's webcam, granted without a prompt.
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--headless=new', '--disable-dev-shm-usage', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
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

/** `entry`: the module bundled as the page's `window.vm` (default: the browser entry, src/web.ts). */
export async function startHarness(entry = join(repoRoot, 'src', 'web.ts')): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-web-'));
  await bundle(entry, join(dir, 'web.js'));
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
