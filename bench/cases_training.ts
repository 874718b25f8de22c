/** Training cases: one compiled train step per model, and the interleaved FCMAE pair (mask 0.6 / mask 0). */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFcmae, createModel, Tensor } from '../src/index.js'; // models on the Node entry's engine (onnxruntime-node)
import type { VisionModel } from '../src/models/base.js';
import type { ModelSpec } from '../src/models/registry.js';
import { runtimeVersions } from '../src/tasks/bench.js';
import { benchTrainStep, benchTrainSteps, type TrainBench, type TrainBenchOptions } from '../src/tasks/bench_train.js';
import type { OpTime } from '../src/runtime/node_profile.js';
import type { Objective } from '../src/train/objective.js';
import type { BenchCase, BenchRow, SuiteContext } from './types.js';
import { measureTrainStepRss, type TrainStepProbe, type TrainStepRss } from './train_step_rss.js';

/**
 * One compiled train step (forward, backward, AdamW) on a random batch. GFLOP/s count 3 × the
 * forward's 2 × MACs per image; a note lists where one step's kernel time goes, by op type.
 */
export function trainStepCase(spec: ModelSpec, label: string, batch: number, size: number, iters = { warmup: 2, iters: 4 }): BenchCase {
  const name = typeof spec === 'string' ? spec : spec.family;
  return {
    id: `training/${typeof spec === 'string' ? spec : label.replace(/\W+/g, '_')}/b${batch}/s${size}`,
    run: async (ctx) => [await measureTrainStep(ctx, { model: createModel(spec), name, label, batch, size, iters, probe: { spec } })],
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
  /** How a fresh process builds the same step, to read its peak memory alone (train_step_rss.ts). */
  probe: { spec: ModelSpec } | { fcmaeMask: 0.6 | 0 };
}

async function measureTrainStep<T>(ctx: SuiteContext, o: TrainCase<T>): Promise<BenchRow> {
  const bar = ctx.progress(`${o.label} train b${o.batch}`, o.iters.warmup + o.iters.iters, o.batch);
  const r = await benchTrainStep({ ...trainBenchOptions(ctx, o), onIteration: () => bar.tick() });
  bar.done();
  return trainRow(ctx, o, r, await freshProcessRss(ctx, o));
}

/** The step's peak RSS in a fresh process (the suite's own process has held every earlier row). */
function freshProcessRss<T>(ctx: SuiteContext, o: TrainCase<T>): Promise<TrainStepRss> {
  ctx.log(`${o.label} train b${o.batch}: peak memory in a fresh process`);
  return measureTrainStepRss({ ...o.probe, batch: o.batch, size: o.size, threads: ctx.threads } as TrainStepProbe);
}

function trainBenchOptions<T>(ctx: SuiteContext, o: TrainCase<T>): TrainBenchOptions<T> {
  const profilePrefix = join(tmpdir(), `visionmix-bench-${process.pid}`);
  return { model: o.model, objective: o.objective, targets: o.targets, batch: o.batch, size: o.size, threads: ctx.threads, ...o.iters, profilePrefix };
}

function trainRow<T>(ctx: SuiteContext, o: TrainCase<T>, r: TrainBench, fresh: TrainStepRss): BenchRow {
  const list = (xs: OpTime[], n = 8) => xs.slice(0, n).map((x) => `${x.op} ${(x.share * 100).toFixed(0)}% (${x.count})`).join(', ');
  const p = r.profile;
  ctx.note(
    `${o.label} train step (batch ${o.batch}, ${o.size}²), one profiled step: ${p.kernels} kernels, ${p.totalMs.toFixed(0)} ms. ` +
      `By phase — ${list(p.byPhase)}. By op type — ${list(p.byOp)}. By module part (backward with its forward part) — ${list(p.byModule)}.` +
      (p.arena ? ` ORT's memory arena: ${(p.arena.inUsePeakBytes / 1e9).toFixed(2)} GB of tensors at once at most, ${(p.arena.heldBytes / 1e9).toFixed(2)} GB held.` : ''),
  );
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
    peakRssBytes: fresh.peakBytes,
    baseRssBytes: fresh.baselineBytes,
    suitePeakRssBytes: r.peakRssBytes ?? undefined,
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
      const steps = ([0.6, 0] as const).map((mask) => fcmaeTrainCase(mask, batch, size, iters));
      ctx.note(
        'FCMAE rows: at mask 0.6 the encoder runs its stem and downsampling layers (patchify convs with their LayerNorms) and each block\'s per-position part ' +
          '(LayerNorm, MLP, GRN) on the visible positions only (gathered rows, scattered back into zero maps) and sums its depthwise convs\' weight gradients ' +
          'over the visible patches only (each patch\'s tile and conv window gathered; graph/ops/sparse_conv.ts); the depthwise convs\' forward and input gradient ' +
          'run on the whole masked map, which ONNX Runtime does faster than on gathered tiles (a batch of 14×14 tiles ran at a third of the speed); ' +
          'on the 14×14 and 7×7 maps of the last two stages and the decoder the depthwise convs run as MatMuls (both rows; graph/ops/conv_small_map.ts). GFLOP/s count the MACs of each graph. ' +
          'Mask 0 is the same network fed a mask hiding one patch per image (the loss needs a masked patch), run dense: ' +
          'with nothing to skip the gathers would only cost more. The two steps are timed interleaved. At mask 0.6 the decoder block\'s fc2 and residual and ' +
          'the 512→3072 prediction run on the masked patches only, the rows the loss reads (their targets cut from the image channel-major: whole pixel rows moved); ' +
          'the rest of the decoder (its GRN statistics see every position), the optimizer and the depthwise convs\' forward and input gradient do not shrink with the mask.',
      );
      const bar = ctx.progress('FCMAE train steps, interleaved', 2 * (iters.warmup + iters.iters), batch);
      const results = await benchTrainSteps(steps.map((o, i) => ({ ...trainBenchOptions(ctx, o), onIteration: i === 0 ? () => bar.tick() : undefined })) as TrainBenchOptions<unknown>[]);
      bar.done();
      const rows: BenchRow[] = [];
      for (const [i, o] of steps.entries()) rows.push(trainRow(ctx, o, results[i]!, await freshProcessRss(ctx, o)));
      return rows;
    },
  };
}

/**
 * FCMAE's step at mask 0.6, or at "mask 0": the options do not allow ratio 0 (the loss averages over
 * masked patches), so mask 0 is the same network fed a mask that hides one patch per image, run dense.
 */
export function fcmaeTrainCase(mask: 0.6 | 0, batch: number, size: number, iters = { warmup: 2, iters: 8 }): TrainCase<Tensor | null> {
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
  const name = mask === 0 ? FCMAE_ROWS.unmasked : FCMAE_ROWS.masked;
  return { model: f.net, name, label, batch, size, iters, objective: f.objective, targets, probe: { fcmaeMask: mask } };
}
