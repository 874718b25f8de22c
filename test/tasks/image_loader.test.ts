/**
 * ImageFolder data sets on disk and the worker-thread loader: classes and samples as torchvision
 * lists them, typed errors for bad folders, batches that do not depend on the number of workers,
 * the same seed giving the same batches also after a resume, Mixup targets, unreadable images
 * stopping or skipped by option, and a dying worker failing the task without killing the pool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataError } from '../../src/errors.js';
import { loadImage } from '../../src/io/load_image.js';
import { WorkerPool } from '../../src/io/worker_pool.js';
import { ImageLoader, measureLoader, type LoaderBatch, type LoaderTransform } from '../../src/tasks/image_loader.js';
import { openImageFolder } from '../../src/tasks/image_folder.js';
import { createTransform } from '../../src/tasks/transform.js';
import { Mixup } from '../../src/train/mixup.js';
import { DecodedImageBatches } from '../../src/train/decoded_batches.js';
import type { TrainTransformConfig } from '../../src/data/train_transform.js';
import { Rng } from '../../src/util/rng.js';

/** A small RGB image file with content that depends on (seed, size). */
async function writeImage(path: string, w: number, h: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = ((i % (w * 3)) * 2 + rng.int(60) + seed * 17) & 255;
  const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
  await (path.endsWith('.png') ? img.png() : img.jpeg({ quality: 90 })).toFile(path);
}

const root = mkdtempSync(join(tmpdir(), 'visionmix-imagefolder-'));
const CLASSES = ['cat', 'dog', 'eel'];

test.before(async () => {
  let seed = 0;
  for (const split of ['train', 'val'])
    for (const c of CLASSES) {
      mkdirSync(join(root, 'ds', split, c, 'sub'), { recursive: true });
      const n = split === 'train' ? 4 : 2;
      for (let i = 0; i < n; i++) await writeImage(join(root, 'ds', split, c, `${i}.${i % 2 ? 'jpg' : 'png'}`), 40 + i * 3, 30 + i, seed++);
      if (split === 'train') await writeImage(join(root, 'ds', split, c, 'sub', 'deep.PNG'), 33, 33, seed++);
      writeFileSync(join(root, 'ds', split, c, 'notes.txt'), 'not an image');
    }
  mkdirSync(join(root, 'empty', 'a'), { recursive: true });
  mkdirSync(join(root, 'empty', 'b'), { recursive: true });
  await writeImage(join(root, 'empty', 'a', 'x.png'), 20, 20, 99);
  mkdirSync(join(root, 'noclasses'), { recursive: true });
  writeFileSync(join(root, 'noclasses', 'stray.png'), 'x');
  mkdirSync(join(root, 'broken', 'a'), { recursive: true });
  mkdirSync(join(root, 'broken', 'b'), { recursive: true });
  for (let i = 0; i < 3; i++) await writeImage(join(root, 'broken', 'a', `${i}.png`), 24, 24, 200 + i);
  for (let i = 0; i < 3; i++) await writeImage(join(root, 'broken', 'b', `${i}.jpg`), 24, 24, 300 + i);
  writeFileSync(join(root, 'broken', 'b', '1.jpg'), 'this is not a JPEG');
});
test.after(() => rmSync(root, { recursive: true, force: true }));

test('ImageFolder: sorted classes, images below each class folder (recursively, sorted), train/val folders', () => {
  const ds = openImageFolder(join(root, 'ds'));
  assert.equal(ds.splitBy, 'folders');
  assert.deepEqual(ds.classes, CLASSES);
  assert.equal(ds.train.samples.length, 15);
  assert.equal(ds.val!.samples.length, 6);
  assert.deepEqual(
    ds.train.samples.slice(0, 5).map((s) => [s.path.slice(root.length + 1), s.label]),
    [
      ['ds/train/cat/0.png', 0],
      ['ds/train/cat/1.jpg', 0],
      ['ds/train/cat/2.png', 0],
      ['ds/train/cat/3.jpg', 0],
      ['ds/train/cat/sub/deep.PNG', 0],
    ],
  );
  assert.deepEqual([...new Set(ds.val!.samples.map((s) => s.label))], [0, 1, 2]);
});

test('ImageFolder: a seeded, stratified fraction split; no split', () => {
  const a = openImageFolder(join(root, 'ds', 'train'), { valFraction: 0.4, seed: 3 });
  const b = openImageFolder(join(root, 'ds', 'train'), { valFraction: 0.4, seed: 3 });
  assert.equal(a.splitBy, 'fraction');
  assert.deepEqual(a.val, b.val);
  assert.equal(a.val!.samples.length, 6, '2 of each class of 5');
  for (let c = 0; c < 3; c++) assert.equal(a.val!.samples.filter((s) => s.label === c).length, 2);
  const paths = new Set([...a.train.samples, ...a.val!.samples].map((s) => s.path));
  assert.equal(paths.size, 15);
  const none = openImageFolder(join(root, 'ds', 'train'));
  assert.equal(none.splitBy, 'none');
  assert.equal(none.val, null);
});

test('ImageFolder: no classes, an empty class folder, a missing root → DataErrors naming the folder', () => {
  assert.throws(() => openImageFolder(join(root, 'empty')), (e: Error) => e instanceof DataError && e.message.includes(join(root, 'empty', 'b')) && /holds no images/.test(e.message));
  assert.throws(() => openImageFolder(join(root, 'noclasses')), (e: Error) => e instanceof DataError && /has no class folders/.test(e.message) && e.message.includes('noclasses'));
  assert.throws(() => openImageFolder(join(root, 'missing')), /data folder not found/);
  assert.throws(() => openImageFolder(join(root, 'ds'), { split: 'folders', valFraction: 0.2 }), /valFraction/);
  assert.throws(() => openImageFolder(join(root, 'ds', 'train'), { valFraction: 1.5 }), /`valFraction` must be in \(0, 1\)/);
});

const TRAIN: LoaderTransform = {
  kind: 'train',
  config: {
    inputSize: [3, 32, 32],
    autoAugment: 'rand-m9-mstd0.5-inc1',
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    reProb: 0.25,
  },
};

async function take(loader: ImageLoader, n: number): Promise<LoaderBatch[]> {
  const out: LoaderBatch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  return out;
}

const fingerprint = (b: LoaderBatch) => ({ epoch: b.epoch, batch: b.batch, indices: Array.from(b.indices), labels: Array.from(b.labels), x: Array.from(b.x.data as Float32Array) });

test('loader: the same seed gives the same batches with 1 or 2 workers; another seed does not', async () => {
  const samples = openImageFolder(join(root, 'ds')).train.samples;
  const make = (workers: number, seed: number) => new ImageLoader({ samples, batchSize: 4, seed, transform: TRAIN, workers });
  const a = make(2, 7);
  const b = make(1, 7);
  const c = make(2, 8);
  try {
    assert.equal(a.batchesPerEpoch, 3, '15 samples, batch 4, drop last');
    const [ba, bb, bc] = await Promise.all([take(a, 5), take(b, 5), take(c, 5)]);
    assert.deepEqual(ba.map(fingerprint), bb.map(fingerprint));
    assert.notDeepEqual(ba.map(fingerprint), bc.map(fingerprint));
    assert.deepEqual(ba.map((x) => [x.epoch, x.batch]), [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]);
    for (const x of ba) {
      assert.deepEqual(x.x.shape, [4, 3, 32, 32]);
      assert.ok((x.x.data as Float32Array).every(Number.isFinite));
    }
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

test('loader: a run restored from state() sees the batches an uninterrupted run sees', async () => {
  const samples = openImageFolder(join(root, 'ds')).train.samples;
  const mixup = new Mixup({ numClasses: 3, mixupAlpha: 0.8, cutmixAlpha: 1 });
  const make = () => new ImageLoader({ samples, batchSize: 4, seed: 11, transform: TRAIN, mixup, prefetch: 3 });
  const whole = make();
  const first = make();
  const resumed = make();
  try {
    const all = await take(whole, 6);
    await take(first, 4);
    const state = first.state();
    assert.deepEqual(state, { epoch: 1, position: 4 });
    resumed.restore(JSON.parse(JSON.stringify(state)));
    const rest = await take(resumed, 2);
    assert.deepEqual(rest.map(fingerprint), all.slice(4).map(fingerprint));
    assert.deepEqual(
      rest.map((b) => Array.from(b.targets!.data as Float32Array)),
      all.slice(4).map((b) => Array.from(b.targets!.data as Float32Array)),
    );
    assert.deepEqual(all[0]!.targets!.shape, [4, 3]);
  } finally {
    await Promise.all([whole.close(), first.close(), resumed.close()]);
  }
});

test('loader: epochBatches() yields the rest of the epoch; bad options are ConfigErrors', async () => {
  const samples = openImageFolder(join(root, 'ds')).train.samples;
  const loader = new ImageLoader({ samples, batchSize: 4, seed: 2, transform: TRAIN, workers: 1 });
  try {
    await loader.next();
    const rest = [];
    for await (const b of loader.epochBatches()) rest.push(b.batch);
    assert.deepEqual(rest, [1, 2]);
    assert.equal(loader.epoch, 1);
  } finally {
    await loader.close();
  }
  const base = { samples, batchSize: 4, seed: 0, transform: TRAIN };
  assert.throws(() => new ImageLoader({ ...base, batchSize: 3, mixup: new Mixup({ numClasses: 3 }) }), /even/);
  assert.throws(() => new ImageLoader({ ...base, mixup: new Mixup({ numClasses: 2 }) }), /labels up to 2/);
  assert.throws(() => new ImageLoader({ ...base, onError: 'ignore' as 'skip' }), /`onError`/);
  assert.throws(() => new ImageLoader({ ...base, samples: [] }), /no samples/);
  assert.throws(() => new ImageLoader({ ...base, batchSize: 0 }), /batch/);
});

test('loader: eval batches equal the eval transform of each file, in order', async () => {
  const samples = openImageFolder(join(root, 'ds')).val!.samples;
  const config = { inputSize: [3, 24, 24] as [number, number, number], cropPct: 0.875, interpolation: 'bicubic' as const, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.25, 0.25, 0.25] as [number, number, number] };
  const loader = new ImageLoader({ samples, batchSize: 4, seed: 0, transform: { kind: 'eval', config } });
  try {
    const batches = [...(await take(loader, 2))];
    assert.deepEqual(batches.map((b) => b.x.shape[0]), [4, 2], 'no shuffle, last batch kept');
    assert.deepEqual(Array.from(batches[0]!.indices), [0, 1, 2, 3]);
    const tf = createTransform(config);
    const want = await tf(await loadImage(samples[5]!.path));
    assert.deepEqual(Array.from((batches[1]!.x.data as Float32Array).subarray(3 * 24 * 24)), Array.from(want.data as Float32Array));
  } finally {
    await loader.close();
  }
});

test("loader: an unreadable image stops with its path (default) or is skipped and counted ('skip')", async () => {
  const samples = openImageFolder(join(root, 'broken')).train.samples;
  const bad = join(root, 'broken', 'b', '1.jpg');
  const stop = new ImageLoader({ samples, batchSize: 6, seed: 0, transform: TRAIN, shuffle: false });
  try {
    await assert.rejects(stop.next(), (e: Error) => e instanceof DataError && e.message.includes(bad) && /onError 'skip'/.test(e.message));
  } finally {
    await stop.close();
  }
  const skip = new ImageLoader({ samples, batchSize: 6, seed: 0, transform: TRAIN, shuffle: false, onError: 'skip' });
  try {
    const b = await skip.next();
    assert.equal(b.x.shape[0], 5);
    assert.deepEqual(b.skipped.map((s) => s.path), [bad]);
    assert.deepEqual(Array.from(b.indices), [0, 1, 2, 3, 5]);
    assert.equal(skip.skippedCount, 1);
  } finally {
    await skip.close();
  }
});

test('loader: `epochs` bounds the passes (nothing prepared past them, next() after them fails); an eval batch of unreadable images only is empty, not fatal', async () => {
  const samples = openImageFolder(join(root, 'broken')).train.samples; // 6 images, the 5th unreadable
  const config = { inputSize: [3, 16, 16] as [number, number, number], cropPct: 1, interpolation: 'bilinear' as const, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.5, 0.5, 0.5] as [number, number, number] };
  const transform: LoaderTransform = { kind: 'eval', config };
  const loader = new ImageLoader({ samples, batchSize: 1, seed: 0, transform, onError: 'skip', epochs: 1, prefetch: 8 });
  try {
    const got: LoaderBatch[] = [];
    for await (const b of loader.epochBatches()) got.push(b);
    assert.deepEqual(got.map((b) => b.indices.length), [1, 1, 1, 1, 0, 1]);
    assert.deepEqual(got[4]!.x.shape, [0, 3, 16, 16]);
    assert.deepEqual(got[4]!.skipped.map((s) => s.path), [samples[4]!.path]);
    assert.equal(loader.epoch, 1);
    await assert.rejects(loader.next(), /after the last of its 1 epoch/);
  } finally {
    await loader.close();
  }
  assert.throws(() => new ImageLoader({ samples, batchSize: 1, seed: 0, transform, epochs: 0 }), /`epochs` must be a positive integer, got 0/);
  // A training batch of nothing cannot be stepped on: still a DataError.
  const train = new ImageLoader({ samples: [samples[4]!], batchSize: 1, seed: 0, transform: TRAIN, onError: 'skip', epochs: 1 });
  try {
    await assert.rejects(train.next(), (e: Error) => e instanceof DataError && /no image of epoch 1 batch 1 could be read/.test(e.message));
  } finally {
    await train.close();
  }
});

test('worker pool: a worker that throws or exits fails its task with a DataError; the pool goes on', async () => {
  const pool = new WorkerPool(new URL('../fixtures/crash_worker.js', import.meta.url), { threads: 2, label: 'test pool' });
  try {
    assert.equal(await pool.run({ action: 'echo', value: 21 }, 'echo'), 42);
    await assert.rejects(pool.run({ action: 'throw' }, 'task 1'), (e: Error) => e instanceof DataError && /test pool: a worker failed on task 1: worker bug/.test(e.message));
    await assert.rejects(pool.run({ action: 'exit' }, 'task 2'), (e: Error) => e instanceof DataError && /task 2/.test(e.message));
    assert.deepEqual(await Promise.all([1, 2, 3].map((v) => pool.run({ action: 'echo', value: v }, 'echo'))), [2, 4, 6]);
  } finally {
    await pool.close();
  }
});

test('measureLoader: throughput and the consumer\'s waiting share', async () => {
  const samples = openImageFolder(join(root, 'ds')).train.samples;
  const loader = new ImageLoader({ samples, batchSize: 4, seed: 1, transform: TRAIN });
  try {
    const r = await measureLoader(loader, 4, () => new Promise((res) => setTimeout(res, 5)));
    assert.equal(r.images, 16);
    assert.ok(r.imagesPerSecond > 0 && r.waitFraction >= 0 && r.waitFraction <= 1);
    assert.ok(r.decodeMsPerImage > 0 && r.transformMsPerImage > 0);
  } finally {
    await loader.close();
  }
});

test('decoded images in memory (the browser trainer) give the worker loader’s batches: order, augmentation and Mixup/CutMix', async () => {
  const samples = openImageFolder(join(root, 'ds')).train.samples;
  const mixup = new Mixup({ numClasses: 3, mixupAlpha: 0.8, cutmixAlpha: 1 });
  const loader = new ImageLoader({ samples, batchSize: 4, seed: 7, transform: TRAIN, mixup, workers: 1 });
  const images = await Promise.all(samples.map((s) => loadImage(s.path)));
  const decoded = new DecodedImageBatches(images, samples.map((s) => s.label), { batchSize: 4, seed: 7, transform: TRAIN.config as TrainTransformConfig, mixup });
  try {
    assert.equal(decoded.stepsPerEpoch, loader.batchesPerEpoch);
    for (let i = 0; i < 5; i++) {
      const [a, b] = [await loader.next(), await decoded.next()];
      assert.deepEqual(Array.from(b.labels), Array.from(a.labels), `batch ${i}: labels`);
      assert.deepEqual(b.x.data, a.x.data, `batch ${i}: pixels`);
      assert.deepEqual(b.soft!.data, a.targets!.data, `batch ${i}: Mixup/CutMix targets`);
      assert.deepEqual(decoded.state(), loader.state());
    }
  } finally {
    await loader.close();
  }
});
