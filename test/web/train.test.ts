/**
 * visionmix/web-train in Chromium (wasm) against Node's trainer on the same bytes:
 *  - 20 steps of a tiny config of every family (bundled Fashion-MNIST images, crops, flips, drop path,
 *    AdamW, cosine warm-up, label smoothing, checkpoints every 5 steps) give Node's losses within 1e-5
 *    relative;
 *  - a run stopped after 10 steps, the page reloaded, and the run started again resumes from its
 *    IndexedDB checkpoint with the uninterrupted run's losses; its final model.safetensors (checksummed)
 *    loads strictly in Node and gives the browser model's logits;
 *  - the same in a Web Worker (trainInWorker / serveTrainWorker): progress events, the page's losses,
 *    a stop request that checkpoints, and a resume;
 *  - decoded images with the image-folder recipe (RandomResizedCrop, RandAugment, Mixup/CutMix): the
 *    browser's losses equal trainInBrowser's in Node on the same files;
 *  - WebGPU (SwiftShader): 2 steps of a tiny ConvNeXt V2 and a tiny GLNet give Node's losses (slow: in
 *    CI and with VISIONMIX_WEBGPU_TESTS=1).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { createModel, defaultEngine, type ModelSpec } from '../../src/index.js';
import { loadFashionMnist, BUNDLED_FASHION_MNIST_DIR } from '../../src/io/fashion_mnist_files.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { TRAIN_STEP_SESSION } from '../../src/runtime/session.js';
import type { ImageDataset } from '../../src/data/transforms.js';
import { DEFAULT_TRAIN_CONFIG, Trainer, type TrainConfig } from '../../src/train/trainer.js';
import { isCI, repoRoot } from '../helpers.js';
import { browserSkip, PAGE_HELPERS, startHarness, type Harness } from './harness.js';

const skip = browserSkip();

/** Tiny configs of every family for 1-channel 32² inputs, 10 classes. */
const FAMILIES: Record<string, Record<string, unknown>> = {
  convnextv2: { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], stem_stride: 2, drop_path_rate: 0.1 },
  mobilevit: {
    family: 'mobilevit',
    layer1: { out: 8, exp: 2, n: 1, stride: 1 },
    layer2: { out: 16, exp: 2, n: 1, stride: 2 },
    layer3: { out: 16, exp: 2, stride: 2, dim: 16, depth: 1 },
    layer4: { out: 24, exp: 2, stride: 2, dim: 24, depth: 1 },
    layer5: { out: 24, exp: 2, stride: 1, dim: 24, depth: 1 },
  },
  cmt: { family: 'cmt', img_size: 32, embed_dims: [8, 16, 24, 32], stem_channel: 8, fc_dim: 32, depths: [1, 1, 1, 1], mlp_ratios: [2, 2, 2, 2], sr_ratios: [2, 1, 1, 1] },
  glnet: {
    family: 'glnet',
    norm_layer: 'BatchNorm2d',
    downsample_style: 'ovlp',
    mixing_modes: ['glmix', 'glmix', 'mha_nchw', 'mha_nchw'],
    slot_init: 'ada_avgpool',
    num_slots: 4,
    cpe_ks: 3,
    mlp_dw: true,
    depth: [1, 1, 1, 1],
    embed_dim: [16, 16, 32, 32],
    mlp_ratios: [2, 2, 2, 2],
    head_dim: 16,
  },
};
const OVERRIDES = { in_chans: 1, num_classes: 10 };

const CONFIG: Partial<TrainConfig> = { epochs: 3, batchSize: 8, lr: 2e-3, warmupEpochs: 1, inputSize: 32, cropPad: 2, seed: 0, checkpointEvery: 5, evalBatchSize: 32, emaDecay: 0.9 };

let data: { train: ImageDataset; test: ImageDataset };
let h: Harness;
let dir: string;

/** The first `n` images of a split, as a data set of its own. */
function first(split: ImageDataset, n: number): ImageDataset {
  const px = split.channels * split.height * split.width;
  return { ...split, images: split.images.slice(0, n * px), labels: split.labels.slice(0, n), count: n };
}

before(async () => {
  if (skip) return;
  const fm = await loadFashionMnist(BUNDLED_FASHION_MNIST_DIR);
  data = { train: first(fm.train, 64), test: first(fm.test, 32) };
  // One bundle with both browser entries (one Engine class, as an app's bundler makes it).
  dir = mkdtempSync(join(tmpdir(), 'visionmix-web-train-'));
  const entry = join(dir, 'entry.ts');
  writeFileSync(entry, `export * from ${JSON.stringify(join(repoRoot, 'src', 'web.ts'))};\nexport * as train from ${JSON.stringify(join(repoRoot, 'src', 'web_train.ts'))};\n`);
  h = await startHarness(entry);
  // The worker's script: both entries and onnxruntime-web in one module (import maps do not reach workers).
  const workerEntry = join(dir, 'worker.ts');
  writeFileSync(
    workerEntry,
    `import * as ort from 'onnxruntime-web/wasm';
import { createEngine, createModel } from ${JSON.stringify(join(repoRoot, 'src', 'web.ts'))};
import { serveTrainWorker } from ${JSON.stringify(join(repoRoot, 'src', 'web_train.ts'))};
ort.env.wasm.wasmPaths = '/ort/';
const engine = createEngine({ device: 'wasm', numThreads: 1, loadOrt: async () => ort });
serveTrainWorker((spec, options) => createModel(spec, { ...options, engine }));
`,
  );
  await esbuild.build({ entryPoints: [workerEntry], outfile: join(h.dir, 'worker.js'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', nodePaths: [join(repoRoot, 'node_modules')], logLevel: 'silent' });
});
after(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Node's trainer on the same model, data and settings: the loss of each step, and the final weights. */
async function nodeLosses(spec: Record<string, unknown>, steps: number): Promise<number[]> {
  const model = createModel(spec as ModelSpec, { ...OVERRIDES, seed: 0 });
  const engine = defaultEngine();
  const config = { ...DEFAULT_TRAIN_CONFIG, ...CONFIG } as TrainConfig;
  const trainer = await Trainer.create(model, config, data.train, data.test, {
    createSession: (bytes, label) => engine.createSession(bytes, { ...TRAIN_STEP_SESSION, label, threads: 1 }),
    saveCheckpoint: async () => {},
    writeMetrics: () => {},
    now: () => performance.now(),
  });
  const losses: number[] = [];
  try {
    await trainer.run((e) => void (e.type === 'step' && losses.push(e.loss)), steps);
  } finally {
    await trainer.release();
  }
  return losses;
}

const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
const pageData = () => ({
  train: { ...data.train, images: b64(data.train.images), labels: b64(data.train.labels) },
  test: { ...data.test, images: b64(data.test.images), labels: b64(data.test.labels) },
});

/** In the page: `dataset` (a data set of pageData() back to bytes), and trainInBrowser with the run key `run`, stopping after `steps` steps of this call. */
const PAGE_TRAIN = `
window.dataset = (x) => {
  const u8 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return { ...x, images: u8(x.images), labels: u8(x.labels) };
};
window.trainRun = async (spec, overrides, config, d, run, steps) => {
  const vm = window.vm;
  const ds = window.dataset;
  window.engine ??= vm.createEngine({ device: 'wasm', numThreads: 1 });
  const model = vm.createModel(spec, { ...overrides, seed: 0, engine: window.engine });
  const losses = [];
  const r = await vm.train.trainInBrowser({ model, train: ds(d.train), test: ds(d.test), config, run, stopAfterSteps: steps, onEvent: (e) => e.type === 'step' && losses.push(e.loss) });
  model.eval();
  const logits = await model.run(new vm.Tensor(new Float32Array(32 * 32).fill(0.5), [1, 1, 32, 32], 'float32'));
  return { losses, steps: r.steps, weights: window.b64(r.weights), logits: Array.from(logits.logits.data), stateOnDevice: r.stateOnDevice };
};`;

async function page() {
  const p = await h.page();
  await p.evaluate(PAGE_HELPERS);
  await p.evaluate(PAGE_TRAIN);
  return p;
}

test('20 train steps of every family in the browser (wasm) give Node’s losses within 1e-5', { skip }, async (t) => {
  const p = await page();
  try {
    for (const [family, spec] of Object.entries(FAMILIES)) {
      const want = await nodeLosses(spec, 20);
      const got = (await p.evaluate((s, o, c, d, run) => (window as any).trainRun(s, o, c, d, run, 20), spec, OVERRIDES, CONFIG as never, pageData() as never, `losses-${family}`)) as { losses: number[]; stateOnDevice: boolean };
      assert.equal(got.losses.length, 20, family);
      assert.equal(got.stateOnDevice, false, 'wasm: the state lives in the page');
      let worst = 0;
      want.forEach((l, i) => {
        const rel = Math.abs(got.losses[i]! - l) / Math.abs(l);
        worst = Math.max(worst, rel);
        assert.ok(rel <= 1e-5, `${family} step ${i + 1}: browser ${got.losses[i]} vs Node ${l}`);
      });
      t.diagnostic(`${family}: losses ${want[0]!.toFixed(4)} → ${want[19]!.toFixed(4)}, worst relative difference ${worst.toExponential(2)}`);
    }
  } finally {
    await p.close();
  }
});

test('a run stopped after 10 steps resumes after a page reload from IndexedDB with the same losses; its weights load in Node', { skip }, async () => {
  const spec = FAMILIES.convnextv2!;
  const p = await page();
  try {
    const whole = (await p.evaluate((s, o, c, d) => (window as any).trainRun(s, o, c, d, 'whole', 20), spec, OVERRIDES, CONFIG as never, pageData() as never)) as { losses: number[] };
    const part1 = (await p.evaluate((s, o, c, d) => (window as any).trainRun(s, o, c, d, 'resumed', 10), spec, OVERRIDES, CONFIG as never, pageData() as never)) as { losses: number[]; steps: number };
    assert.equal(part1.steps, 10);
    // The page reloaded: nothing in memory, the checkpoint (step 10) in IndexedDB.
    await p.reload();
    await p.waitForFunction('window.vmReady === true', { timeout: 60_000 });
    await p.evaluate(PAGE_HELPERS);
    await p.evaluate(PAGE_TRAIN);
    const part2 = (await p.evaluate((s, o, c, d) => (window as any).trainRun(s, o, c, d, 'resumed', 10), spec, OVERRIDES, CONFIG as never, pageData() as never)) as { losses: number[]; steps: number; weights: string; logits: number[] };
    assert.equal(part2.steps, 20);
    assert.deepEqual([...part1.losses, ...part2.losses], whole.losses);
    // The final weights: a checksummed safetensors file that Node reads, verifies and loads strictly.
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, Buffer.from(part2.weights, 'base64'));
    const model = createModel(spec as ModelSpec, OVERRIDES);
    await model.loadWeights(file);
    model.eval();
    assert.equal((await readSafetensors(file)).size, model.namedParameters().length + model.namedBuffers().length);
    const { Tensor } = await import('../../src/tensor.js');
    const logits = (await model.run(new Tensor(new Float32Array(32 * 32).fill(0.5), [1, 1, 32, 32], 'float32'))).logits.data as Float32Array;
    logits.forEach((v, i) => assert.ok(Math.abs(v - part2.logits[i]!) <= 1e-5 * Math.max(1, Math.abs(v)), `logit ${i}: Node ${v}, browser ${part2.logits[i]}`));
  } finally {
    await p.close();
  }
});

test('in a Web Worker: trainInWorker streams progress events and gives the page’s losses; a stop request checkpoints, and the same request resumes', { skip }, async () => {
  const spec = FAMILIES.convnextv2!;
  const p = await page();
  try {
    const r = (await p.evaluate(
      async (s: unknown, o: object, c: unknown, d: any) => {
        const vm = (window as any).vm;
        const ds = (window as any).dataset;
        const request = (run: string, stopAfterSteps?: number) => ({ model: { spec: s, options: { ...o, seed: 0 } }, train: ds(d.train), test: ds(d.test), config: c, run, stopAfterSteps });
        const worker = new Worker('/app/worker.js', { type: 'module' });
        const events: string[] = [];
        const losses: number[] = [];
        const onEvent = (e: any) => {
          events.push(e.type);
          if (e.type === 'step') losses.push(e.loss);
        };
        const whole = await vm.train.trainInWorker(worker, request('worker-whole', 12), onEvent);
        // Stopped through the signal after the 7th step: the worker checkpoints and reports an InterruptedError.
        const stop = new AbortController();
        const stopped: number[] = [];
        let error = '';
        try {
          await vm.train.trainInWorker(worker, request('worker-stopped'), (e: any) => {
            if (e.type !== 'step') return;
            stopped.push(e.loss);
            if (stopped.length === 7) stop.abort();
          }, stop.signal);
        } catch (err) {
          error = `${(err as any).errorName}|${(err as any).step}`;
        }
        const rest: number[] = [];
        const resumed = await vm.train.trainInWorker(worker, request('worker-stopped', 12 - stopped.length), (e: any) => e.type === 'step' && rest.push(e.loss));
        worker.terminate();
        const inPage = await (window as any).trainRun(s, o, c, d, 'page', 12);
        return { events: [...new Set(events)], losses, whole: whole.steps, stopped, error, rest, resumed: resumed.steps, page: inPage.losses, weights: whole.weights.length };
      },
      spec,
      OVERRIDES,
      CONFIG as never,
      pageData() as never,
    )) as { events: string[]; losses: number[]; whole: number; stopped: number[]; error: string; rest: number[]; resumed: number; page: number[]; weights: number };
    assert.deepEqual(r.events.sort(), ['checkpoint', 'compile', 'epoch', 'eval', 'start', 'step'].sort());
    assert.equal(r.whole, 12);
    assert.ok(r.weights > 0);
    assert.deepEqual(r.losses, r.page, 'the worker trains as the page does');
    // The step in flight when the stop arrived finished; its checkpoint is where the run continues.
    const [name, step] = r.error.split('|');
    assert.equal(name, 'InterruptedError');
    assert.equal(Number(step), r.stopped.length);
    assert.equal(r.resumed, 12);
    assert.deepEqual([...r.stopped, ...r.rest], r.page);
  } finally {
    await p.close();
  }
});

// ~2 min on this 2-core machine (SwiftShader compiles the shaders on the CPU): in CI always, locally on request.
const gpu = process.env.VISIONMIX_WEBGPU_TESTS === '1' || isCI();

test('WebGPU (SwiftShader): 2 train steps of a tiny ConvNeXt V2 and a tiny GLNet, the state kept in GPU buffers between them, give Node’s losses', { skip: skip || (!gpu && 'slow: set VISIONMIX_WEBGPU_TESTS=1 (CI runs it)') }, async (t) => {
  const p = await page();
  try {
    for (const family of ['convnextv2', 'glnet']) {
      const spec = FAMILIES[family]!;
      const want = await nodeLosses(spec, 2);
      const got = (await p.evaluate(
        async (s: unknown, o: object, c: unknown, d: any, run: string) => {
          const vm = (window as any).vm;
          const ds = (window as any).dataset;
          (window as any).gpuEngine ??= vm.createEngine({ device: 'webgpu' });
          const model = vm.createModel(s, { ...o, seed: 0, engine: (window as any).gpuEngine });
          const losses: number[] = [];
          const r = await vm.train.trainInBrowser({ model, train: ds(d.train), test: ds(d.test), config: c, run, stopAfterSteps: 2, onEvent: (e: any) => e.type === 'step' && losses.push(e.loss) });
          return { losses, device: await (window as any).gpuEngine.runtime.device(), stateOnDevice: r.stateOnDevice };
        },
        spec,
        OVERRIDES,
        CONFIG as never,
        pageData() as never,
        `webgpu-${family}`,
      )) as { losses: number[]; device: string; stateOnDevice: boolean };
      assert.equal(got.device, 'webgpu');
      assert.equal(got.stateOnDevice, true, 'the state stays in GPU buffers between steps');
      want.forEach((l, i) => assert.ok(Math.abs(got.losses[i]! - l) <= 1e-5 * Math.abs(l), `${family} step ${i + 1}: WebGPU ${got.losses[i]} vs Node ${l}`));
      t.diagnostic(`${family} on WebGPU: losses ${got.losses.map((l) => l.toFixed(6)).join(', ')} (Node ${want.map((l) => l.toFixed(6)).join(', ')})`);
    }
  } finally {
    await p.close();
  }
});

test('decoded images with the image-folder recipe (RandomResizedCrop, RandAugment, Mixup/CutMix): browser losses = trainInBrowser’s in Node', { skip }, async () => {
  const files = ['fmnist_test_0_ankle_boot', 'fmnist_test_13_dress', 'fmnist_test_1_pullover', 'fmnist_test_2_trouser', 'fmnist_test_4_shirt', 'fmnist_test_6_coat', 'fmnist_test_8_sandal', 'fmnist_test_9_sneaker'];
  const labels = [0, 1, 2, 3, 0, 1, 2, 3];
  const classes = ['a', 'b', 'c', 'd'];
  const spec = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 4 };
  const config = { epochs: 2, batchSize: 4, inputSize: 32, lr: 1e-3, seed: 3, warmupEpochs: 0.5 };
  const recipe = { augment: { scale: [0.35, 1] as [number, number], autoAugment: 'rand-m9-mstd0.5-inc1' }, mixup: { mixupAlpha: 0.8, cutmixAlpha: 1 } };
  // Node: the same trainer on the same decoded pixels, with an in-memory checkpoint store.
  const { loadImage } = await import('../../src/io/load_image.js');
  const { trainInBrowser } = await import('../../src/web_train.js');
  const images = await Promise.all(files.map((f) => loadImage(join(repoRoot, 'assets', 'samples', `${f}.png`))));
  const store = { map: new Map<string, Uint8Array>(), get: async (k: string) => store.map.get(k) ?? null, put: async (k: string, v: Uint8Array) => void store.map.set(k, v), delete: async () => {} };
  const want: number[] = [];
  await trainInBrowser({ model: createModel(spec as ModelSpec, { seed: 0 }), train: { images, labels, classes }, config, run: 'r', store, ...recipe, onEvent: (e) => void (e.type === 'step' && want.push(e.loss)) });
  assert.equal(want.length, 4);
  const p = await page();
  try {
    const got = (await p.evaluate(
      async (files: string[], labels: number[], classes: string[], spec: unknown, config: unknown, recipe: any) => {
        const vm = (window as any).vm;
        const decoded = await vm.train.decodeImages(files.map((f, i) => ({ image: `/assets/samples/${f}.png`, label: labels[i] })), classes);
        (window as any).engine ??= vm.createEngine({ device: 'wasm', numThreads: 1 });
        const model = vm.createModel(spec, { seed: 0, engine: (window as any).engine });
        const losses: number[] = [];
        await vm.train.trainInBrowser({ model, train: decoded, config, run: 'decoded', ...recipe, onEvent: (e: any) => e.type === 'step' && losses.push(e.loss) });
        return losses;
      },
      files,
      labels,
      classes,
      spec,
      config,
      recipe,
    )) as number[];
    assert.equal(got.length, want.length);
    want.forEach((l, i) => assert.ok(Math.abs(got[i]! - l) <= 1e-5 * Math.abs(l), `step ${i + 1}: browser ${got[i]} vs Node ${l}`));
  } finally {
    await p.close();
  }
});
