/**
 * Static int8 export (issue 24 §3): calibrate the emitted float graph on images — run it on the
 * model's runtime with every quantized layer's input (and a Conv's output) as extra outputs — then
 * rewrite it with QDQ int8 layers (graph/quantize_static.ts), and measure what quantizing costs on
 * the same images: the whole int8 model against float32, and with `sensitivity` each layer quantized
 * alone (the per-layer report).
 */
import { ConfigError } from '../errors.js';
import { serializeModel, type OnnxModel } from '../graph/emit.js';
import {
  calibrationModel,
  computedConstants,
  findStaticLayers,
  observedTensors,
  RangeObserver,
  withStaticQdq,
  type QuantizedLayer,
  type Range,
  type StaticLayer,
} from '../graph/quantize_static.js';
import type { GraphSession, VisionModel } from '../models/base.js';
import { Tensor } from '../tensor.js';
import { concatBytes } from '../util/bytes.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

export interface CalibrationOptions {
  /** Calibration images [N, C, H, W], float32, prepared as the exported model expects (its eval transform). */
  images: Tensor;
  /**
   * 'minmax' (default): the extremes seen; 'percentile': the [100 − p, p] percentiles (clips outliers);
   * 'entropy': the clipping that keeps |x|'s distribution closest in KL divergence (RangeObserver).
   */
  method?: CalibrationMethod;
  /** p of the percentile method (default 99.99; in (50, 100]). */
  percentile?: number;
  /** Images per calibration run (default 8; a file with a static batch uses its batch). */
  batchSize?: number;
  /**
   * Layers left float32: 'stem' (the first conv), 'classifier', or layer names / name prefixes
   * ('stages.0' keeps a whole stage). Default ['stem', 'classifier']; [] quantizes every layer.
   */
  keepFloat?: readonly string[];
  /** Also quantize each layer alone and measure the output error (one more session per layer). */
  sensitivity?: boolean;
  /** 7-bit weights (default true): see graph/quantize.ts `reduceRange`. */
  reduceRange?: boolean;
}

/** How far a quantized model's output is from float32's on the calibration images. */
export interface OutputError {
  /** ‖int8 − fp32‖₂ / ‖fp32‖₂ over the whole output. */
  relL2: number;
  /** Share of images whose top-1 class is the same (null when the output is not [N, classes]). */
  top1Agreement: number | null;
}

export interface StaticQuantReport {
  method: CalibrationMethod;
  percentile?: number;
  /** Calibration images used. */
  images: number;
  /** The output compared ('logits', or the first output). */
  output: string;
  /** Every quantized layer, in graph order; `sensitivity`: the error with it alone quantized. */
  layers: (QuantizedLayer & { sensitivity?: OutputError })[];
  /** Layers left float32 and why. */
  float32: { name: string; op: string; reason: string }[];
  /** The int8 model against float32. */
  overall: OutputError;
}

export const DEFAULT_KEEP_FLOAT = ['stem', 'classifier'] as const;

function checkCalibration(c: CalibrationOptions, m: OnnxModel): void {
  const input = m.inputs[0]!;
  const want = input.dims.slice(1);
  const x = c.images;
  if (!(x instanceof Tensor) || x.dtype !== 'float32' || x.shape.length !== 4 || x.shape[0]! < 1 || want.some((d, i) => d !== x.shape[i + 1]))
    throw new ConfigError(`calibration.images must be float32 [N, ${want.join(', ')}] (the exported input), got ${x instanceof Tensor ? `${x.dtype} [${x.shape.join(', ')}]` : typeof x}`);
  if (c.method !== undefined && c.method !== 'minmax' && c.method !== 'percentile' && c.method !== 'entropy')
    throw new ConfigError(`calibration.method must be 'minmax', 'percentile' or 'entropy', got '${String(c.method)}'`);
  if (c.percentile !== undefined && !(c.percentile > 50 && c.percentile <= 100)) throw new ConfigError(`calibration.percentile must be in (50, 100], got ${c.percentile}`);
  if (c.batchSize !== undefined && !(Number.isInteger(c.batchSize) && c.batchSize >= 1)) throw new ConfigError(`calibration.batchSize must be a positive integer, got ${c.batchSize}`);
  const fixed = input.dims[0];
  if (typeof fixed === 'number' && x.shape[0]! < fixed) throw new ConfigError(`calibration.images: ${x.shape[0]} images, fewer than the file's static batch of ${fixed}`);
}

/** Which layers stay float32 (and why) by `keepFloat`; a name that matches no layer is a ConfigError. */
function keptFloat(layers: readonly StaticLayer[], keep: readonly string[], model: VisionModel): Map<string, string> {
  const kept = new Map<string, string>();
  for (const k of keep) {
    const match =
      k === 'stem'
        ? (l: StaticLayer) => l.params.some((p) => p.startsWith(`${model.firstConv}.`))
        : k === 'classifier'
          ? (l: StaticLayer) => l.params.some((p) => model.isClassifierKey(p))
          : (l: StaticLayer) => l.name === k || l.name.startsWith(`${k}.`);
    const hits = layers.filter(match);
    if (hits.length === 0 && k !== 'stem' && k !== 'classifier')
      throw new ConfigError(`calibration.keepFloat: '${k}' names no layer (layers: ${layers.slice(0, 4).map((l) => l.name).join(', ')}, …)`);
    for (const l of hits) if (!kept.has(l.name)) kept.set(l.name, k === 'stem' ? 'first conv' : k === 'classifier' ? 'classifier' : `keepFloat '${k}'`);
  }
  return kept;
}

/** The calibration images in runs of `size` (a static batch: only whole runs). */
function* batches(x: Tensor, size: number, exact: boolean): Generator<Tensor> {
  const [n, ...rest] = x.shape as [number, ...number[]];
  const per = rest.reduce((a, b) => a * b, 1);
  const data = x.data as Float32Array;
  for (let s = 0; s < n; s += size) {
    const k = Math.min(size, n - s);
    if (exact && k < size) return;
    yield new Tensor(data.subarray(s * per, (s + k) * per), [k, ...rest], 'float32');
  }
}

/** Relative L2 and top-1 agreement of `got` against `ref` (rows of `classes` values). */
export function outputError(ref: Float32Array, got: Float32Array, classes: number | null): OutputError {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (got[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  let top1: number | null = null;
  if (classes) {
    const argmax = (a: Float32Array, r: number) => {
      let best = 0;
      for (let j = 1; j < classes; j++) if (a[r * classes + j]! > a[r * classes + best]!) best = j;
      return best;
    };
    const rows = ref.length / classes;
    let same = 0;
    for (let r = 0; r < rows; r++) if (argmax(ref, r) === argmax(got, r)) same++;
    top1 = same / rows;
  }
  return { relL2: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num), top1Agreement: top1 };
}

/**
 * Quantize `m` statically (see the file comment), calibrated on `c.images` run by `model`'s runtime.
 * Returns the int8 model and the report; `m` is not changed.
 */
export async function quantizeStaticInt8(m: OnnxModel, model: VisionModel, c: CalibrationOptions): Promise<{ model: OnnxModel; report: StaticQuantReport }> {
  checkCalibration(c, m);
  const backend = model.backend;
  if (!backend) throw new ConfigError(`static int8 export runs the model to calibrate it: create ${model.name || model.family} with createModel()`);
  const method = c.method ?? 'minmax';
  const percentile = c.percentile ?? 99.99;
  const layers = findStaticLayers(m);
  const kept = keptFloat(layers, c.keepFloat ?? DEFAULT_KEEP_FLOAT, model);
  const chosen = layers.filter((l) => !kept.has(l.name));
  const fixed = m.inputs[0]!.dims[0];
  const runs = () => batches(c.images, typeof fixed === 'number' ? fixed : (c.batchSize ?? 8), typeof fixed === 'number');
  const input = m.inputs[0]!.name;
  const out = m.outputs.find((o) => o.name === 'logits') ?? m.outputs[0]!;
  const classes = out.dims.length === 2 && typeof out.dims[1] === 'number' ? out.dims[1] : null;
  const open = (g: OnnxModel, label: string) => backend.openGraph(serializeModel(g).model, label);
  const label = model.name || model.family;

  // Calibration: ranges (min-max, then a histogram pass for percentiles and entropy), the computed weights, the fp32 output.
  const observed = observedTensors(chosen);
  const constants = computedConstants(m, chosen);
  const observer = new RangeObserver();
  const values = new Map<string, Tensor>();
  const ref: Float32Array[] = [];
  let images = 0;
  const calib = await open(calibrationModel(m, [...observed, ...constants]), `${label} calibration`);
  try {
    for (const x of runs()) {
      const r = await calib.run({ [input]: x });
      for (const name of observed) observer.observe(name, r[name]!.data as Float32Array);
      for (const name of constants) if (!values.has(name)) values.set(name, r[name]!);
      ref.push(Float32Array.from(r[out.name]!.data as Float32Array));
      images += x.shape[0]!;
    }
    if (method !== 'minmax')
      for (const x of runs()) {
        const r = await calib.run({ [input]: x });
        for (const name of observed) observer.observeHistogram(name, r[name]!.data as Float32Array, method);
      }
  } finally {
    await calib.release();
  }
  const rangeOf = (n: string) => (method === 'percentile' ? observer.percentileRange(n, percentile) : method === 'entropy' ? observer.entropyRange(n) : observer.range(n));
  const ranges = new Map<string, Range>(observed.map((n) => [n, rangeOf(n)]));
  const qdq = { ranges, constants: values, reduceRange: c.reduceRange };
  const reference = concat(ref);

  /** The output error of `g` on the calibration images. */
  const measure = async (g: OnnxModel, what: string): Promise<OutputError> => {
    const s: GraphSession = await open(g, `${label} ${what}`);
    try {
      const got: Float32Array[] = [];
      for (const x of runs()) got.push(Float32Array.from((await s.run({ [input]: x }))[out.name]!.data as Float32Array));
      return outputError(reference, concat(got), classes);
    } finally {
      await s.release();
    }
  };

  const full = withStaticQdq(m, chosen, qdq);
  const report: StaticQuantReport = {
    method,
    ...(method === 'percentile' ? { percentile } : {}),
    images,
    output: out.name,
    layers: full.layers,
    float32: layers.filter((l) => kept.has(l.name)).map((l) => ({ name: l.name, op: l.op, reason: kept.get(l.name)! })),
    overall: await measure(full.model, 'int8'),
  };
  if (c.sensitivity)
    for (const l of report.layers) {
      const alone = withStaticQdq(m, chosen.filter((x) => x.name === l.name), qdq);
      l.sensitivity = await measure(alone.model, `int8 ${l.name} alone`);
    }
  return { model: full.model, report };
}

/** Float32 chunks as one array (through util's byte concatenation). */
function concat(parts: Float32Array[]): Float32Array {
  return new Float32Array(concatBytes(parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength))).buffer);
}
