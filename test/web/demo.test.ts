/**
 * The demo page (examples/web/, served by `npm run web`'s server) in headless Chromium: a tiny ConvNeXt
 * given as a config, weights made here and picked as a local file, a bundled sample clicked → the top
 * label shows in the DOM (the weights' head is set so that one known class wins). The screenshot goes
 * to docs/web-demo.png (the README shows it); then a tiny GLNet shows its slot-assignment picture
 * (docs/web-demo-glnet.png). The fine-tune panel trains a small ConvNeXt V2 on the bundled Fashion-MNIST
 * samples as class folders in a Web Worker, draws its curve and then classifies with the new head
 * (docs/web-demo-finetune.png).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imagenetLabels } from '../../src/data/imagenet_labels.js';
import { createModel, writeSafetensors } from '../../src/index.js';
import { startDemoServer } from '../../scripts/web_demo.js';
import { repoRoot } from '../helpers.js';
import { browserSkip, launch } from './harness.js';

// The README's screenshots are rewritten with VISIONMIX_WRITE_DOCS=1; other runs keep them in a temp folder
// (a test run leaves the checkout as it found it).
const SHOTS = process.env.VISIONMIX_WRITE_DOCS === '1' ? join(repoRoot, 'docs') : join(tmpdir(), `vm-demo-shots-${process.pid}`);

const CONFIG = { family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], num_classes: 1000 };
const WINNER = 207;
const GLNET = {
  family: 'glnet',
  norm_layer: 'BatchNorm2d',
  mixing_modes: ['glmix', 'glmix', 'glmix.mha_nchw', 'mha_nchw'],
  slot_init: 'ada_avgpool',
  downsample_style: 'ovlp',
  mlp_dw: true,
  depth: [1, 1, 2, 1],
  embed_dim: [16, 32, 48, 64],
  head_dim: 8,
  num_slots: 9,
  num_classes: 10,
};

test('demo page: a local weights file and a bundled sample give the expected top label', { skip: browserSkip() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-demo-test-'));
  const server = await startDemoServer({ port: 0 });
  const browser = await launch();
  try {
    // Weights whose classifier bias makes class WINNER win by far, whatever the image.
    const model = createModel(CONFIG as never, { seed: 1 });
    const sd = model.stateDict();
    const bias = Object.entries(sd).find(([k, t]) => k.endsWith('bias') && t.shape.length === 1 && t.shape[0] === 1000);
    assert.ok(bias, 'the head has a 1000-class bias');
    (bias[1].data as Float32Array)[WINNER] = 50;
    const weights = join(dir, 'tiny.safetensors');
    await writeSafetensors(weights, sd);

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setViewport({ width: 1100, height: 900 });
    await page.goto(server.url);
    await page.waitForFunction('window.demoReady === true', { timeout: 60_000 });
    await page.select('#device', 'wasm');
    await page.type('#config', JSON.stringify(CONFIG));
    await page.click('input[name=wsrc][value=file]');
    const input = await page.$('#wfile');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(weights);
    await page.click('#samples button');
    await page.waitForFunction(() => document.querySelector('#top5 li.prediction') !== null || document.querySelector('#error')!.textContent !== '', { timeout: 120_000 });
    const error = await page.$eval('#error', (e) => e.textContent);
    assert.equal(error, '', `the page reported: ${error}`);
    const first = await page.$eval('#top5 li.prediction', (e) => e.textContent ?? '');
    assert.match(first, new RegExp(`^${imagenetLabels()[WINNER]} — 100\\.0%`));
    assert.equal(await page.$$eval('#stages canvas', (c) => c.length), 4, 'one feature map per stage');
    assert.match(await page.$eval('#timing', (e) => e.textContent ?? ''), /per image \d+ ms · wasm, cross-origin isolated/);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'web-demo.png') as `${string}.png`, fullPage: true });

    // The webcam (Chromium's fake camera): a frame is classified by the same model.
    await page.$eval('#top5', (e) => (e.textContent = ''));
    await page.click('#camera');
    await page.waitForFunction(() => !(document.querySelector('#snap') as HTMLButtonElement).disabled || document.querySelector('#error')!.textContent !== '', { timeout: 30_000 });
    assert.equal(await page.$eval('#error', (e) => e.textContent), '', 'the camera started');
    await page.click('#snap');
    await page.waitForFunction(() => document.querySelector('#top5 li.prediction') !== null || document.querySelector('#error')!.textContent !== '', { timeout: 120_000 });
    assert.equal(await page.$eval('#error', (e) => e.textContent), '');
    assert.match(await page.$eval('#top5 li.prediction', (e) => e.textContent ?? ''), new RegExp(`^${imagenetLabels()[WINNER]} — 100\\.0%`));
    assert.match(await page.$eval('#timing', (e) => e.textContent ?? ''), /^webcam frame: /);

    // A tiny GLNet (random weights): the slot-assignment picture appears, as `analyze slots` draws it.
    assert.equal(await page.$eval('#slots', (e) => (e as HTMLCanvasElement).hidden), true, 'no slot picture for a ConvNeXt');
    await page.$eval('#config', (e, v) => ((e as HTMLInputElement).value = v), JSON.stringify(GLNET));
    await page.click('input[name=wsrc][value=none]');
    await page.$eval('#top5', (e) => (e.textContent = ''));
    await page.click('#samples button:nth-of-type(2)');
    await page.waitForFunction(() => document.querySelector('#top5 li.prediction') !== null || document.querySelector('#error')!.textContent !== '', { timeout: 120_000 });
    assert.equal(await page.$eval('#error', (e) => e.textContent), '');
    const slots = await page.$eval('#slots', (e) => ({ hidden: (e as HTMLCanvasElement).hidden, w: (e as HTMLCanvasElement).width, h: (e as HTMLCanvasElement).height }));
    assert.ok(!slots.hidden && slots.w > 200 && slots.h > 100, `slot picture ${JSON.stringify(slots)}`);
    await page.screenshot({ path: join(SHOTS, 'web-demo-glnet.png') as `${string}.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo page: the fine-tune panel trains a small model on the Fashion-MNIST samples as class folders in a worker, draws the curve, then classifies with the new head', { skip: browserSkip() }, async () => {
  const server = await startDemoServer({ port: 0 });
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setViewport({ width: 1100, height: 1100 });
    await page.goto(server.url);
    await page.waitForFunction('window.demoReady === true', { timeout: 60_000 });
    await page.select('#device', 'wasm');
    await page.type('#config', JSON.stringify({ family: 'convnextv2', depths: [1, 1, 2, 1], dims: [16, 32, 48, 64], stem_stride: 2 }));
    await page.click('input[name=wsrc][value=none]');
    await page.click('#ftsamples');
    await page.waitForFunction(() => !(document.querySelector('#fttrain') as HTMLButtonElement).disabled || document.querySelector('#error')!.textContent !== '', { timeout: 60_000 });
    assert.equal(await page.$eval('#error', (e) => e.textContent), '');
    assert.equal(await page.$eval('#ftdata', (e) => e.textContent), '160 images in 4 classes (1_trouser, 7_sneaker, 8_bag, 9_ankle_boot)');
    await page.$eval('#ftepochs', (e) => ((e as HTMLInputElement).value = '3'));
    await page.click('#fttrain');
    await page.waitForFunction(() => /^done: /.test(document.querySelector('#ftstatus')!.textContent ?? '') || document.querySelector('#error')!.textContent !== '', { timeout: 300_000 });
    assert.equal(await page.$eval('#error', (e) => e.textContent), '');
    const status = await page.$eval('#ftstatus', (e) => e.textContent ?? '');
    // 128 training images, batch 16: 8 steps an epoch.
    const m = /^done: 24 steps · held-out accuracy ([\d.]+)% on 32 images · the page now classifies with this model \(4 classes\)$/.exec(status);
    assert.ok(m, status);
    // The curve was drawn: blue loss pixels and green accuracy marks on the canvas.
    const colours = await page.$eval('#ftcurve', (c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
      let blue = 0;
      let green = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 2]! > 150 && d[i]! < 100) blue++;
        if (d[i + 1]! > 120 && d[i]! < 80 && d[i + 2]! < 120) green++;
      }
      return { blue, green };
    });
    assert.ok(colours.blue > 50 && colours.green > 20, JSON.stringify(colours));
    // The page now classifies with the fine-tuned model: its labels are the class folders' names.
    await page.$eval('#top5', (e) => (e.textContent = ''));
    await page.click('#samples button');
    await page.waitForFunction(() => document.querySelector('#top5 li.prediction') !== null || document.querySelector('#error')!.textContent !== '', { timeout: 120_000 });
    assert.equal(await page.$eval('#error', (e) => e.textContent), '');
    const labels = await page.$$eval('#top5 li.prediction', (li) => li.map((e) => (e.textContent ?? '').split(' — ')[0]));
    assert.deepEqual([...labels].sort(), ['1_trouser', '7_sneaker', '8_bag', '9_ankle_boot']);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'web-demo-finetune.png') as `${string}.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
