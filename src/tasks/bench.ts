/**
 * Inference benchmarks: the whole job behind `visionmix bench` and the building blocks of
 * `bench/run.ts` (`npm run bench`). No CLI parsing here.
 *
 * Every absolute number depends on the machine, its load and its clock, so the figures we stand
 * behind are ratios measured in the same process: a model's achieved GFLOP/s against the GEMM peak
 * (a 2048³ fp32 MatMul through the same runtime, same thread count), and one runtime against another
 * on the same serialized graph. See DESIGN.md, "Conventions".
 *
 * Statistics: each timed iteration is one `run()` call on a full batch. We report the minimum (what
 * the machine can do when nothing interferes — the usual convention for peaks, and what ENGINE.md
 * quotes) and the median (what a user typically sees). GFLOP/s and fractions of peak compare
 * minimum against minimum, so that a noisy neighbour on a 2-core box does not bias one side only.
 *
 * Model execution goes through `VisionModel.run`: `benchModel` takes a model created by an engine
 * (the CLI's and bench/run.ts's Node engine). Raw graphs (GEMM peak, exported bytes) run on
 * onnxruntime-node sessions directly: these benchmarks are Node tools.
 */
import { ConfigError } from '../errors.js';
import { toModelProto } from '../graph/emit.js';
import { Graph, withGraph } from '../graph/graph.js';
import { matmul } from '../graph/ops/index.js';
import type { VisionModel } from '../models/base.js';
import { hostMemoryBytes } from '../io/host.js';
import { readOnnxFile } from '../io/onnx_file.js';
import { modelInfo } from '../models/index.js';
import { createNodeSession } from '../runtime/node.js';
import { runtimeVersions, vectorRoofline } from '../runtime/node_machine.js';
import { Tensor } from '../tensor.js';
import { Rng } from '../util/rng.js';
import { checkInferenceInputSize } from './input_size.js';

// ---- timing -------------------------------------------------------------------------------------

export interface TimingOptions {
  /** Timed iterations (≥ 1). */
  iters: number;
  /** Untimed iterations first: lazy allocations, caches, CPU frequency ramp-up (≥ 0). */
  warmup: number;
  /** Called after every iteration, warm-up included (drives a progress bar). */
  onIteration?: () => void;
  /** The clock, in milliseconds (default `performance.now`; tests pass a fake one). */
  now?: () => number;
}

export interface Timing {
  /** Wall time of each timed iteration, in milliseconds, in run order. */
  samplesMs: number[];
  minMs: number;
  medianMs: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function checkTimingOptions(opts: TimingOptions): void {
  if (!Number.isInteger(opts.iters) || opts.iters < 1) throw new ConfigError(`benchmark iterations must be an integer ≥ 1 (got ${opts.iters})`);
  if (!Number.isInteger(opts.warmup) || opts.warmup < 0) throw new ConfigError(`benchmark warm-up must be an integer ≥ 0 (got ${opts.warmup})`);
}

/** Runs `fn` warmup + iters times, sequentially, and times the last `iters` calls. */
export async function timeAsync(fn: () => Promise<unknown>, opts: TimingOptions): Promise<Timing> {
  checkTimingOptions(opts);
  for (let i = 0; i < opts.warmup; i++) {
    await fn();
    opts.onIteration?.();
  }
  const now = opts.now ?? (() => performance.now());
  const samplesMs: number[] = [];
  for (let i = 0; i < opts.iters; i++) {
    const t0 = now();
    await fn();
    samplesMs.push(now() - t0);
    opts.onIteration?.();
  }
  return { samplesMs, minMs: Math.min(...samplesMs), medianMs: median(samplesMs) };
}

/**
 * Times several functions whose ratio matters, interleaved: `warmup` untimed calls of each, then
 * `iters` rounds calling each once in turn. A machine that slows down for a while (other processes,
 * frequency changes) then slows every function alike instead of only the one running at the time.
 */
export async function timeInterleaved(fns: readonly (() => Promise<unknown>)[], opts: TimingOptions): Promise<Timing[]> {
  checkTimingOptions(opts);
  for (const fn of fns)
    for (let i = 0; i < opts.warmup; i++) {
      await fn();
      opts.onIteration?.();
    }
  const now = opts.now ?? (() => performance.now());
  const samples = fns.map((): number[] => []);
  for (let i = 0; i < opts.iters; i++)
    for (const [k, fn] of fns.entries()) {
      const t0 = now();
      await fn();
      samples[k]!.push(now() - t0);
      opts.onIteration?.();
    }
  return samples.map((samplesMs) => ({ samplesMs, minMs: Math.min(...samplesMs), medianMs: median(samplesMs) }));
}

/** A float32 tensor of uniform noise in [-1, 1): values do not change fp32 timings, only shapes do. */
export function randomTensor(shape: readonly number[], seed = 0): Tensor {
  const rng = new Rng(seed);
  let n = 1;
  for (const d of shape) n *= d;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform(-1, 1);
  return new Tensor(data, shape, 'float32');
}

function checkThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new ConfigError(`threads must be an integer ≥ 1 (got ${threads})`);
}

// ---- GEMM peak ----------------------------------------------------------------------------------

export interface GemmPeakOptions extends Partial<TimingOptions> {
  threads: number;
  /** Square size n of the n×n·n×n product (default 2048). */
  n?: number;
}

export interface GemmPeak {
  n: number;
  threads: number;
  /** 2·n³ floating-point operations per product. */
  flops: number;
  timing: Timing;
  /** From the fastest iteration: the number used as "peak". */
  gflops: number;
  /** From the median iteration (how steady the peak is). */
  gflopsMedian: number;
}

/** The ONNX graph `c = a · b` for n×n float32 inputs, built with our own tracer and emitter. */
export function gemmModelProto(n: number): Uint8Array {
  const g = new Graph(`gemm_${n}`);
  withGraph(g, () => {
    const a = g.input('a', [n, n]);
    const b = g.input('b', [n, n]);
    g.markOutput(matmul(a, b), 'c');
  });
  return toModelProto(g);
}

/**
 * The practical fp32 peak of this machine for this runtime and thread count: ORT's MatMul (MLAS)
 * runs a large square GEMM at close to the FMA units' limit, so a model reaching a fraction f of
 * it loses (1 − f) to memory-bound ops, small shapes and scheduling — which is what we want to see.
 */
export async function measureGemmPeak(opts: GemmPeakOptions): Promise<GemmPeak> {
  const n = opts.n ?? 2048;
  checkThreads(opts.threads);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`GEMM size must be an integer ≥ 1 (got ${n})`);
  const session = await createNodeSession(gemmModelProto(n), { threads: opts.threads, label: `MatMul ${n}³` });
  try {
    const feeds = { a: randomTensor([n, n], 1), b: randomTensor([n, n], 2) };
    // 30 timed runs after 5 untimed (2 s at ~300 GFLOP/s): with 8 after 2, two readings of one quiet
    // machine came out 236 and 256 GFLOP/s, the first run of a process lowest (measured on this 2-core VM).
    const timing = await timeAsync(() => session.run(feeds), {
      iters: opts.iters ?? 30,
      warmup: opts.warmup ?? 5,
      onIteration: opts.onIteration,
    });
    const flops = 2 * n ** 3;
    return {
      n,
      threads: opts.threads,
      flops,
      timing,
      gflops: flops / (timing.minMs * 1e6),
      gflopsMedian: flops / (timing.medianMs * 1e6),
    };
  } finally {
    await session.release();
  }
}

// ---- model inference ----------------------------------------------------------------------------

export interface ModelBenchOptions extends TimingOptions {
  /**
   * Untimed iterations; the first one also compiles the graph, so at least one always happens
   * (`modelBenchCalls` gives the total number of `onIteration` calls).
   */
  warmup: number;
  /** Registry name, or a model built by the caller (reused across calls: sessions stay cached). */
  /** A model attached to an engine (`engine.createModel(name)`). */
  model: VisionModel;
  batch: number;
  /** Square input side (default: the model's pretrained input size). */
  size?: number;
  threads: number;
  /** Seed of the random input batch (default 0). */
  seed?: number;
}

export interface ModelBench {
  model: string;
  family: string;
  batch: number;
  size: number;
  threads: number;
  /** Multiply-accumulates of one image at this size, ×1e9 (counted from the traced graph). */
  gmacsPerImage: number;
  /** The first call: tracing, serialisation, ORT session creation (weight pre-packing) and one run. */
  firstRunMs: number;
  /** Timings of whole batches. */
  timing: Timing;
  msPerImageMin: number;
  msPerImageMedian: number;
  /** Sustained throughput, from the median batch time. */
  imagesPerSecond: number;
  /** Achieved GFLOP/s (2 × MACs) from the fastest batch: compare with `GemmPeak.gflops`. */
  gflops: number;
}

/** How many runs (and `onIteration` calls) `benchModel` makes: the compiling first run is a warm-up. */
export function modelBenchCalls(opts: Pick<ModelBenchOptions, 'iters' | 'warmup'>): number {
  return Math.max(1, opts.warmup) + opts.iters;
}

/** Times fp32 inference of one model through `model.run` (weights as they are: random is fine). */
export async function benchModel(opts: ModelBenchOptions): Promise<ModelBench> {
  checkThreads(opts.threads);
  checkTimingOptions(opts);
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new ConfigError(`batch must be an integer ≥ 1 (got ${opts.batch})`);
  const model = opts.model;
  model.eval();
  const channels = model.defaultInputSize[0];
  const size = opts.size ?? (model.pretrainedConfig?.inputSize ?? model.defaultInputSize)[1];
  if (!Number.isInteger(size) || size < 1) throw new ConfigError(`input size must be an integer ≥ 1 (got ${size})`);
  // Before the random batch is drawn: a huge --size or --batch is a ConfigError, not a RangeError.
  checkInferenceInputSize(model, size, opts.batch, hostMemoryBytes());

  // MACs are counted from the traced graph at this very input size (they scale with H·W).
  const gmacsPerImage = modelInfo(model, [channels, size, size]).gmacs;
  const x = randomTensor([opts.batch, channels, size, size], opts.seed ?? 0);
  const run = () => model.run(x, { threads: opts.threads });

  // The first call compiles (and is cached by the backend per shape and thread count); keep it out
  // of the statistics but report it, since it is what a one-shot CLI call pays.
  const t0 = performance.now();
  await run();
  const firstRunMs = performance.now() - t0;
  opts.onIteration?.();

  const timing = await timeAsync(run, {
    iters: opts.iters,
    warmup: Math.max(0, opts.warmup - 1),
    onIteration: opts.onIteration,
  });
  const flopsPerBatch = 2 * gmacsPerImage * 1e9 * opts.batch;
  return {
    model: model.name || model.family,
    family: model.family,
    batch: opts.batch,
    size,
    threads: opts.threads,
    gmacsPerImage,
    firstRunMs,
    timing,
    msPerImageMin: timing.minMs / opts.batch,
    msPerImageMedian: timing.medianMs / opts.batch,
    imagesPerSecond: (opts.batch * 1000) / timing.medianMs,
    gflops: flopsPerBatch / (timing.minMs * 1e6),
  };
}

// ---- the `visionmix bench` job ----------------------------------------------------------------

export interface InferenceBenchOptions extends ModelBenchOptions {
  /** GEMM size for the peak (default 2048). */
  gemmN?: number;
  gemmIters?: number;
  gemmWarmup?: number;
  /** Told when a phase starts, for status lines. */
  onPhase?: (phase: 'model' | 'gemm') => void;
}

export interface InferenceBench {
  model: ModelBench;
  gemm: GemmPeak;
  /** model.gflops / gemm.gflops: the share of this machine's fp32 peak the model reaches. */
  fractionOfPeak: number;
  roofline: Roofline;
}

/** The machine's fp32 ceiling for a thread count, and how it was obtained (for reports). */
export interface Roofline {
  gflops: number;
  how: string;
}

/**
 * The vector roofline the CPU reports (`vectorRoofline`), or a GEMM measured in the same run where
 * that is higher (the clock then ran above the one the CPU reports): never below what the machine
 * demonstrably did, so a fraction of it above 1 means a miscounted FLOP figure, not a fast model.
 */
export function machineRoofline(threads: number, gemmGflops: number): Roofline {
  const vector = vectorRoofline(threads);
  if (vector && vector.gflops >= gemmGflops) return vector;
  return {
    gflops: gemmGflops,
    how: vector
      ? `the same run's GEMM, above the CPU's reported ${vector.gflops.toFixed(1)} GFLOP/s (${vector.how}): the clock ran above its reported value`
      : "the same run's GEMM (the CPU reports no clock)",
  };
}

/**
 * One model at one batch and size, and the GEMM peak at the same thread count, in one process.
 * The model goes first so that the peak is measured on an already warm CPU, as the model was.
 */
export async function benchInference(opts: InferenceBenchOptions): Promise<InferenceBench> {
  opts.onPhase?.('model');
  const model = await benchModel(opts);
  opts.onPhase?.('gemm');
  const gemm = await measureGemmPeak({
    threads: opts.threads,
    n: opts.gemmN,
    iters: opts.gemmIters,
    warmup: opts.gemmWarmup,
  });
  return { model, gemm, fractionOfPeak: model.gflops / gemm.gflops, roofline: machineRoofline(opts.threads, gemm.gflops) };
}

// ---- an exported ONNX file ---------------------------------------------------------------------

export interface OnnxFileBenchOptions extends TimingOptions {
  /** An .onnx file with one float32 image input (as `visionmix export` writes). */
  path: string;
  /** The batch fed to a symbolic batch dimension (a static one must equal it when given). */
  batch?: number;
  /** Square side fed to symbolic height/width dimensions. */
  size?: number;
  threads: number;
  seed?: number;
}

export interface OnnxFileBench {
  path: string;
  /** metadata_props `model_name` and `weights_dtype` when the file has them. */
  model?: string;
  weightsDtype?: string;
  inputName: string;
  inputShape: number[];
  batch: number;
  threads: number;
  /** Session creation (graph optimisation, weight pre-packing). */
  createMs: number;
  firstRunMs: number;
  timing: Timing;
  msPerImageMin: number;
  msPerImageMedian: number;
  imagesPerSecond: number;
}

/** The concrete input shape for `dims` (sizes or symbolic names): symbolic batch → `batch`, other symbolic dims → `size`. */
export function resolveInputShape(dims: readonly (number | string)[], o: { batch?: number; size?: number; path: string }): number[] {
  if (dims.length === 0) throw new ConfigError(`${o.path}: the input has no declared shape; cannot make a random batch for it`);
  return dims.map((d, i) => {
    if (typeof d === 'number' && d > 0) {
      if (i === 0 && o.batch !== undefined && o.batch !== d)
        throw new ConfigError(`${o.path} was exported with a static batch of ${d}; --batch ${o.batch} cannot be fed (re-export with --batch dynamic)`);
      return d;
    }
    if (i === 0) return o.batch ?? 1;
    if (o.size === undefined) throw new ConfigError(`${o.path}: input dimension ${i} is symbolic (${String(d)}); give --size`);
    return o.size;
  });
}

/** Times any ONNX file with one float32 input on onnxruntime-node (from its path: external data is found beside it). */
export async function benchOnnxFile(opts: OnnxFileBenchOptions): Promise<OnnxFileBench> {
  checkThreads(opts.threads);
  checkTimingOptions(opts);
  if (opts.batch !== undefined && !(Number.isInteger(opts.batch) && opts.batch >= 1)) throw new ConfigError(`batch must be an integer ≥ 1 (got ${opts.batch})`);
  const info = readOnnxFile(opts.path);
  const initNames = new Set(info.initializers.map((i) => i.name));
  const inputs = info.inputs.filter((v) => !initNames.has(v.name));
  if (inputs.length !== 1) throw new ConfigError(`${opts.path} has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); bench --onnx times files with one image input`);
  const input = inputs[0]!;
  if (input.dtype !== 'float32') throw new ConfigError(`${opts.path}: input ${input.name} is ${input.dtype}; bench --onnx feeds float32`);
  const shape = resolveInputShape(input.dims, opts);
  const batch = shape[0]!;
  let elements = 1;
  for (const d of shape) elements *= d;
  if (elements * 4 > hostMemoryBytes() / 4) throw new ConfigError(`${opts.path}: an input of [${shape.join(', ')}] would not fit in memory; lower --batch or --size`);
  const t0 = performance.now();
  const session = await createNodeSession(opts.path, { threads: opts.threads, label: opts.path });
  const createMs = performance.now() - t0;
  try {
    const feeds = { [input.name]: randomTensor(shape, opts.seed ?? 0) };
    const t1 = performance.now();
    await session.run(feeds);
    const firstRunMs = performance.now() - t1;
    opts.onIteration?.();
    const timing = await timeAsync(() => session.run(feeds), { ...opts, warmup: Math.max(0, opts.warmup - 1) });
    return {
      path: opts.path,
      ...(info.metadata.model_name ? { model: info.metadata.model_name } : {}),
      ...(info.metadata.weights_dtype ? { weightsDtype: info.metadata.weights_dtype } : {}),
      inputName: input.name,
      inputShape: shape,
      batch,
      threads: opts.threads,
      createMs,
      firstRunMs,
      timing,
      msPerImageMin: timing.minMs / batch,
      msPerImageMedian: timing.medianMs / batch,
      imagesPerSecond: (batch * 1000) / timing.medianMs,
    };
  } finally {
    await session.release();
  }
}

// ---- raw sessions: the same bytes on two runtimes -----------------------------------------------

export interface SessionBench {
  runtime: string;
  /** Threads actually in use (onnxruntime-web may fall back to 1). */
  threads: number;
  /** Why `threads` differs from the request, when it does. */
  note?: string;
  createMs: number;
  timing: Timing;
}

export interface SessionBenchOptions extends TimingOptions {
  /** A serialized ONNX ModelProto with one float32 input. */
  modelBytes: Uint8Array;
  inputName: string;
  inputShape: readonly number[];
  threads: number;
}

/** Times a serialized graph on onnxruntime-node (via src/runtime/session.ts). */
export async function benchNativeSession(opts: SessionBenchOptions): Promise<SessionBench> {
  checkThreads(opts.threads);
  const t0 = performance.now();
  const session = await createNodeSession(opts.modelBytes, { threads: opts.threads, label: 'benchmark' });
  const createMs = performance.now() - t0;
  try {
    const feeds = { [opts.inputName]: randomTensor(opts.inputShape) };
    const timing = await timeAsync(() => session.run(feeds), opts);
    return { runtime: `onnxruntime-node ${runtimeVersions().onnxruntimeNode}`, threads: opts.threads, createMs, timing };
  } finally {
    await session.release();
  }
}

/**
 * Times a serialized graph on onnxruntime-web's wasm backend, inside Node. Thread count: wasm
 * threads need SharedArrayBuffer and worker threads, which Node provides; where they are missing,
 * onnxruntime-web silently drops to 1 thread, so we read the setting back after the first session
 * and report what was used. The wasm module is initialised once per process, so the first call's
 * thread count holds for the whole process.
 */
export async function benchWebSession(opts: SessionBenchOptions): Promise<SessionBench> {
  checkThreads(opts.threads);
  // Loaded on demand: the CLI must not pay for (or depend on) the wasm runtime unless asked.
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = opts.threads;
  ort.env.logLevel = 'error';
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(opts.modelBytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const createMs = performance.now() - t0;
  try {
    const used = typeof ort.env.wasm.numThreads === 'number' && ort.env.wasm.numThreads > 0 ? ort.env.wasm.numThreads : 1;
    const x = randomTensor(opts.inputShape);
    const feeds = { [opts.inputName]: new ort.Tensor('float32', x.data as Float32Array, opts.inputShape as number[]) };
    const timing = await timeAsync(() => session.run(feeds), opts);
    return {
      runtime: `onnxruntime-web ${ort.env.versions.web ?? '(version unknown)'} (wasm)`,
      threads: used,
      note: used !== opts.threads ? `asked for ${opts.threads} wasm threads, onnxruntime-web used ${used} (no wasm threads in this Node)` : undefined,
      createMs,
      timing,
    };
  } finally {
    await session.release();
  }
}

// ---- machine --------------------------------------------------------------------------------------

// Machine and runtime facts come from `runtime/` (they need node:os and onnxruntime-node); they are
// re-exported here because bench/run.ts reports them alongside the figures.
export { machineInfo, runtimeVersions, type MachineInfo } from '../runtime/node_machine.js';
