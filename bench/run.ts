/**
 * The benchmark suite: `npm run bench` (= `tsc -p . && node dist/bench/run.js`).
 *
 * What it measures, in one process, so that every figure is a measurement or a ratio of this run:
 *  1. the GEMM peak (2048³ fp32 MatMul through our runtime, same thread count) — before the cases
 *     and again after them; the larger of the two is "peak", and their ratio shows drift (a
 *     neighbour starting to compute, thermal limits) that would make the other ratios doubtful;
 *  2. the `cases`: fp32 inference of ConvNeXt-T and ConvNeXt V2-T at batch 1 and 8, 224², and a
 *     peer comparison, the same serialized ONNX graph on onnxruntime-node and onnxruntime-web (wasm).
 * It prints the tables and writes BENCHMARKS.md at the repository root.
 *
 * Adding benchmarks (training steps are next): write a function returning a `BenchCase` and put it
 * in `cases`. A case returns `BenchRow`s for one of the `SECTIONS`; rows that carry
 * `flopsPerImage` get GFLOP/s and a fraction of the GEMM peak computed for them at the end. The
 * `training` section is declared already: it shows up as soon as a case fills it.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { RunRecord } from './record_run.js';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createFcmae, createModel, engine, Tensor } from '../src/index.js'; // models on the Node entry's engine (onnxruntime-node)
import { defineCommand, parseCommand, renderHelp } from '../src/cli/args.js';
import { ProgressBar } from '../src/cli/progress.js';
import { renderMarkdownTable, renderTable, type TableColumn } from '../src/cli/table.js';
import { VisionmixError } from '../src/errors.js';
import { toModelProto } from '../src/graph/emit.js';
import type { VisionModel } from '../src/models/base.js';
import { traceForward } from '../src/models/trace.js';
import type { ModelSpec } from '../src/models/registry.js';
import type { Objective } from '../src/train/objective.js';
import { benchTrainStep, benchTrainSteps, type TrainBench, type TrainBenchOptions } from '../src/tasks/bench_train.js';
import { profileInference } from '../src/tasks/bench_profile.js';
import type { OpTime } from '../src/runtime/node_profile.js';
import { benchLoader } from '../src/tasks/bench_loader.js';
import { measureCheckpointRss } from './checkpoint_rss.js';
import { measureLoader, type LoaderThroughput } from '../src/tasks/image_loader.js';
import { openImageFolder } from '../src/tasks/image_folder.js';
import { extractFeatures, featuresLoader } from '../src/tasks/features.js';
import { transformConfigOf } from '../src/tasks/transform.js';
import sharp from 'sharp';
import {
  benchModel,
  benchNativeSession,
  benchWebSession,
  machineInfo,
  measureGemmPeak,
  modelBenchCalls,
  runtimeVersions,
  type GemmPeak,
  type MachineInfo,
  type SessionBench,
} from '../src/tasks/bench.js';

// ---- the extension points ------------------------------------------------------------------------

/** Tables of the report, in report order. */
export type Section = 'inference' | 'training' | 'data' | 'peers';

/** One measured configuration: a line in a table. */
export interface BenchRow {
  section: Section;
  /** What is measured, for humans: `ConvNeXt-T`. */
  label: string;
  /** Registry name: `convnext_tiny`. */
  model: string;
  /** `onnxruntime-node 1.30.0`, `onnxruntime-web 1.30.0 (wasm)`. */
  runtime: string;
  batch: number;
  /** Square input side. */
  size: number;
  threads: number;
  msPerImageMin: number;
  msPerImageMedian: number;
  /** From the median batch time. */
  imagesPerSecond: number;
  /**
   * Floating-point work per image (2 × MACs for inference; a training step would count its forward
   * and backward). With it the suite computes GFLOP/s and the fraction of the GEMM peak.
   */
  flopsPerImage?: number;
  /** Speed of a reference row divided by this row's speed (peers: how much faster native is). */
  slowdownVsReference?: number;
  /** Data loading: share of the consumer's time spent waiting for batches (0 when it never waits). */
  waitFraction?: number;
}

/** A row after the suite ends: the peak is known, so derived columns can be filled. */
export interface FinalRow extends BenchRow {
  gflops?: number;
  fractionOfPeak?: number;
}

export interface SuiteContext {
  /** Intra-op threads for every runtime. */
  readonly threads: number;
  /** A model by registry name, built once per suite (its compiled sessions are reused). */
  model(name: string): VisionModel;
  /** A progress bar on terminals; a no-op otherwise (the result line is printed instead). */
  progress(label: string, total: number, imagesPerTick: number): { tick(): void; done(): void };
  /** A status line on stderr. */
  log(message: string): void;
  /** A remark printed with the tables and written to BENCHMARKS.md (fallbacks, anomalies). */
  note(message: string): void;
}

export interface BenchCase {
  /** Stable id for `--only`: `inference/convnext_tiny/b1`. */
  id: string;
  run(ctx: SuiteContext): Promise<BenchRow[]>;
}

// ---- the cases ---------------------------------------------------------------------------------------

/** Iterations sized so that the whole suite stays near a minute on 2 cores (~51 ms/img ConvNeXt-T). */
const ITERS = { batch1: { warmup: 3, iters: 30 }, batch8: { warmup: 2, iters: 8 }, peer: { warmup: 2, iters: 10 } };

/**
 * fp32 inference through `VisionModel.run`, exactly as users call it. `profile`: also note where
 * one run's time goes (ONNX nodes, kernels, time by op type and by module part).
 */
export function inferenceCase(model: string, label: string, batch: number, size = 224, profile = false): BenchCase {
  return {
    id: `inference/${model}/b${batch}`,
    run: async (ctx) => {
      const row = await measureInference(ctx, model, label, batch, size);
      if (profile) await noteInferenceProfile(ctx, model, label, size);
      return [row];
    },
  };
}

async function noteInferenceProfile(ctx: SuiteContext, model: string, label: string, size: number): Promise<void> {
  const p = await profileInference({ model: ctx.model(model), size, threads: ctx.threads, profilePrefix: join(tmpdir(), `visionmix-bench-${process.pid}`) });
  const list = (xs: OpTime[]) => xs.slice(0, 8).map((x) => `${x.op} ${(x.share * 100).toFixed(0)}% (${x.count})`).join(', ');
  ctx.note(
    `${label} b1 (${size}²), where the time goes: ${p.onnxNodes} ONNX nodes emitted, ${p.kernels} kernels run after ORT's fusions, ` +
      `${p.totalMs.toFixed(1)} ms of kernel time (mean ${((1000 * p.totalMs) / Math.max(1, p.kernels)).toFixed(0)} µs per kernel). ` +
      `By op type (kernels): ${list(p.byOp)}. By module part: ${list(p.byModule)}.`,
  );
}

async function measureInference(ctx: SuiteContext, model: string, label: string, batch: number, size: number): Promise<BenchRow> {
  const m = ctx.model(model);
  const it = batch === 1 ? ITERS.batch1 : ITERS.batch8;
  const bar = ctx.progress(`${label} b${batch}`, modelBenchCalls(it), batch);
  const r = await benchModel({ model: m, batch, size, threads: ctx.threads, ...it, onIteration: () => bar.tick() });
  bar.done();
  return {
    section: 'inference',
    label,
    model: r.model,
    runtime: `onnxruntime-node ${runtimeVersions().onnxruntimeNode}`,
    batch,
    size,
    threads: r.threads,
    msPerImageMin: r.msPerImageMin,
    msPerImageMedian: r.msPerImageMedian,
    imagesPerSecond: r.imagesPerSecond,
    flopsPerImage: 2 * r.gmacsPerImage * 1e9,
  };
}

/**
 * The same serialized ONNX bytes on onnxruntime-node and on onnxruntime-web (wasm, in Node): a
 * peer that runs offline. Both runtimes get identical bytes, input, threads and iteration counts,
 * so the ratio isolates the runtime.
 */
export function webPeerCase(model: string, label: string, size = 224): BenchCase {
  return {
    id: `peers/${model}/web`,
    async run(ctx) {
      const shape = [1, 3, size, size];
      const modelBytes = toModelProto(traceForward(ctx.model(model), shape));
      const common = { modelBytes, inputName: 'input', inputShape: shape, threads: ctx.threads, ...ITERS.peer };
      const total = ITERS.peer.warmup + ITERS.peer.iters;

      let bar = ctx.progress(`${label} node`, total, 1);
      const native = await benchNativeSession({ ...common, onIteration: () => bar.tick() });
      bar.done();

      let web: SessionBench;
      bar = ctx.progress(`${label} web`, total, 1);
      try {
        web = await benchWebSession({ ...common, onIteration: () => bar.tick() });
      } catch (err) {
        bar.done();
        ctx.note(`onnxruntime-web could not run ${model} here, so there is no peer figure: ${(err as Error).message}`);
        return [peerRow(label, model, size, native, 1)];
      }
      bar.done();
      if (web.note) ctx.note(web.note);
      const ratio = web.timing.minMs / native.timing.minMs;
      return [peerRow(label, model, size, native, 1), peerRow(label, model, size, web, ratio)];
    },
  };
}

function peerRow(label: string, model: string, size: number, s: SessionBench, slowdown: number): BenchRow {
  return {
    section: 'peers',
    label,
    model,
    runtime: s.runtime,
    batch: 1,
    size,
    threads: s.threads,
    msPerImageMin: s.timing.minMs,
    msPerImageMedian: s.timing.medianMs,
    imagesPerSecond: 1000 / s.timing.medianMs,
    slowdownVsReference: slowdown,
  };
}

/**
 * One compiled train step (forward, backward, AdamW) on a random batch. GFLOP/s count 3 × the
 * forward's 2 × MACs per image; a note lists where one step's kernel time goes, by op type.
 */
export function trainStepCase(spec: ModelSpec, label: string, batch: number, size: number, iters = { warmup: 2, iters: 4 }): BenchCase {
  const name = typeof spec === 'string' ? spec : spec.family;
  return {
    id: `training/${typeof spec === 'string' ? spec : label.replace(/\W+/g, '_')}/b${batch}/s${size}`,
    run: async (ctx) => [await measureTrainStep(ctx, { model: createModel(spec), name, label, batch, size, iters })],
  };
}

interface TrainCase<T> {
  model: VisionModel;
  name: string;
  label: string;
  batch: number;
  size: number;
  iters: { warmup: number; iters: number };
  objective?: Objective<T>;
  targets?: T;
}

async function measureTrainStep<T>(ctx: SuiteContext, o: TrainCase<T>): Promise<BenchRow> {
  const bar = ctx.progress(`${o.label} train b${o.batch}`, o.iters.warmup + o.iters.iters, o.batch);
  const r = await benchTrainStep({ ...trainBenchOptions(ctx, o), onIteration: () => bar.tick() });
  bar.done();
  return trainRow(ctx, o, r);
}

function trainBenchOptions<T>(ctx: SuiteContext, o: TrainCase<T>): TrainBenchOptions<T> {
  const profilePrefix = join(tmpdir(), `visionmix-bench-${process.pid}`);
  return { model: o.model, objective: o.objective, targets: o.targets, batch: o.batch, size: o.size, threads: ctx.threads, ...o.iters, profilePrefix };
}

function trainRow<T>(ctx: SuiteContext, o: TrainCase<T>, r: TrainBench): BenchRow {
  const top = r.ops.slice(0, 8).map((x) => `${x.op} ${(x.share * 100).toFixed(0)}%`).join(', ');
  ctx.note(`${o.label} train step (batch ${o.batch}, ${o.size}²): kernel time by op type in one profiled step — ${top}.`);
  return {
    section: 'training',
    label: o.label,
    model: o.name,
    runtime: `onnxruntime-node ${runtimeVersions().onnxruntimeNode}`,
    batch: o.batch,
    size: o.size,
    threads: ctx.threads,
    msPerImageMin: r.timing.minMs / o.batch,
    msPerImageMedian: r.timing.medianMs / o.batch,
    imagesPerSecond: (1000 * o.batch) / r.timing.medianMs,
    flopsPerImage: r.flopsPerImage,
  };
}

/** Row ids (`model`) of the FCMAE pretrain steps, for their same-run ratio. */
export const FCMAE_ROWS = { masked: 'fcmae(convnextv2_atto) mask 0.6', unmasked: 'fcmae(convnextv2_atto) mask 0' } as const;

/**
 * The FCMAE pretrain step (ConvNeXt V2-atto encoder, decoder 512, norm-pix loss, AdamW) at mask 0.6
 * — random masks, the encoder formulation the network picks for that ratio — and at "mask 0". The
 * options do not allow ratio 0 (the loss averages over masked patches), so mask 0 is the same network
 * fed a mask that hides one patch per image, run dense: the cost of the step with (almost) nothing
 * masked, in the formulation that is faster there. The two steps are compiled side by side and timed
 * interleaved, so that their ratio — the row that matters — does not depend on when the machine was
 * busy (timed one after the other, the ratio ranged from 0.54 to 0.77 over three runs).
 * GFLOP/s count the forward MACs of the graph each step compiles.
 */
export function fcmaeStepsCase(batch: number, size = 224, iters = { warmup: 2, iters: 8 }): BenchCase {
  return {
    id: `training/fcmae_convnextv2_atto/mask0.6+mask0/b${batch}/s${size}`,
    async run(ctx) {
      const steps = ([0.6, 0] as const).map((mask): TrainCase<Tensor | null> => {
        const f = createFcmae('convnextv2_atto', { decoder_embed_dim: 512, patch_size: 32, mask_ratio: 0.6 });
        let targets: Tensor | null = null;
        if (mask === 0) {
          const l = (size / 32) ** 2;
          const m = new Float32Array(batch * l);
          for (let n = 0; n < batch; n++) m[n * l + (n % l)] = 1;
          targets = new Tensor(m, [batch, l], 'float32');
          f.net.formulation = f.net.formulationFor(targets);
        }
        const label = `FCMAE ConvNeXt V2-A, mask ${mask} (${f.net.formulation} encoder)`;
        return { model: f.net, name: mask === 0 ? FCMAE_ROWS.unmasked : FCMAE_ROWS.masked, label, batch, size, iters, objective: f.objective, targets };
      });
      ctx.note(
        'FCMAE rows: at mask 0.6 the encoder runs its stem and downsampling layers (patchify convs with their LayerNorms) and each block\'s per-position part ' +
          '(LayerNorm, MLP, GRN) on the visible positions only (gathered rows, scattered back into zero maps) and sums its depthwise convs\' weight gradients ' +
          'over the visible patches only (each patch\'s tile and conv window gathered; graph/ops/sparse_conv.ts); the depthwise convs\' forward and input gradient ' +
          'run on the whole masked map, which ONNX Runtime does faster than on gathered tiles (a batch of 14×14 tiles ran at a third of the speed); ' +
          'on the 7×7 maps of the last stage and the decoder the depthwise convs run as MatMuls (both rows). GFLOP/s count the MACs of each graph. ' +
          'Mask 0 is the same network fed a mask hiding one patch per image (the loss needs a masked patch), run dense: ' +
          'with nothing to skip the gathers would only cost more. The two steps are timed interleaved. The decoder (one 512-wide block and the 512→3072 ' +
          'prediction on all 7×7 positions), the loss, the optimizer and the depthwise convs\' forward and input gradient do not shrink with the mask.',
      );
      const bar = ctx.progress('FCMAE train steps, interleaved', 2 * (iters.warmup + iters.iters), batch);
      const results = await benchTrainSteps(steps.map((o, i) => ({ ...trainBenchOptions(ctx, o), onIteration: i === 0 ? () => bar.tick() : undefined })) as TrainBenchOptions<unknown>[]);
      bar.done();
      return steps.map((o, i) => trainRow(ctx, o, results[i]!));
    },
  };
}

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

/** The suite, in run order. Training cases go here too (section 'training'). */
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

export const cases: BenchCase[] = [
  // FCMAE pretraining: the step at mask 0.6 against the same step with (almost) nothing masked. First,
  // in a fresh process: after the other cases (sessions and arenas come and go) it measured 0.59–0.67
  // in full runs against 0.56–0.58 alone, the two big train graphs being the most sensitive to that.
  fcmaeStepsCase(32),
  inferenceCase('convnext_tiny', 'ConvNeXt-T', 1, 224, true),
  inferenceCase('convnext_tiny', 'ConvNeXt-T', 8),
  inferenceCase('convnextv2_tiny', 'ConvNeXt V2-T', 1),
  inferenceCase('convnextv2_tiny', 'ConvNeXt V2-T', 8),
  // The other families at their own resolution, batch 1: their time over ConvNeXt-T b1 (`comparisons`).
  inferenceCase('cmt_s', 'CMT-S', 1, 224, true),
  inferenceCase('glnet_4g', 'GLNet-4G', 1, 224, true),
  inferenceCase('mobilevit_xxs', 'MobileViT-XXS', 1, 256, true),
  webPeerCase('convnext_tiny', 'ConvNeXt-T'),
  trainStepCase('convnextv2_atto', 'ConvNeXt V2-A', 32, 224),
  // The model and batch of the Fashion-MNIST run in this file (1 channel, 2×2 stem, 32² input).
  trainStepCase(
    { family: 'convnextv2', depths: [2, 2, 4, 2], dims: [32, 64, 128, 256], patch_size: 2, in_chans: 1, num_classes: 10 },
    'ConvNeXt V2 (Fashion-MNIST config)',
    128,
    32,
    { warmup: 3, iters: 10 },
  ),
  // The other families' Fashion-MNIST runs (bench/records), for their fraction of the GEMM peak.
  trainStepCase(
    {
      family: 'mobilevit',
      layer1: { out: 16, exp: 2, n: 1, stride: 1 },
      layer2: { out: 24, exp: 2, n: 2, stride: 1 },
      layer3: { out: 48, exp: 2, stride: 2, dim: 64, depth: 2 },
      layer4: { out: 64, exp: 2, stride: 2, dim: 80, depth: 2 },
      layer5: { out: 80, exp: 2, stride: 1, dim: 96, depth: 2 },
      in_chans: 1,
      num_classes: 10,
    },
    'MobileViT (Fashion-MNIST config)',
    128,
    32,
    { warmup: 2, iters: 6 },
  ),
  trainStepCase(
    { family: 'cmt', img_size: 32, embed_dims: [32, 64, 128, 256], stem_channel: 16, fc_dim: 256, depths: [2, 2, 4, 2], mlp_ratios: [4, 4, 4, 4], sr_ratios: [2, 1, 1, 1], in_chans: 1, num_classes: 10 },
    'CMT (Fashion-MNIST config)',
    128,
    32,
    { warmup: 2, iters: 6 },
  ),
  trainStepCase(
    {
      family: 'glnet',
      norm_layer: 'BatchNorm2d',
      downsample_style: 'ovlp',
      mixing_modes: ['glmix', 'glmix', 'mha_nchw', 'mha_nchw'],
      slot_init: 'ada_avgpool',
      num_slots: 16,
      cpe_ks: 3,
      mlp_dw: true,
      depth: [2, 2, 4, 2],
      embed_dim: [32, 64, 128, 256],
      mlp_ratios: [3, 3, 3, 3],
      head_dim: 32,
      in_chans: 1,
      num_classes: 10,
    },
    'GLNet (Fashion-MNIST config)',
    128,
    32,
    { warmup: 2, iters: 6 },
  ),
  loaderCase(2, 32, 224),
  featuresCase('convnext_atto', 'ConvNeXt-A', 100, 32),
  checkpointRssCase(),
];

/**
 * Same-run time ratios between two rows of one section (same batch), with the goal each should meet:
 * for inference, the ratio the reference implementations show on this machine (ONNX Runtime on their
 * PyTorch exports); for FCMAE, the cost that scaling with the visible patches should save.
 */
export interface Comparison {
  label: string;
  /** Default 'inference'. */
  section?: Section;
  model: string;
  reference: string;
  batch: number;
  goal: number;
  goalSource: string;
}

export const comparisons: Comparison[] = [
  {
    label: 'CMT-S / ConvNeXt-T time',
    model: 'cmt_s',
    reference: 'convnext_tiny',
    batch: 1,
    goal: 1.46,
    goalSource: 'ONNX Runtime on the PyTorch exports of the reference CMT-S and ConvNeXt-T (224², batch 1, 2 threads)',
  },
  {
    label: 'GLNet-4G / ConvNeXt-T time',
    model: 'glnet_4g',
    reference: 'convnext_tiny',
    batch: 1,
    goal: 1.63,
    goalSource: 'ONNX Runtime on the PyTorch exports of the reference GLNet-4G (uneven pooling as constant MatMuls) and ConvNeXt-T (224², batch 1, 2 threads)',
  },
  {
    // MobileViT is latency-bound (many small ops): its b1 time against a GEMM-bound network's.
    label: 'MobileViT-XXS / ConvNeXt-T time',
    model: 'mobilevit_xxs',
    reference: 'convnext_tiny',
    batch: 1,
    goal: 0.24,
    goalSource: 'ONNX Runtime on the PyTorch exports of the reference MobileViT-XXS (256²) and ConvNeXt-T (224²), batch 1, 2 threads',
  },
  {
    // FCMAE's sparse encoder (ConvNeXt V2 §3): the pretrain step should cost less the more is masked.
    label: 'FCMAE step mask 0.6 / mask 0',
    section: 'training',
    model: FCMAE_ROWS.masked,
    reference: FCMAE_ROWS.unmasked,
    batch: 32,
    goal: 0.6,
    goalSource: 'issue 14 (a pretrain step whose cost scales with the visible patches; 40% of them are visible at mask 0.6)',
  },
];

/** A comparison evaluated on this run's rows. */
export interface RatioRow extends Comparison {
  ratioMin: number;
  ratioMedian: number;
  met: boolean;
}

/** The comparisons whose two rows this run has (`--only` may have skipped one). */
export function evaluateComparisons(rows: readonly BenchRow[]): RatioRow[] {
  const find = (section: Section, model: string, batch: number) => rows.find((r) => r.section === section && r.model === model && r.batch === batch);
  return comparisons.flatMap((c) => {
    const section = c.section ?? 'inference';
    const a = find(section, c.model, c.batch);
    const b = find(section, c.reference, c.batch);
    if (!a || !b) return [];
    const ratioMin = a.msPerImageMin / b.msPerImageMin;
    return [{ ...c, ratioMin, ratioMedian: a.msPerImageMedian / b.msPerImageMedian, met: ratioMin <= c.goal }];
  });
}

// ---- tables ------------------------------------------------------------------------------------------

const RATIO_COLUMNS: TableColumn<RatioRow>[] = [
  { key: 'label', header: 'ratio' },
  { key: 'batch', header: 'batch' },
  { key: 'ratioMin', header: 'by min time', format: (v) => `${v.toFixed(2)}×` },
  { key: 'ratioMedian', header: 'by median time', format: (v) => `${v.toFixed(2)}×` },
  { key: 'goal', header: 'goal', format: (v) => `≤ ${v.toFixed(2)}×` },
  { key: 'met', header: 'met', format: (v) => (v ? 'yes' : 'no') },
];

const RATIO_INTRO =
  'Time of one row over another of the same table and batch, both measured in this run (same threads, same machine state). ' +
  'Where each goal comes from: ';

const fixed = (digits: number) => (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits));

const THROUGHPUT_COLUMNS: TableColumn<FinalRow>[] = [
  { key: 'label', header: 'model' },
  { key: 'batch', header: 'batch' },
  { key: 'size', header: 'input', format: (s) => `${s}²` },
  { key: 'threads', header: 'threads' },
  { key: 'msPerImageMin', header: 'ms/img (min)', format: fixed(1) },
  { key: 'msPerImageMedian', header: 'ms/img (median)', format: fixed(1) },
  { key: 'imagesPerSecond', header: 'img/s', format: fixed(1) },
  { key: 'gflops', header: 'GFLOP/s', format: fixed(1) },
  { key: 'fractionOfPeak', header: 'fraction of peak', format: fixed(2) },
];

const DATA_COLUMNS: TableColumn<FinalRow>[] = [
  { key: 'label', header: 'what' },
  { key: 'runtime', header: 'workers' },
  { key: 'batch', header: 'batch' },
  { key: 'size', header: 'output', format: (s) => `${s}²` },
  { key: 'msPerImageMedian', header: 'ms/img', format: fixed(1) },
  { key: 'imagesPerSecond', header: 'img/s', format: fixed(1) },
  { key: 'waitFraction', header: 'consumer waiting', format: (v) => (v === undefined ? '' : `${(100 * v).toFixed(1)}%`) },
];

const PEER_COLUMNS: TableColumn<FinalRow>[] = [
  { key: 'label', header: 'model' },
  { key: 'runtime', header: 'runtime' },
  { key: 'threads', header: 'threads' },
  { key: 'msPerImageMin', header: 'ms/img (min)', format: fixed(1) },
  { key: 'msPerImageMedian', header: 'ms/img (median)', format: fixed(1) },
  { key: 'slowdownVsReference', header: 'time ÷ native', format: fixed(2) },
];

interface SectionDef {
  title: string;
  /** One paragraph under the title in BENCHMARKS.md. */
  intro: (threads: number) => string;
  columns: TableColumn<FinalRow>[];
}

export const SECTIONS: Record<Section, SectionDef> = {
  inference: {
    title: 'Inference (fp32)',
    intro: (t) =>
      `\`VisionModel.run\` on a random batch (random weights: fp32 timings do not depend on values), ${t} intra-op threads, ` +
      'weights compiled in as initializers. GFLOP/s count 2 × MACs from the traced graph and use the fastest iteration; ' +
      'img/s uses the median.',
    columns: THROUGHPUT_COLUMNS,
  },
  training: {
    title: 'Training steps (fp32)',
    intro: (t) =>
      `One compiled train-step graph (forward, our autodiff's backward, AdamW update), ${t} intra-op threads, random batch. ` +
      'ms/img and img/s are per training image; GFLOP/s count 3 × the forward pass (2 × MACs from the traced graph) per image, ' +
      'the usual estimate of forward + backward work.',
    columns: THROUGHPUT_COLUMNS,
  },
  data: {
    title: 'Data loading',
    intro: () =>
      'The worker-thread image loader (piscina pool, one batch per task, batches moved back without copies) with the timm ' +
      'ImageNet recipe transform: decode (sharp), RandomResizedCrop (bicubic), flip, RandAugment rand-m9-mstd0.5-inc1, ' +
      'normalise, random erasing 0.25, from 500×375 JPEG and PNG files. "Alone": the consumer takes batches as fast as they ' +
      'come; then the same loader feeds the ConvNeXt V2-A train step. "Consumer waiting" is the share of wall time spent ' +
      'waiting for the next batch: 0% means the step never waits on data.',
    columns: DATA_COLUMNS,
  },
  peers: {
    title: 'Peer: the same ONNX bytes on onnxruntime-web',
    intro: () =>
      'The graph `toModelProto(traceForward(model, [1,3,224,224]))`, serialized once and handed unchanged to ' +
      'onnxruntime-node and to onnxruntime-web (wasm SIMD backend, running inside Node), same input, threads and ' +
      "iteration counts. \"time ÷ native\" is a row's fastest time over native's fastest time: how many times faster native is.",
    columns: PEER_COLUMNS,
  },
};

interface GemmRow {
  when: string;
  ms: number;
  msMedian: number;
  gflops: number;
  gflopsMedian: number;
}

const GEMM_COLUMNS: TableColumn<GemmRow>[] = [
  { key: 'when', header: 'measured' },
  { key: 'ms', header: 'ms (min)', format: fixed(1) },
  { key: 'msMedian', header: 'ms (median)', format: fixed(1) },
  { key: 'gflops', header: 'GFLOP/s (min time)', format: fixed(1) },
  { key: 'gflopsMedian', header: 'GFLOP/s (median time)', format: fixed(1) },
];

function gemmRow(when: string, g: GemmPeak): GemmRow {
  return { when, ms: g.timing.minMs, msMedian: g.timing.medianMs, gflops: g.gflops, gflopsMedian: g.gflopsMedian };
}

// ---- the run -----------------------------------------------------------------------------------------

export interface SuiteResult {
  date: Date;
  command: string;
  /** Taken before the first measurement (its load average reflects other work, not ours). */
  machine: MachineInfo;
  threads: number;
  gemmStart: GemmPeak;
  gemmEnd: GemmPeak;
  peakGflops: number;
  rows: FinalRow[];
  /** Same-run time ratios (`comparisons`) whose rows this run has. */
  ratios: RatioRow[];
  notes: string[];
  seconds: number;
}

export interface SuiteOptions {
  threads: number;
  /** Only cases whose id contains this text. */
  only?: string;
  /** Status output (default: stderr). */
  stderr?: NodeJS.WriteStream;
}

export async function runSuite(opts: SuiteOptions): Promise<SuiteResult> {
  const stderr = opts.stderr ?? process.stderr;
  const tty = stderr.isTTY === true;
  const t0 = performance.now();
  const machine = machineInfo();
  const notes: string[] = [];
  // The suite uses every core it asks for, so any other busy process skews it; the two GEMM
  // readings catch load that changes during the run, the load average load that was already there.
  if (machine.load1 > 0.5)
    notes.push(
      `The machine was busy when the suite started (1-minute load average ${machine.load1.toFixed(2)} on ${machine.cores} cores): ` +
        'other processes competed for the CPU, so every figure here is lower and noisier than on a quiet machine. Rerun when it is idle.',
    );
  const models = new Map<string, VisionModel>();
  const ctx: SuiteContext = {
    threads: opts.threads,
    model(name) {
      let m = models.get(name);
      if (!m) {
        m = createModel(name);
        models.set(name, m);
      }
      return m;
    },
    progress(label, total, imagesPerTick) {
      if (!tty) return { tick() {}, done() {} };
      const bar = new ProgressBar({ total, label, unit: 'run', rateUnit: 'img', rateScale: imagesPerTick, stream: stderr });
      return { tick: () => bar.tick(), done: () => bar.done() };
    },
    log: (message) => void stderr.write(`${message}\n`),
    note: (message) => void notes.push(message),
  };

  const selected = cases.filter((c) => !opts.only || c.id.includes(opts.only));
  if (selected.length === 0) throw new VisionmixError(`no benchmark case id contains '${opts.only}'; ids: ${cases.map((c) => c.id).join(', ')}`);

  ctx.log(`GEMM peak (2048³ fp32 MatMul, ${opts.threads} threads)...`);
  const gemmStart = await measureGemmPeak({ threads: opts.threads });
  ctx.log(`  ${gemmStart.gflops.toFixed(1)} GFLOP/s`);

  const rows: BenchRow[] = [];
  for (const c of selected) {
    ctx.log(`${c.id}...`);
    const got = await c.run(ctx);
    for (const r of got) ctx.log(`  ${r.label} b${r.batch} ${r.runtime}: ${r.msPerImageMin.toFixed(1)} ms/img (min)`);
    rows.push(...got);
  }

  ctx.log('GEMM peak again...');
  const gemmEnd = await measureGemmPeak({ threads: opts.threads });
  ctx.log(`  ${gemmEnd.gflops.toFixed(1)} GFLOP/s`);

  // The peak is what the machine demonstrably did in this run; a lower reading means interference.
  const peakGflops = Math.max(gemmStart.gflops, gemmEnd.gflops);
  const drift = Math.min(gemmStart.gflops, gemmEnd.gflops) / peakGflops;
  if (drift < 0.9)
    notes.push(
      `The two GEMM readings differ by ${((1 - drift) * 100).toFixed(0)}%: the machine was not equally free during the run ` +
        '(other processes, frequency changes), so the fractions of peak below are less certain than usual.',
    );

  const finalRows: FinalRow[] = rows.map((r) => {
    if (r.flopsPerImage === undefined) return { ...r };
    const gflops = r.flopsPerImage / (r.msPerImageMin * 1e6);
    return { ...r, gflops, fractionOfPeak: gflops / peakGflops };
  });

  return {
    date: new Date(),
    command: commandLine(),
    machine,
    threads: opts.threads,
    gemmStart,
    gemmEnd,
    peakGflops,
    rows: finalRows,
    ratios: evaluateComparisons(rows),
    notes,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** How this process was started, as a user would type it again. */
function commandLine(): string {
  const args = process.argv.slice(2).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  const script = relative(process.cwd(), fileURLToPath(import.meta.url)) || 'dist/bench/run.js';
  return ['node', script, ...args].join(' ');
}

function sectionsWithRows(result: SuiteResult): [SectionDef, FinalRow[]][] {
  return (Object.keys(SECTIONS) as Section[])
    .map((s): [SectionDef, FinalRow[]] => [SECTIONS[s], result.rows.filter((r) => r.section === s)])
    .filter(([, rows]) => rows.length > 0);
}

/** The console report: the same tables as BENCHMARKS.md, as text. */
export function renderText(result: SuiteResult): string {
  const out: string[] = [`GEMM peak (2048³ fp32 MatMul, ${result.threads} threads): ${result.peakGflops.toFixed(1)} GFLOP/s`, ''];
  out.push(renderTable(GEMM_COLUMNS, [gemmRow('before the cases', result.gemmStart), gemmRow('after the cases', result.gemmEnd)]), '');
  for (const [def, rows] of sectionsWithRows(result)) out.push(def.title, renderTable(def.columns, rows), '');
  if (result.ratios.length) out.push('Same-run ratios', renderTable(RATIO_COLUMNS, result.ratios), '');
  for (const n of result.notes) out.push(`note: ${n}`);
  out.push(`(${result.seconds.toFixed(0)} s)`);
  return out.join('\n');
}

function utcStamp(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function renderMarkdown(result: SuiteResult): string {
  const m = result.machine;
  const webRuntime = result.rows.find((r) => r.runtime.startsWith('onnxruntime-web'))?.runtime;
  const out: string[] = [
    '# Benchmarks',
    '',
    `Generated by \`bench/run.ts\` on ${utcStamp(result.date)}; the suite took ${result.seconds.toFixed(0)} s. ` +
      'Every number below was measured in that one run; no figure is carried over from elsewhere.',
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpu}`,
    `- cores available: ${m.cores}`,
    `- OS: ${m.platform}`,
    `- Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode}${webRuntime ? `, ${webRuntime.replace(' (wasm)', '')}` : ''}`,
    `- threads used by every runtime: ${result.threads}`,
    `- 1-minute load average before the suite started: ${m.load1.toFixed(2)} ` +
      `(on ${m.cores} cores, anything well above 0 means other work was competing for the CPU)`,
    '',
    '## Command',
    '',
    '```sh',
    result.command,
    '```',
    '',
    '## GEMM peak',
    '',
    `A 2048×2048×2048 fp32 MatMul graph (built with src/graph, inputs \`a\`, \`b\`, output \`c\`) on onnxruntime-node, ` +
      `${result.threads} threads, measured before and after the cases. **Peak = ${result.peakGflops.toFixed(1)} GFLOP/s**, ` +
      'the larger reading (from the fastest iteration).',
    '',
    renderMarkdownTable(GEMM_COLUMNS, [gemmRow('before the cases', result.gemmStart), gemmRow('after the cases', result.gemmEnd)]),
    '',
  ];
  for (const [def, rows] of sectionsWithRows(result)) {
    out.push(`## ${def.title}`, '', def.intro(result.threads), '', renderMarkdownTable(def.columns, rows), '');
  }
  if (result.ratios.length) {
    const sources = result.ratios.map((r) => `${r.label}: ${r.goalSource}`).join('; ');
    out.push('## Same-run ratios', '', `${RATIO_INTRO}${sources}.`, '', renderMarkdownTable(RATIO_COLUMNS, result.ratios), '');
  }
  out.push(...renderRecords(result));
  if (result.notes.length) {
    out.push('## Notes', '');
    for (const n of result.notes) out.push(`- ${n}`);
    out.push('');
  }
  out.push(
    '## How to read this',
    '',
    'Absolute times depend on the CPU, its clock and whatever else runs, so compare ratios, not milliseconds. ' +
      '"Fraction of peak" is a model\'s achieved GFLOP/s (2 × multiply-accumulates per image, counted from the traced ' +
      'graph, over the fastest iteration) divided by the GEMM peak of the same run with the same threads: 1.0 would ' +
      'mean every cycle did useful matrix math; the gap is depthwise convolutions, LayerNorm, GELU and other ' +
      'memory-bound work. A fraction can exceed 1 slightly when the GEMM itself was disturbed; compare the two GEMM ' +
      'readings to judge how quiet the machine was. "min" is the best of the timed iterations (the machine\'s ' +
      'capability), "median" the typical one; a large gap between them means noise. Batch 8 against batch 1 shows whether ' +
      'batching pays on this CPU: larger matrices, but activations that no longer fit in cache. In the peer table, "time ÷ native" says how many times longer onnxruntime-web needs than ' +
      'onnxruntime-node for the identical graph.',
    '',
  );
  return out.join('\n');
}

/**
 * Long training runs are recorded once (bench/record_run.ts → bench/records/*.json) rather than
 * repeated by every suite run; their throughput is set against this run's GEMM peak through the
 * suite's train-step row for the same model, batch and input size.
 */
function renderRecords(result: SuiteResult): string[] {
  const signedPoints = (d: number) => `${d >= 0 ? '+' : ''}${(d * 100).toFixed(2)}`;
  const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'records');
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunRecord;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const r = read(f);
    const baseline = r.baseline && existsSync(join(dir, r.baseline)) ? read(r.baseline) : undefined;
    // The suite row with the same train step: named by the record (older records: the ConvNeXt V2 Fashion-MNIST run).
    const legacy = r.data === 'fashion-mnist' && (r.model as { family?: string }).family === 'convnextv2';
    const rowLabel = r.benchRow ?? (legacy ? 'ConvNeXt V2 (Fashion-MNIST config)' : undefined);
    const row = result.rows.find((x) => x.section === 'training' && x.batch === r.batch && x.label === rowLabel);
    const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
    out.push(
      `## ${r.title}`,
      '',
      `Recorded from the run folder by \`bench/record_run.ts\` (finished ${r.finishedAt.slice(0, 16).replace('T', ' ')} UTC, file \`bench/records/${f}\`).`,
      '',
      '```sh',
      r.command,
      '```',
      '',
      `- **final test accuracy ${pct(r.finalTestAcc)}** (best epoch ${pct(r.bestTestAcc)})${r.finalTestAccEma !== undefined ? ` (EMA weights: ${pct(r.finalTestAccEma)})` : ''} on the ${r.data.startsWith('fashion-mnist') ? '10,000 test' : 'val'} images after ${r.epochs} epochs (${r.steps} steps${r.sides ? `, batch ${r.batch} at the base side` : ` of ${r.batch}`})`,
      ...(r.note ? [`- conditions: ${r.note}`] : []),
      ...(baseline
        ? [
            `- against "${baseline.title}" (\`${r.baseline}\`, ${baseline.steps} steps of ${baseline.batch}): ${pct(baseline.finalTestAcc)}` +
              `${baseline.finalTestAccEma !== undefined && r.finalTestAccEma !== undefined ? ` (EMA ${pct(baseline.finalTestAccEma)})` : ''}` +
              ` → **${signedPoints(r.finalTestAcc - baseline.finalTestAcc)} points** for this run`,
          ]
        : r.baseline
          ? [`- (baseline record \`${r.baseline}\` not found)`]
          : []),
      ...(r.sides
        ? [
            `- multi-scale, per side: ${r.sides.map((s) => `${s.side}²: ${s.steps} steps, ${s.images} images, median ${s.medianImagesPerSecond.toFixed(0)} img/s`).join('; ')}`,
          ]
        : []),
      ...(r.figures ?? []).map((fig) => `- [${fig.path}](${fig.path}): ${fig.caption}`),
      ...(r.compiles
        ? [`- train-step graphs compiled (compiles.jsonl): ${Object.entries(r.compiles).map(([shape, n]) => `${shape} ×${n}`).join(', ')}`]
        : []),
      `- per epoch: ${r.testAccByEpoch.map((a) => (a * 100).toFixed(1)).join(', ')}`,
      `- wall time ${(r.wallSeconds / 60).toFixed(1)} min (of which ${(r.pausedSeconds / 60).toFixed(1)} min paused with SIGSTOP while other benchmarks ran), ` +
        `${(r.stepSeconds / 60).toFixed(1)} min in training steps: **${r.imagesPerSecond.toFixed(0)} training img/s** over the whole run`,
      ...(row?.fractionOfPeak !== undefined
        ? [`- the same train step in this suite (2 threads, alone): ${row.imagesPerSecond.toFixed(0)} img/s, ${row.gflops!.toFixed(1)} GFLOP/s = **${row.fractionOfPeak.toFixed(2)} of this run's GEMM peak** (3 × forward FLOPs)`]
        : rowLabel
          ? ['- (run the full suite for the same-run fraction of the GEMM peak)']
          : []),
      '',
    );
  }
  return out;
}

// ---- command line ------------------------------------------------------------------------------------

const spec = defineCommand({
  name: 'bench',
  program: 'node dist/bench/run.js',
  summary: 'Run the benchmark suite, print the tables and write BENCHMARKS.md',
  options: {
    threads: { type: 'int', min: 1, default: 2, description: 'intra-op threads for every runtime' },
    only: { type: 'string', placeholder: 'text', description: 'run only cases whose id contains this text (GEMM peaks always run)' },
    out: { type: 'string', placeholder: 'file', description: 'report path (default: BENCHMARKS.md at the repository root)' },
    write: { type: 'boolean', default: true, description: 'write the report file' },
  },
});

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (parsed.help) {
    process.stdout.write(`${renderHelp(spec)}\n`);
    return 0;
  }
  const { threads, only, out, write } = parsed.values;
  const result = await runSuite({ threads, only });
  process.stdout.write(`${renderText(result)}\n`);
  if (write) {
    const path = resolve(out ?? join(repoRoot(), 'BENCHMARKS.md'));
    writeFileSync(path, renderMarkdown(result));
    process.stderr.write(`wrote ${path}\n`);
  }
  return 0;
}

// Run only as a script: importing this module (to reuse `cases` or the renderers) must not start it.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(err instanceof VisionmixError ? `error: ${err.message}\n` : `${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
