/** The report's tables: their columns, titles and intros (shared by the console and BENCHMARKS.md). */
import type { TableColumn } from '../src/cli/table.js';
import type { GemmPeak } from '../src/tasks/bench.js';
import type { RatioRow } from './ratios.js';
import type { FinalRow, Section } from './types.js';

export const RATIO_COLUMNS: TableColumn<RatioRow>[] = [
  { key: 'label', header: 'ratio' },
  { key: 'batch', header: 'batch' },
  { key: 'ratioMin', header: 'by min time', format: (v) => `${v.toFixed(2)}×` },
  { key: 'ratioMedian', header: 'by median time', format: (v) => `${v.toFixed(2)}×` },
  { key: 'goal', header: 'goal', format: (v) => `≤ ${v.toFixed(2)}×` },
  { key: 'by', header: 'judged by' },
  { key: 'met', header: 'met', format: (v) => (v ? 'yes' : 'no') },
];

export const RATIO_INTRO =
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
  { key: 'fractionOfRoofline', header: 'of roofline', format: fixed(2) },
];

const GB = (b: number | undefined) => (b === undefined ? '' : (b / 1e9).toFixed(2));

const TRAINING_COLUMNS: TableColumn<FinalRow>[] = [
  ...THROUGHPUT_COLUMNS,
  { key: 'peakRssBytes', header: 'peak RSS (GB)', format: GB },
  { key: 'baseRssBytes', header: 'RSS of Node (GB)', format: GB },
  { key: 'suitePeakRssBytes', header: 'peak in the suite (GB)', format: GB },
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

export interface SectionDef {
  title: string;
  /** One paragraph under the title in BENCHMARKS.md. */
  intro: (threads: number) => string;
  columns: TableColumn<FinalRow>[];
}

export const SECTIONS: Record<Section, SectionDef> = {
  inference: {
    title: 'Inference',
    intro: (t) =>
      `\`VisionModel.run\` on a random batch (random weights: fp32 timings do not depend on values), ${t} intra-op threads, ` +
      'weights compiled in as initializers. GFLOP/s count 2 × MACs from the traced graph and use the fastest iteration; ' +
      'img/s uses the median. The "ConvNeXt-T file" rows are exported ONNX files (fp32, dynamic int8, static int8) in plain ' +
      'onnxruntime-node sessions, timed interleaved; their GFLOP/s count the fp32 network\'s MACs. The "GEMM 2048³" rows are ' +
      'the int8 ceiling: one product with a constant right operand as fp32 MatMul and as our dynamic int8 graph, interleaved.',
    columns: THROUGHPUT_COLUMNS,
  },
  training: {
    title: 'Training steps (fp32)',
    intro: (t) =>
      `One compiled train-step graph (forward, our autodiff's backward, AdamW update), ${t} intra-op threads, random batch. ` +
      'ms/img and img/s are per training image; GFLOP/s count 3 × the forward pass (2 × MACs from the traced graph) per image, ' +
      'the usual estimate of forward + backward work. "peak RSS" is the peak resident memory of a fresh process that builds the ' +
      'model, compiles the step and runs it three times (what a training job needs; PyTorch\'s figures are read the same way), ' +
      '"RSS of Node" that process\'s memory before it built the model. "peak in the suite" is the bench process\'s own peak ' +
      'while the row ran (watermark reset first; Linux VmHWM): it also holds every earlier row\'s models and arenas (the FCMAE ' +
      'pair is one reading for both steps, compiled side by side).',
    columns: TRAINING_COLUMNS,
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

export const GEMM_COLUMNS: TableColumn<GemmRow>[] = [
  { key: 'when', header: 'measured' },
  { key: 'ms', header: 'ms (min)', format: fixed(1) },
  { key: 'msMedian', header: 'ms (median)', format: fixed(1) },
  { key: 'gflops', header: 'GFLOP/s (min time)', format: fixed(1) },
  { key: 'gflopsMedian', header: 'GFLOP/s (median time)', format: fixed(1) },
];

export function gemmRow(when: string, g: GemmPeak): GemmRow {
  return { when, ms: g.timing.minMs, msMedian: g.timing.medianMs, gflops: g.gflops, gflopsMedian: g.gflopsMedian };
}
