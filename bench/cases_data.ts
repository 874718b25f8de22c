/** Data cases: the worker-thread image loader (alone and feeding a train step) and `visionmix features`. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createModel, defaultEngine } from '../src/index.js'; // models on the Node entry's engine (onnxruntime-node)
import { benchModel } from '../src/tasks/bench.js';
import { benchLoader } from '../src/tasks/bench_loader.js';
import { extractFeatures, featuresLoader } from '../src/tasks/features.js';
import { openImageFolder } from '../src/tasks/image_folder.js';
import { measureLoader, type LoaderThroughput } from '../src/tasks/image_loader.js';
import { transformConfigOf } from '../src/tasks/transform.js';
import { measureCheckpointRss } from './checkpoint_rss.js';
import type { BenchCase, BenchRow } from './types.js';

const engine = defaultEngine();

/**
 * Synthetic photos for the loader benchmark: `count` 500×375 RGB images (ImageNet's typical size),
 * half JPEG (quality 90) and half PNG, in `classes` class folders under `dir`. Smooth gradients with
 * noise, so that both codecs do realistic work.
 */
async function writeBenchImages(dir: string, count: number, classes = 4): Promise<void> {
  const [w, h] = [500, 375];
  for (let i = 0; i < count; i++) {
    const folder = join(dir, `class_${i % classes}`);
    mkdirSync(folder, { recursive: true });
    const px = Buffer.alloc(w * h * 3);
    let s = i * 7919 + 1;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) {
          s = (s * 1103515245 + 12345) >>> 0;
          px[(y * w + x) * 3 + c] = (((x + i * 13) * (c + 1)) / 4 + y / 3 + ((s >>> 16) & 31)) & 255;
        }
    const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
    await (i % 2 ? img.jpeg({ quality: 90 }) : img.png()).toFile(join(folder, `${i}.${i % 2 ? 'jpg' : 'png'}`));
  }
}

/**
 * The worker-thread image loader with the timm recipe transform (decode, RandomResizedCrop, flip,
 * RandAugment rand-m9-mstd0.5-inc1, normalise, random erasing 0.25) at 224², from JPEG and PNG
 * files: alone, then feeding the ConvNeXt V2-atto train step (same batch), which shows whether the
 * step waits on data.
 */
export function loaderCase(workers: number, batch: number, size = 224, counts = { batches: 8, steps: 6 }): BenchCase {
  return {
    id: `data/loader/w${workers}/b${batch}/s${size}`,
    async run(ctx) {
      const dir = mkdtempSync(join(tmpdir(), 'visionmix-bench-images-'));
      try {
        ctx.log(`  writing ${2 * batch} synthetic photos (JPEG + PNG, 500×375)...`);
        await writeBenchImages(dir, 2 * batch);
        const samples = openImageFolder(dir).train.samples;
        const bar = ctx.progress(`loader ${workers} workers`, counts.batches + counts.steps, batch);
        const r = await benchLoader({
          samples,
          workers,
          batch,
          size,
          batches: counts.batches,
          trainStep: { model: createModel('convnextv2_atto'), threads: ctx.threads, steps: counts.steps },
          onBatch: () => bar.tick(),
        });
        bar.done();
        const row = (label: string, t: LoaderThroughput): BenchRow => ({
          section: 'data',
          label,
          model: 'convnextv2_atto',
          runtime: `worker_threads × ${workers}`,
          batch,
          size,
          threads: workers,
          msPerImageMin: 1000 / t.imagesPerSecond,
          msPerImageMedian: 1000 / t.imagesPerSecond,
          imagesPerSecond: t.imagesPerSecond,
          waitFraction: t.waitFraction,
        });
        const rows = [row('loader alone (decode + RandAugment + erasing)', r.alone)];
        if (r.withStep) {
          rows.push(row('loader feeding the ConvNeXt V2-A train step', r.withStep));
          ctx.note(
            `Loader (${workers} workers, batch ${batch}, ${size}²): worker time per image ${r.alone.decodeMsPerImage.toFixed(1)} ms decoding + ` +
              `${r.alone.transformMsPerImage.toFixed(1)} ms augmenting; fed to the ConvNeXt V2-A train step, the step waited on data ` +
              `${(100 * r.withStep.waitFraction).toFixed(1)}% of the time (workers and ONNX Runtime share the same cores).`,
          );
        }
        return rows;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * `visionmix features` on a folder of `count` photos (500×375, JPEG and PNG): 2 worker threads decode
 * and apply the weights' eval transform (PIL-exact resize, centre crop) while the model runs on ONNX
 * Runtime's threads. Rows: the whole job's img/s, the model's share of it, and preparation alone (the
 * same loader with nothing else running); the note says which one bounds the job and how long the
 * model waited for images.
 */
export function featuresCase(model: string, label: string, count: number, batch: number, workers = 2): BenchCase {
  return {
    id: `data/features/${model}/b${batch}/n${count}`,
    async run(ctx) {
      const dir = mkdtempSync(join(tmpdir(), 'visionmix-bench-features-'));
      try {
        ctx.log(`  writing ${count} synthetic photos (JPEG + PNG, 500×375)...`);
        await writeBenchImages(dir, count, 1);
        const images = openImageFolder(dir).train.samples.map((s) => s.path);
        // Preparation alone: the loader features uses, nothing else on the cores.
        const config = transformConfigOf(model);
        const loader = featuresLoader(images, config, { batch, workers });
        // Worker start-up is left out (measureLoader takes the first chunk before the clock starts):
        // in the job it overlaps the model's loading and compilation.
        let prepAlone: LoaderThroughput;
        try {
          prepAlone = await measureLoader(loader, loader.batchesPerEpoch - 1);
        } finally {
          await loader.close();
        }
        const bar = ctx.progress(`features ${label}`, count, 1);
        let seen = 0;
        const r = await extractFeatures(engine, {
          model,
          images,
          batch,
          workers,
          threads: ctx.threads,
          onProgress: (done) => {
            for (; seen < done; seen++) bar.tick();
          },
        });
        bar.done();
        const n = r.files.length;
        const perImage = (ms: number) => ms / n;
        const size = config.inputSize[1];
        const row = (what: string, ms: number, runtime: string): BenchRow => ({
          section: 'data',
          label: `${label} features: ${what}`,
          model,
          runtime,
          batch,
          size,
          threads: ctx.threads,
          msPerImageMin: perImage(ms),
          msPerImageMedian: perImage(ms),
          imagesPerSecond: (1000 * n) / ms,
          waitFraction: what.startsWith('decode + transform + forward') ? r.timing.waitMs / r.timing.wallMs : undefined,
        });
        const prepAloneMs = (1000 * n) / prepAlone.imagesPerSecond;
        // The model alone, compiled, on the same batch size and threads (its runs in the job include
        // the compilations, one per batch size): the steady-state rate the images must keep up with.
        const pooledModel = engine.createModel(model);
        pooledModel.resetClassifier(0);
        const alone = await benchModel({ model: pooledModel, batch, threads: ctx.threads, warmup: 1, iters: 3 });
        const modelAloneMs = alone.msPerImageMin * n;
        // Core time per image of each part alone (all of its threads busy), and the best the two can do together on these cores.
        const prepCoreMs = (workers * prepAloneMs) / n;
        const modelCoreMs = ctx.threads * alone.msPerImageMin;
        const ceiling = (1000 * ctx.threads) / (prepCoreMs + modelCoreMs);
        const bound = prepAloneMs < modelAloneMs ? 'the model bounds the job, not the images' : 'preparing images bounds the job';
        ctx.note(
          `visionmix features (${label}, ${n} photos, batch ${batch}, ${workers} decode workers in chunks of ${loader.batchSize}): ` +
            `${((1000 * n) / r.timing.wallMs).toFixed(1)} img/s end to end (the model's compilation included). Alone, the workers prepare ${prepAlone.imagesPerSecond.toFixed(1)} img/s ` +
            `(${perImage(r.timing.decodeMs).toFixed(1)} ms decoding + ${perImage(r.timing.transformMs).toFixed(1)} ms transforming per image and worker during the job, ` +
            `beside ONNX Runtime's threads on the same ${ctx.threads} cores); the model alone runs ${(1000 / alone.msPerImageMin).toFixed(1)} img/s ` +
            `(in the job its runs, compilation for each batch size included, took ${perImage(r.timing.modelMs).toFixed(1)} ms per image) and it waited for images ` +
            `${((100 * r.timing.waitMs) / r.timing.wallMs).toFixed(0)}% of the job's wall time, the first batch included — ${bound}. ` +
            `Both share the same cores: with each alone keeping them busy, the job could at best run ${ceiling.toFixed(1)} img/s ` +
            `(${ctx.threads} cores ÷ (${(prepCoreMs).toFixed(1)} core-ms preparing + ${(modelCoreMs).toFixed(1)} core-ms in the model per image)); ` +
            `it runs at ${((100 * (1000 * n) / r.timing.wallMs) / ceiling).toFixed(0)}% of that.`,
        );
        return [
          row('decode + transform + forward', r.timing.wallMs, `onnxruntime-node + ${workers} sharp workers`),
          row('model alone (compiled)', modelAloneMs, 'onnxruntime-node'),
          row('decode + transform alone', prepAloneMs, `${workers} sharp workers`),
        ];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Peak memory of reading a generated ~300 MB PyTorch checkpoint in a fresh process (a note, not a
 * timing row): the reader goes storage by storage, so the peak should stay below 1.5× the file.
 */
export function checkpointRssCase(): BenchCase {
  return {
    id: 'io/pth-rss',
    run: async (ctx) => {
      const r = await measureCheckpointRss();
      const mb = (b: number) => (b / 2 ** 20).toFixed(0);
      ctx.note(
        `Reading a generated ${mb(r.fileBytes)} MiB PyTorch checkpoint (torch.save zip, 75 float32 tensors) with readWeights in a fresh process: ` +
          `peak RSS ${mb(r.peakBytes)} MiB = ${(r.peakBytes / r.fileBytes).toFixed(2)}× the file ` +
          `(${((r.peakBytes - r.baselineBytes) / r.fileBytes).toFixed(2)}× above the process's ${mb(r.baselineBytes)} MiB before reading).`,
      );
      return [];
    },
  };
}
