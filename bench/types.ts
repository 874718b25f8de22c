/** The benchmark suite's extension points: a case returns rows for one of the report's tables. */
import type { VisionModel } from '../src/models/base.js';

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
  /**
   * The row computes in int8 (its FLOPs count the fp32 network's operations): its fractions of the
   * fp32 GEMM peak and roofline may exceed 1 — that is the point of int8, not a measuring error.
   */
  int8?: boolean;
  /** Speed of a reference row divided by this row's speed (peers: how much faster native is). */
  slowdownVsReference?: number;
  /**
   * Training: the peak RSS of a fresh process that compiles and runs the step, and that process's RSS
   * before it built the model (bytes); and the suite process's own peak while the row ran.
   */
  peakRssBytes?: number;
  baseRssBytes?: number;
  suitePeakRssBytes?: number;
  /** Data loading: share of the consumer's time spent waiting for batches (0 when it never waits). */
  waitFraction?: number;
}

/** A row after the suite ends: the peak is known, so derived columns can be filled. */
export interface FinalRow extends BenchRow {
  gflops?: number;
  fractionOfPeak?: number;
  /** GFLOP/s over the machine's fp32 roofline (SuiteResult.roofline). */
  fractionOfRoofline?: number;
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
