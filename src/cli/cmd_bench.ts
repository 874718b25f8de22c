/**
 * `visionmix bench --model NAME`: fp32 inference speed of one model, and in the same run the GEMM
 * peak of this machine at the same thread count, so that the result is a ratio that means the same
 * on any machine. The job itself lives in src/tasks/bench.ts; this file parses and prints.
 */
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.js';
import type { InferenceBench, OnnxFileBench } from '../tasks/bench.js';
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { ProgressBar, formatRate } from './progress.js';
import { renderTable, type TableColumn } from './table.js';

export const spec = defineCommand({
  name: 'bench',
  summary: 'Measure fp32 inference speed against the same-run GEMM peak',
  description:
    'Runs the model (random weights: timings do not depend on values) on a random batch through ONNX ' +
    'Runtime, then a 2048x2048x2048 fp32 MatMul with the same thread count. Reports per-image latency ' +
    '(min and median), images/s, achieved GFLOP/s (2 x MACs) and its ratio to the GEMM peak; ' +
    'GFLOP/s and the ratio compare fastest iteration with fastest iteration. ' +
    "--onnx FILE times an ONNX file instead (any exported one, fp16 or int8 included): its input is fed random " +
    "data of its declared shape, the symbolic batch set by --batch; latency and throughput only.",
  options: {
    model: { type: 'string', short: 'm', placeholder: 'name', description: "model name (see 'visionmix models')" },
    onnx: { type: 'string', placeholder: 'file', description: "an ONNX file to time instead of --model (e.g. from 'visionmix export')" },
    batch: { type: 'int', min: 1, default: 1, short: 'b', description: 'images per run' },
    threads: { type: 'int', min: 1, description: 'intra-op threads; all cores when omitted (and at most)' },
    size: { type: 'int', min: 8, description: "square input side; the model's input size when omitted" },
    iters: { type: 'int', min: 1, default: 10, description: 'timed iterations' },
    warmup: { type: 'int', min: 0, default: 2, description: 'untimed iterations first (the first one compiles)' },
    gemmIters: { type: 'int', min: 1, default: 5, description: 'timed iterations of the GEMM peak' },
    json: { type: 'boolean', description: 'print the measurements as JSON' },
  },
  examples: [
    'visionmix bench --model convnext_tiny --threads 2',
    'visionmix bench -m convnextv2_atto -b 8 --size 160',
    'visionmix bench --onnx convnext_tiny.onnx -b 8',
  ],
});

interface Line {
  quantity: string;
  value: string;
}

const COLUMNS: TableColumn<Line>[] = [
  { key: 'quantity', header: 'quantity' },
  { key: 'value', header: 'value' },
];

const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

/** The report as lines; the last one is the ratio, the figure this command exists for. */
export function reportLines(r: InferenceBench): Line[] {
  const m = r.model;
  return [
    { quantity: 'model', value: `${m.model} (${m.family}), fp32, ${m.gmacsPerImage.toPrecision(3)} GMACs/img` },
    { quantity: 'input', value: `batch ${m.batch} x 3x${m.size}x${m.size}, ${m.threads} thread${m.threads === 1 ? '' : 's'}` },
    { quantity: 'first run (compile)', value: ms(m.firstRunMs) },
    { quantity: 'latency/img min', value: ms(m.msPerImageMin) },
    { quantity: 'latency/img median', value: ms(m.msPerImageMedian) },
    { quantity: 'throughput', value: formatRate(m.imagesPerSecond, 'img') },
    { quantity: 'achieved', value: `${m.gflops.toFixed(1)} GFLOP/s` },
    { quantity: 'GEMM peak', value: `${r.gemm.gflops.toFixed(1)} GFLOP/s (${r.gemm.n}³ fp32 MatMul, same run)` },
    {
      quantity: 'ratio to GEMM peak',
      value:
        r.fractionOfPeak.toFixed(3) +
        (r.fractionOfPeak > 1
          ? " (above 1: ONNX Runtime's MatMul reaches less than the machine can do, and inference convs run on other kernels; compare the roofline)"
          : ''),
    },
    { quantity: 'ratio to roofline', value: `${(m.gflops / r.roofline.gflops).toFixed(3)} of ${r.roofline.gflops.toFixed(1)} GFLOP/s (${r.roofline.how})` },
  ];
}

/** The report of `--onnx`: what the file is, then its timings. */
export function onnxReportLines(r: OnnxFileBench): Line[] {
  return [
    { quantity: 'file', value: `${r.path}${r.model ? ` (${r.model}${r.weightsDtype ? `, weights ${r.weightsDtype}` : ''})` : ''}` },
    { quantity: 'input', value: `${r.inputName} [${r.inputShape.join(', ')}], ${r.threads} thread${r.threads === 1 ? '' : 's'}` },
    { quantity: 'session creation', value: ms(r.createMs) },
    { quantity: 'first run', value: ms(r.firstRunMs) },
    { quantity: 'latency/img min', value: ms(r.msPerImageMin) },
    { quantity: 'latency/img median', value: ms(r.msPerImageMedian) },
    { quantity: 'throughput', value: formatRate(r.imagesPerSecond, 'img') },
  ];
}

export async function run({ values, given }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  if ((values.model === undefined) === (values.onnx === undefined)) throw new ConfigError('give --model NAME or --onnx FILE (one of them)');
  // Loaded here rather than at the top: the Node entry installs the ONNX Runtime backend, which
  // `visionmix --help` or `visionmix models` should neither pay for nor depend on.
  const engine = (await import('./engine.js')).nodeEngine();
  const { benchInference, modelBenchCalls } = await import('../tasks/bench.js');

  // More threads than cores only make each one wait for a core (1000 threads: nothing finishes).
  const cores = availableParallelism();
  if (values.threads !== undefined && values.threads > cores)
    io.stderr.write(`warning: --threads ${values.threads} is more than the ${cores} cores of this machine; using ${cores}\n`);
  const threads = Math.min(values.threads ?? cores, cores);
  const tty = io.stderr.isTTY === true;
  if (values.onnx !== undefined) {
    if (given.has('gemmIters')) throw new ConfigError('--gemm-iters applies to --model only (--onnx reports latency and throughput)');
    const { benchOnnxFile } = await import('../tasks/bench.js');
    io.stderr.write(`benchmarking ${values.onnx} (${threads} threads)...\n`);
    const r = await benchOnnxFile({
      path: values.onnx,
      batch: given.has('batch') ? values.batch : undefined,
      size: values.size,
      threads,
      iters: values.iters,
      warmup: values.warmup,
    });
    if (values.json) io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else io.stdout.write(`${renderTable(COLUMNS, onnxReportLines(r))}\n`);
    return 0;
  }
  const model = values.model!;
  let bar: ProgressBar | undefined;
  const result = await benchInference({
    model: engine.createModel(model),
    batch: values.batch,
    size: values.size,
    threads,
    iters: values.iters,
    warmup: values.warmup,
    gemmIters: values.gemmIters,
    onPhase: (phase) => {
      bar?.done();
      bar = undefined;
      if (phase === 'model') {
        // A bar only on terminals: in logs, per-iteration lines would be noise around the result.
        if (tty)
          bar = new ProgressBar({
            total: modelBenchCalls(values),
            label: `${model} b${values.batch}`,
            unit: 'run',
            rateUnit: 'img',
            rateScale: values.batch,
            stream: io.stderr,
          });
        else io.stderr.write(`benchmarking ${model} (batch ${values.batch}, ${threads} threads)...\n`);
      } else {
        io.stderr.write(`measuring the GEMM peak (2048³ fp32 MatMul, ${threads} threads)...\n`);
      }
    },
    onIteration: () => bar?.tick(),
  });
  bar?.done();

  if (values.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else io.stdout.write(`${renderTable(COLUMNS, reportLines(result))}\n`);
  return 0;
}
