/**
 * Exported files: ConvNeXt-T as fp32, fp16, dynamic int8 and static int8 ONNX files (`exportOnnx`, dynamic
 * batch), each run by a plain onnxruntime-node session, timed interleaved at one batch size so that
 * their ratio (issue 24's goal: int8 at ≥ 2× the speed of fp32) does not depend on when the machine
 * was busy. Static int8 is calibrated on random images here: the ranges change the values, not the
 * kernels ORT runs, so the timing is that of any calibration.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, exportOnnx, type ExportOnnxOptions } from '../src/index.js';
import { countMacs } from '../src/analysis/count.js';
import { traceForward } from '../src/models/trace.js';
import { emitModel, serializeModel } from '../src/graph/emit.js';
import { Graph, withGraph } from '../src/graph/graph.js';
import { matmul } from '../src/graph/ops/index.js';
import { quantizeDynamicInt8 } from '../src/graph/quantize.js';
import { createNodeSession } from '../src/runtime/node.js';
import { randomTensor, runtimeVersions, timeInterleaved } from '../src/tasks/bench.js';
import type { BenchCase, BenchRow } from './types.js';

/** The files of the comparison: `model` ids of their rows (ratios.ts pairs them). */
export const EXPORT_ROWS = {
  fp32: 'convnext_tiny.onnx fp32',
  fp16: 'convnext_tiny.onnx fp16',
  dynamic: 'convnext_tiny.onnx int8 dynamic',
  static: 'convnext_tiny.onnx int8 static',
} as const;

/** `model` ids of the GEMM ceiling rows (ratios.ts pairs them). */
export const GEMM_ROWS = { fp32: 'gemm fp32 2048³', int8: 'gemm int8 2048³' } as const;

/**
 * The int8 ceiling of this CPU: a 2048³ product with a constant right operand (a weight), as fp32
 * MatMul and as the dynamic int8 graph of graph/quantize.ts (its activation quantized per run, 7-bit
 * weights; ORT runs its u8·s8 integer GEMM), timed interleaved. A network's int8 speed-up cannot
 * exceed its GEMMs', so this ratio bounds the ConvNeXt-T files' above.
 */
export function int8GemmCase(n = 2048, iters = { warmup: 2, iters: 8 }): BenchCase {
  return {
    id: `export/gemm/fp32+int8/${n}`,
    async run(ctx) {
      const g = new Graph(`gemm_${n}`);
      withGraph(g, () => g.markOutput(matmul(g.input('a', [n, n]), g.constant(randomTensor([n, n], 2))), 'c'));
      const fp32 = emitModel(g);
      // The constant is the "weight" the quantizer looks for.
      for (const i of fp32.initializers) i.param = true;
      const int8 = structuredClone(fp32);
      const q = quantizeDynamicInt8(int8);
      if (q.matmul.length !== 1) throw new Error('the int8 GEMM graph quantized no MatMul');
      const sessions = await Promise.all(
        [fp32, int8].map((m, i) => createNodeSession(serializeModel(m).model, { threads: ctx.threads, label: `GEMM ${n}³ ${i ? 'int8' : 'fp32'}` })),
      );
      const a = { a: randomTensor([n, n], 1) };
      const bar = ctx.progress(`GEMM ${n}³ fp32 + int8`, 2 * (iters.warmup + iters.iters), 1);
      const timings = await timeInterleaved(
        sessions.map((s) => () => s.run(a)),
        { ...iters, onIteration: () => bar.tick() },
      );
      bar.done();
      for (const s of sessions) await s.release();
      return (['fp32', 'int8'] as const).map((kind, i): BenchRow => ({
        section: 'inference',
        label: `GEMM ${n}³, ${kind} (constant right operand)`,
        model: GEMM_ROWS[kind],
        runtime: `onnxruntime-node ${runtimeVersions().onnxruntimeNode}`,
        batch: 1,
        size: n,
        threads: ctx.threads,
        msPerImageMin: timings[i]!.minMs,
        msPerImageMedian: timings[i]!.medianMs,
        imagesPerSecond: 1000 / timings[i]!.medianMs,
        flopsPerImage: 2 * n ** 3,
        int8: kind === 'int8',
      }));
    },
  };
}

export function exportedFilesCase(batch: number, iters = batch === 1 ? { warmup: 3, iters: 20 } : { warmup: 2, iters: 6 }): BenchCase {
  return {
    id: `export/convnext_tiny/fp32+fp16+int8/b${batch}`,
    async run(ctx) {
      const dir = mkdtempSync(join(tmpdir(), 'visionmix-bench-export-'));
      try {
        const m = createModel('convnext_tiny');
        const kinds: [keyof typeof EXPORT_ROWS, string, Partial<ExportOnnxOptions>][] = [
          ['fp32', 'ConvNeXt-T file, fp32', {}],
          // Half the file; ORT's CPU provider has no fp16 kernels, so it casts the weights to fp32 once at load.
          ['fp16', 'ConvNeXt-T file, fp16 weights', { dtype: 'float16' }],
          ['dynamic', 'ConvNeXt-T file, int8 dynamic', { dtype: 'int8' }],
          ['static', 'ConvNeXt-T file, int8 static', { dtype: 'int8', quantization: 'static', calibration: { images: randomTensor([8, 3, 224, 224], 5) } }],
        ];
        const files = [];
        for (const [kind, label, o] of kinds) {
          const path = join(dir, `${kind}.onnx`);
          await exportOnnx(m, { path, size: 224, ...o });
          files.push({ kind, label, path, bytes: statSync(path).size, session: await createNodeSession(path, { threads: ctx.threads, label }) });
        }
        const x = randomTensor([batch, 3, 224, 224], 1);
        const bar = ctx.progress(`ConvNeXt-T files b${batch}`, files.length * (iters.warmup + iters.iters), batch);
        const timings = await timeInterleaved(
          files.map((f) => () => f.session.run({ pixel_values: x })),
          { ...iters, onIteration: () => bar.tick() },
        );
        bar.done();
        for (const f of files) await f.session.release();
        const flops = 2 * countMacs(traceForward(m, [1, 3, 224, 224]));
        ctx.note(`ConvNeXt-T files (b${batch}): ${files.map((f) => `${f.kind} ${(f.bytes / 2 ** 20).toFixed(1)} MiB`).join(', ')}; GFLOP/s count the fp32 network's MACs for each.`);
        return files.map((f, i): BenchRow => ({
          section: 'inference',
          label: f.label,
          model: EXPORT_ROWS[f.kind],
          runtime: `onnxruntime-node ${runtimeVersions().onnxruntimeNode}`,
          batch,
          size: 224,
          threads: ctx.threads,
          msPerImageMin: timings[i]!.minMs / batch,
          msPerImageMedian: timings[i]!.medianMs / batch,
          imagesPerSecond: (1000 * batch) / timings[i]!.medianMs,
          flopsPerImage: flops,
          int8: f.kind === 'dynamic' || f.kind === 'static',
        }));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
