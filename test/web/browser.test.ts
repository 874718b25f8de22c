/**
 * visionmix/web in a real browser (Debian's Chromium, headless, through puppeteer-core), against the
 * Node entry on the same bytes:
 *  - the entry bundles for the browser with esbuild and nothing Node (a Node built-in fails the build);
 *  - the smallest golden config of every family: logits and stage maps on wasm with 1 and 2 threads
 *    (one page each: onnxruntime-web fixes its thread count at start) within 1e-5 of Node's `run`,
 *    relative to the largest value; weights and inputs fetched by the page from the server;
 *  - lossAndGrads (train mode) of a ConvNeXt and a MobileViT: loss and every gradient as in Node;
 *  - the eval transform of every golden photo, decoded in the page, equal to Node's bit for bit;
 *  - WebGPU (SwiftShader) on a tiny ConvNeXt and a tiny GLNet, values compared — slow (tens of seconds
 *    per graph on a CPU), so in CI and with VISIONMIX_WEBGPU_TESTS=1.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import type { Page } from 'puppeteer-core';
import { createModel, createTransform, loadImage, readSafetensors, type ModelSpec, type Tensor } from '../../src/index.js';
import { goldenDir, isCI, sharedSkip } from '../helpers.js';
import { browserSkip, bundle, fromBase64F32, PAGE_HELPERS, startHarness, type Harness } from './harness.js';

const skip = browserSkip() || sharedSkip('golden/glnet/cases.json');
// ~90 s on this 2-core machine (SwiftShader compiles shaders on the CPU): in CI always, locally on request.
const gpu = process.env.VISIONMIX_WEBGPU_TESTS === '1' || isCI();

/** A golden case as the page builds it: createModel(spec, overrides), weights and io files under /golden/. */
interface Case {
  family: string;
  name: string;
  spec: unknown;
  overrides: Record<string, unknown>;
  weights: string;
  io: string;
  extra?: Record<string, boolean>;
}

function cases(): Case[] {
  const read = (f: string) => JSON.parse(readFileSync(join(goldenDir(f), 'cases.json'), 'utf8')).cases as Record<string, any>[];
  const cx = read('convnext').find((c) => c.name === 'convnext_tiny_custom')!;
  const mv = read('mobilevit').find((c) => c.name === 'tiny_64_eval')!;
  const cm = read('cmt').find((c) => c.name === 'tiny_64_eval')!;
  const gl = read('glnet').find((c) => c.name === 'tiny_g')!;
  const { cvnets_layer_config: _c, ...mvConfig } = mv.config;
  return [
    { family: 'convnext', name: cx.name, spec: { family: 'convnext', depths: cx.reference.depths, dims: cx.reference.dims, num_classes: cx.reference.num_classes }, overrides: {}, weights: cx.files.weights, io: cx.files.io },
    { family: 'mobilevit', name: mv.name, spec: { family: 'mobilevit', ...mvConfig }, overrides: {}, weights: mv.files.weights, io: mv.files.io },
    cm.reference_model === 'CMT(**config)'
      ? { family: 'cmt', name: cm.name, spec: { family: 'cmt', ...cm.config }, overrides: {}, weights: cm.files.weights, io: cm.files.io }
      : { family: 'cmt', name: cm.name, spec: cm.reference_model, overrides: cm.config, weights: cm.files.weights, io: cm.files.io },
    { family: 'glnet', name: gl.name, spec: { family: 'glnet', ...gl.config }, overrides: {}, weights: gl.files.weights, io: gl.files.io, extra: { slots: true } },
  ];
}

/** Node's outputs for a case: logits, then each stage map, flattened in that order (and GLNet's slot maps). */
async function nodeOutputs(c: Case): Promise<Float32Array[]> {
  const model = createModel(c.spec as ModelSpec, c.overrides);
  await model.loadWeights(join(goldenDir(c.family), c.weights));
  const io = await readSafetensors(join(goldenDir(c.family), c.io));
  const out = await model.run(io.get('input')!, { features: true });
  return [out.logits, ...(out.features as Tensor[])].map((t) => t.data as Float32Array);
}

/** The same in the page, on an engine of `device` with `threads` wasm threads. */
async function pageOutputs(page: Page, c: Case, device: string, threads: number): Promise<{ outs: Float32Array[]; threads: number; device: string }> {
  const r = (await page.evaluate(
    async (c: Case, device: string, threads: number) => {
      const vm = (window as any).vm;
      (window as any).engines ??= {};
      const compiles: string[] = ((window as any).compiles = []);
      const engine = ((window as any).engines[device] ??= vm.createEngine({ device, numThreads: threads, onCompile: (e: any) => (window as any).compiles.push(`${e.status} ${e.device}`) }));
      const model = vm.createModel(c.spec, { ...c.overrides, engine });
      await vm.loadWeights(model, `/golden/${c.family}/${c.weights}`);
      const io = await vm.readWeights(`/golden/${c.family}/${c.io}`);
      const out = await model.run(io.get('input'), { features: true });
      if (compiles.join() !== `compile ${device},compiled ${device}`) throw new Error(`compile events: ${compiles.join()}`);
      return {
        outs: [out.logits, ...out.features].map((t: any) => (window as any).b64(t.data)),
        threads: engine.runtime.maxThreads(),
        device: await engine.runtime.device(),
      };
    },
    c,
    device,
    threads,
  )) as { outs: string[]; threads: number; device: string };
  return { outs: r.outs.map(fromBase64F32), threads: r.threads, device: r.device };
}

function assertNear(label: string, ours: Float32Array, ref: Float32Array, rel: number, floor = 0): number {
  assert.equal(ours.length, ref.length, `${label}: length`);
  let absMax = 0;
  let maxErr = 0;
  for (let i = 0; i < ref.length; i++) {
    absMax = Math.max(absMax, Math.abs(ref[i]!));
    const d = Math.abs(ours[i]! - ref[i]!);
    maxErr = Number.isNaN(d) ? Infinity : Math.max(maxErr, d);
  }
  assert.ok(absMax > 0 || floor > 0, `${label}: the reference is all zeros (nothing is compared)`);
  assert.ok(maxErr <= Math.max(floor, rel * absMax), `${label}: max|browser − node| ${maxErr.toExponential(3)} > max(${floor.toExponential(2)}, ${rel} × absmax ${absMax.toExponential(3)})`);
  return maxErr / Math.max(absMax, floor);
}

let h: Harness;
before(async () => {
  if (!skip) h = await startHarness();
});
after(async () => {
  await h?.close();
});

test('bundling: visionmix/web builds for the browser with esbuild, and a Node built-in fails the build', { skip: browserSkip() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-bundle-'));
  try {
    const meta = await bundle(join(process.cwd(), 'src', 'web.ts'), join(dir, 'web.js'));
    const inputs = Object.keys(meta.inputs);
    assert.ok(inputs.some((i) => i.endsWith('src/web.ts')) && inputs.some((i) => i.endsWith('src/tasks/engine.ts')), 'the bundle holds the entry and the engine');
    assert.ok(!inputs.some((i) => /sharp|piscina|onnxruntime-node/.test(i)), 'no Node-only package in the bundle');
    // With onnxruntime-web included (what an app's bundler does): it still builds for the browser, and
    // code splitting keeps ORT's two builds out of the entry's chunk (they load on the first run).
    const withOrt = await esbuild.build({ entryPoints: [join(process.cwd(), 'src', 'web.ts')], bundle: true, format: 'esm', platform: 'browser', splitting: true, outdir: join(dir, 'split'), write: false, logLevel: 'silent' });
    const chunks = withOrt.outputFiles.map((f) => f.path.split('/').pop()!);
    assert.ok(chunks.includes('web.js') && chunks.some((f) => f.startsWith('ort.wasm.bundle')) && chunks.some((f) => f.startsWith('ort.webgpu.bundle')), `chunks: ${chunks.join(', ')}`);
    // The check itself: an entry that reaches node:fs must not bundle.
    writeFileSync(join(dir, 'bad.ts'), "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n");
    await assert.rejects(bundle(join(dir, 'bad.ts'), join(dir, 'bad.js')), /node:fs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const threads of [1, 2]) {
  test(`every family's smallest golden config: browser (wasm, ${threads} thread${threads > 1 ? 's' : ''}) = Node within 1e-5`, { skip }, async (t) => {
    const page = await h.page();
    await page.evaluate(PAGE_HELPERS);
    try {
      for (const c of cases()) {
        const want = await nodeOutputs(c);
        const got = await pageOutputs(page, c, 'wasm', threads);
        assert.equal(got.device, 'wasm');
        assert.equal(got.threads, threads, 'the page is cross-origin isolated, so the thread count asked for is used');
        assert.equal(got.outs.length, want.length, `${c.name}: logits + ${want.length - 1} stage maps`);
        const worst = Math.max(...want.map((w, i) => assertNear(`${c.name} ${i === 0 ? 'logits' : `features.${i - 1}`}`, got.outs[i]!, w, 1e-5)));
        t.diagnostic(`${c.family} ${c.name}: worst relative error ${worst.toExponential(2)}`);
      }
    } finally {
      await page.close();
    }
  });
}

test('lossAndGrads in the browser (wasm, train mode) equals Node: a ConvNeXt and a MobileViT (BatchNorm)', { skip }, async (t) => {
  const page = await h.page();
  await page.evaluate(PAGE_HELPERS);
  try {
    for (const c of cases().filter((c) => c.family === 'convnext' || c.family === 'mobilevit')) {
      const labels = [1, 4];
      const model = createModel(c.spec as ModelSpec, c.overrides);
      await model.loadWeights(join(goldenDir(c.family), c.weights));
      const io = await readSafetensors(join(goldenDir(c.family), c.io));
      model.train();
      const want = await model.lossAndGrads(io.get('input')!, Int32Array.from(labels));
      const keys = Object.keys(want.grads).sort();
      const got = (await page.evaluate(
        async (c: Case, labels: number[], keys: string[]) => {
          const vm = (window as any).vm;
          const engine = ((window as any).trainEngine ??= vm.createEngine({ device: 'wasm', numThreads: 2 }));
          const model = vm.createModel(c.spec, { ...c.overrides, engine });
          await vm.loadWeights(model, `/golden/${c.family}/${c.weights}`);
          const io = await vm.readWeights(`/golden/${c.family}/${c.io}`);
          model.train();
          const r = await model.lossAndGrads(io.get('input'), Int32Array.from(labels));
          return { loss: r.loss, grads: keys.map((k) => (window as any).b64(r.grads[k].data)), keys: Object.keys(r.grads).sort() };
        },
        c,
        labels,
        keys,
      )) as { loss: number; grads: string[]; keys: string[] };
      assert.deepEqual(got.keys, keys);
      assert.ok(Math.abs(got.loss - want.loss) <= 1e-5 * Math.abs(want.loss), `${c.name}: loss ${got.loss} vs ${want.loss}`);
      // Gradients that are ~0 (a BatchNorm bias before a normalisation) are compared against a floor:
      // 1e-5 of the largest gradient anywhere, as the golden gradient tests do per tensor.
      const largest = Math.max(...keys.map((k) => Math.max(...Array.from(want.grads[k]!.data as Float32Array, Math.abs))));
      const worst = Math.max(...keys.map((k, i) => assertNear(`${c.name} grad ${k}`, fromBase64F32(got.grads[i]!), want.grads[k]!.data as Float32Array, 1e-4, 1e-5 * largest)));
      t.diagnostic(`${c.family} ${c.name}: loss ${want.loss.toFixed(6)}, worst gradient error ${worst.toExponential(2)} of its absmax`);
    }
  } finally {
    await page.close();
  }
});

test('the eval transform of every golden photo, decoded in the browser, equals Node’s bit for bit', { skip: skip || sharedSkip('golden/transforms/cases.json') }, async () => {
  const golden = JSON.parse(readFileSync(join(goldenDir('transforms'), 'cases.json'), 'utf8')) as {
    configs: Record<string, { size: number; crop_pct: number; interp: 'bicubic' | 'bilinear'; norm: { mean: number[]; std: number[] } | null }>;
    cases: { image: string }[];
  };
  const configs = Object.entries(golden.configs).map(([name, c]) => ({
    name,
    cfg: { inputSize: [3, c.size, c.size], cropPct: c.crop_pct, interpolation: c.interp, mean: c.norm?.mean ?? [0, 0, 0], std: c.norm?.std ?? [1, 1, 1] },
  }));
  const page = await h.page();
  await page.evaluate(PAGE_HELPERS);
  try {
    assert.ok(golden.cases.some((c) => c.image.endsWith('.jpg')) && golden.cases.some((c) => c.image.endsWith('.png')), 'both decoders are exercised');
    for (const c of golden.cases) {
      const img = await loadImage(join(goldenDir('transforms'), c.image), { decoder: 'js' });
      const got = (await page.evaluate(
        async (image: string, configs: { name: string; cfg: unknown }[]) => {
          const vm = (window as any).vm;
          const img = await vm.loadImage(`/golden/transforms/${image}`);
          const out: Record<string, string> = { pixels: await (window as any).sha(img.data) };
          for (const { name, cfg } of configs) out[name] = await (window as any).sha((await vm.createTransform(cfg)(img)).data);
          return out;
        },
        c.image,
        configs,
      )) as Record<string, string>;
      const sha = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
      assert.equal(got.pixels, sha(img.data), `${c.image}: decoded pixels`);
      for (const { name, cfg } of configs) assert.equal(got[name], sha((await createTransform(cfg as never)(img)).data), `${c.image}: ${name}`);
    }
  } finally {
    await page.close();
  }
});

test('WebGPU (SwiftShader): a tiny ConvNeXt and a tiny GLNet match Node', { skip: skip || (!gpu && 'slow (tens of seconds per graph on SwiftShader): set VISIONMIX_WEBGPU_TESTS=1 (CI runs it)') }, async (t) => {
  const page = await h.page();
  await page.evaluate(PAGE_HELPERS);
  try {
    const hasAdapter = await page.evaluate(() => (window as any).vm.hasWebGpu());
    assert.ok(hasAdapter, 'Chromium with --enable-unsafe-webgpu gives a WebGPU adapter');
    for (const c of cases().filter((c) => c.family === 'convnext' || c.family === 'glnet')) {
      const want = await nodeOutputs(c);
      const got = await pageOutputs(page, c, 'webgpu', 1);
      assert.equal(got.device, 'webgpu');
      // WebGPU can return zeros or garbage without an error: the values are what is checked.
      const worst = Math.max(...want.map((w, i) => assertNear(`${c.name} (webgpu) ${i === 0 ? 'logits' : `features.${i - 1}`}`, got.outs[i]!, w, 1e-4)));
      t.diagnostic(`${c.family} ${c.name} on WebGPU: worst relative error ${worst.toExponential(2)}`);
    }
  } finally {
    await page.close();
  }
});
