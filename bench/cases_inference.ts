/** Inference cases: fp32 `VisionModel.run` per model and batch, and the same ONNX bytes on onnxruntime-web. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toModelProto } from '../src/graph/emit.js';
import { traceForward } from '../src/models/trace.js';
import type { OpTime } from '../src/runtime/node_profile.js';
import { benchModel, benchNativeSession, benchWebSession, modelBenchCalls, runtimeVersions, type SessionBench } from '../src/tasks/bench.js';
import { profileInference } from '../src/tasks/bench_profile.js';
import { benchChromiumSession, CHROMIUM, hasChromium } from './chromium_session.js';
import type { BenchCase, BenchRow, SuiteContext } from './types.js';

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
      const rows = [peerRow(label, model, size, native, 1), peerRow(label, model, size, web, ratio)];
      // The same bytes in headless Chromium (issue 22's goal: ≤ 1.1× onnxruntime-web in Node), and each runtime's first load.
      if (!hasChromium()) {
        ctx.note(`no Chromium at ${CHROMIUM}: no browser peer figure (apt-get install chromium)`);
        return rows;
      }
      bar = ctx.progress(`${label} chromium`, total, 1);
      const chromium = await benchChromiumSession({ ...common, onIteration: () => bar.tick() });
      bar.done();
      if (chromium.note) ctx.note(chromium.note);
      const vsNodeWeb = chromium.timing.minMs / web.timing.minMs;
      ctx.note(
        `${label} in headless Chromium (wasm, ${chromium.threads} threads, cross-origin isolated) takes ${vsNodeWeb.toFixed(2)}× the time of onnxruntime-web in Node on the same bytes ` +
          `(goal ≤ 1.1×: ${vsNodeWeb <= 1.1 ? 'met' : 'NOT met'}). First load (session creation, graph optimisation): onnxruntime-node ${native.createMs.toFixed(0)} ms, ` +
          `onnxruntime-web in Node ${web.createMs.toFixed(0)} ms, Chromium ${chromium.createMs.toFixed(0)} ms.`,
      );
      return [...rows, peerRow(label, model, size, chromium, chromium.timing.minMs / native.timing.minMs)];
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
