/**
 * A serialized graph timed in headless Chromium on onnxruntime-web's wasm backend — the browser
 * peer of `benchWebSession` (onnxruntime-web inside Node) and `benchNativeSession`, on the same
 * bytes. The page is served from 127.0.0.1 with the cross-origin isolation headers, so wasm threads
 * are on; timings are taken in the page (performance.now around each run).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { findPackageRoot } from '../src/io/package_root.js';
import { median, type SessionBench, type SessionBenchOptions } from '../src/tasks/bench.js';
import { serveStatic } from '../scripts/static_server.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const PAGE = `<!doctype html><script type="importmap">{ "imports": { "onnxruntime-web": "/ort/ort.wasm.min.mjs" } }</script>
<script type="module">
import * as ort from 'onnxruntime-web';
window.bench = async (threads, shape, warmup, iters) => {
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = '/ort/';
  const bytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const createMs = performance.now() - t0;
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i)), shape);
  const feeds = { [session.inputNames[0]]: x };
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const samples = [];
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    await session.run(feeds);
    samples.push(performance.now() - t);
  }
  await session.release();
  return { createMs, samples, threads: ort.env.wasm.numThreads, isolated: crossOriginIsolated, version: ort.env.versions.web };
};
window.ready = true;
</script>`;

/** Whether a Chromium to drive is installed (Debian's `chromium`). */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM);
}

export async function benchChromiumSession(opts: SessionBenchOptions): Promise<SessionBench> {
  const root = findPackageRoot();
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-chromium-bench-'));
  const server = await serveStatic({ '/ort/': join(root, 'node_modules', 'onnxruntime-web', 'dist') });
  server.put('/index.html', PAGE);
  server.put('/model.onnx', opts.modelBytes);
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, userDataDir: dir, args: ['--no-sandbox', '--headless=new', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction('window.ready === true', { timeout: 60_000 });
    const r = (await page.evaluate(
      (threads: number, shape: number[], warmup: number, iters: number) =>
        (window as unknown as { bench(t: number, s: number[], w: number, i: number): Promise<unknown> }).bench(threads, shape, warmup, iters),
      opts.threads,
      [...opts.inputShape],
      opts.warmup,
      opts.iters,
    )) as { createMs: number; samples: number[]; threads: number; isolated: boolean; version: string };
    for (let i = 0; i < opts.warmup + opts.iters; i++) opts.onIteration?.();
    return {
      runtime: `Chromium, onnxruntime-web ${r.version} (wasm)`,
      threads: r.threads,
      note: r.isolated ? undefined : 'the page was not cross-origin isolated: 1 wasm thread',
      createMs: r.createMs,
      timing: { samplesMs: r.samples, minMs: Math.min(...r.samples), medianMs: median(r.samples) },
    };
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
