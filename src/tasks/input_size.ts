/**
 * Is a training input size usable with a model? Checked before a run folder is created, so that a
 * bad `--size` is a ConfigError naming it — not a ShapeError deep inside a Conv after run.json was
 * written (too small), and not minutes of growing memory with no output (far too large).
 *
 * What the model needs is read from the model itself, by tracing it (shapes only, nothing runs):
 * - its total stride: the input side divided by the side of the last feature map. The size must be
 *   a multiple of it (otherwise downsampling layers silently drop the last rows and columns) and at
 *   least that large (otherwise the last stage has no pixels left);
 * - its activations per input pixel, from which the memory of a training step is estimated.
 */
import { ConfigError, ShapeError } from '../errors.js';
import type { VisionModel } from '../models/base.js';
import type { Graph, Value } from '../graph/graph.js';
import { countElements } from '../models/model_size.js';
import { traceForward } from '../models/trace.js';

/**
 * A training step keeps every forward activation for the backward pass and produces gradients of
 * about the same size: 4 bytes × activations × 2 estimates its peak memory. Measured peak RSS of
 * ConvNeXt V2 training steps (2 threads) against this estimate: demo model 32² b64 614 MB / 540 MB,
 * atto 64² b64 818 / 920, atto 128² b32 1367 / 1840, a 4-block model 256² b64 1085 / 1060.
 */
const BYTES_PER_ACTIVATION = 4 * 2;
/** Refuse when the estimate exceeds this share of the machine's memory (the OS and data need the rest). */
export const MEMORY_SHARE = 0.9;
/** A probe side divisible by every power-of-two stride up to 256. */
const PROBE = 256;

export interface InputSizeRule {
  /** The input side must be a multiple of this (the model's total stride). */
  multipleOf: number;
  /** Float activations of one image's forward pass per input pixel (for memory estimates). */
  activationsPerPixel: number;
  /**
   * Float activations alive at once in an inference forward pass, per input pixel: a value is freed
   * after its last reader, as ONNX Runtime's memory planner does, so this is far below the total.
   */
  peakActivationsPerPixel: number;
}

const rules = new WeakMap<VisionModel, InputSizeRule>();

/** The input-size rule of a model, from one shape-only trace at a probe size (cached per model). */
export function inputSizeRule(model: VisionModel): InputSizeRule {
  const cached = rules.get(model);
  if (cached) return cached;
  const [c, defaultSide] = model.defaultInputSize;
  // Models built for one input size (CMT: its relative position biases) refuse the probe: they are
  // probed at their own size.
  let probe = PROBE;
  let g;
  try {
    g = traceForward(model, [1, c, probe, probe], { features: true });
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof ShapeError) || defaultSide === PROBE) throw err;
    probe = defaultSide;
    g = traceForward(model, [1, c, probe, probe], { features: true });
  }
  const maps = g.outputs.filter((v) => g.outputNames.get(v)?.startsWith('features.'));
  const last = maps[maps.length - 1];
  const side = last ? last.shape[2]! : probe;
  // A stride that does not divide the probe cannot be read off exactly; then only the trace at the
  // requested size checks the minimum (multipleOf 1).
  const multipleOf = Number.isInteger(probe / side) ? probe / side : 1;
  let activations = 0;
  for (const node of g.nodes) for (const out of node.outputs) if (out.dtype === 'float32') activations += out.size;
  const pixels = probe * probe;
  const rule = { multipleOf, activationsPerPixel: activations / pixels, peakActivationsPerPixel: peakLiveActivations(g) / pixels };
  rules.set(model, rule);
  return rule;
}

/**
 * The most float activations alive at once when the nodes run in order, each value freed after the
 * last node that reads it (graph outputs are kept to the end).
 */
export function peakLiveActivations(g: Graph): number {
  const lastUse = new Map<Value, number>();
  g.nodes.forEach((node, i) => {
    for (const v of node.inputs) lastUse.set(v, i);
  });
  for (const v of g.outputs) lastUse.set(v, Infinity);
  const freedAt = new Map<number, number>();
  let live = 0;
  let peak = 0;
  g.nodes.forEach((node, i) => {
    for (const out of node.outputs) {
      if (out.dtype !== 'float32') continue;
      live += out.size;
      const end = lastUse.get(out) ?? i;
      if (end !== Infinity) freedAt.set(end, (freedAt.get(end) ?? 0) + out.size);
    }
    peak = Math.max(peak, live);
    live -= freedAt.get(i) ?? 0;
  });
  return peak;
}

const GiB = 1024 ** 3;

/**
 * Throw a ConfigError naming `--size` when `size` cannot train `model` with batches of `batchSize`:
 * smaller than the images (`minSize`, e.g. 28 for Fashion-MNIST: they are padded, never cropped),
 * not a multiple of the model's stride, too small for its last stage, or needing more memory than
 * `memoryBytes` allows — for a graph of `microBatch` images when the batch runs in micro-batches;
 * the error then names the largest micro-batch that fits.
 */
export function checkTrainInputSize(model: VisionModel, size: number, batchSize: number, minSize: number, memoryBytes: number, option = '--size', microBatch?: number): void {
  const name = model.name || model.family;
  if (!Number.isSafeInteger(size) || size < 1) throw new ConfigError(`${option} must be a positive integer (got ${size})`);
  const { multipleOf, activationsPerPixel } = inputSizeRule(model);
  const smallest = Math.max(multipleOf, Math.ceil(minSize / multipleOf) * multipleOf);
  if (size < minSize)
    throw new ConfigError(`${option} ${size} is smaller than the ${minSize}×${minSize} images of the data set (they are padded to the input size, never cropped); use ${option} ${smallest} or more`);
  if (size % multipleOf !== 0) {
    const lower = Math.floor(size / multipleOf) * multipleOf;
    const upper = lower + multipleOf;
    const options = lower >= smallest ? `${lower} or ${upper}` : `${upper}`;
    throw new ConfigError(
      `${option} ${size} does not fit ${name}: its stem and downsampling layers reduce the input ${multipleOf}×, so the size must be a multiple of ${multipleOf} (e.g. ${option} ${options})`,
    );
  }
  const perImage = activationsPerPixel * size * size * BYTES_PER_ACTIVATION;
  const images = Math.min(batchSize, microBatch ?? batchSize);
  const estimate = perImage * images;
  if (estimate > MEMORY_SHARE * memoryBytes) {
    const fits = Math.floor((MEMORY_SHARE * memoryBytes) / perImage);
    const batch = images < batchSize ? `--batch ${batchSize} in micro-batches of ${images}` : `--batch ${batchSize}`;
    throw new ConfigError(
      `${option} ${size} with ${batch} would need about ${(estimate / GiB).toFixed(estimate < 10 * GiB ? 1 : 0)} GiB for one training step of ${name} ` +
        `(estimated from its activations), more than this machine's ${(memoryBytes / GiB).toFixed(1)} GiB allow; ` +
        (fits >= 1
          ? `${fits} image${fits === 1 ? '' : 's'} at a time fit: use --micro-batch ${fits} (the same update, in micro-batches) or a smaller --batch or ${option}`
          : `not even one image fits: use a smaller ${option}`),
    );
  }
  // The size is a multiple of the stride and within memory: trace it once to be sure every layer
  // accepts it (shapes only), and name the option if one does not.
  try {
    traceForward(model, [1, model.defaultInputSize[0], size, size]);
  } catch (err) {
    if (err instanceof ShapeError || err instanceof ConfigError) throw new ConfigError(`${option} ${size} does not fit ${name}: ${err.message}`);
    throw err;
  }
}

/** Elements one input batch may have: the longest typed array V8 reliably allocates. */
const MAX_INPUT_ELEMENTS = 2 ** 31;

/**
 * Throw a ConfigError naming `--size` and `--batch` when an inference batch of `batchSize` images
 * of `size`² cannot run on `model` within `memoryBytes`: the input itself, the activations alive at
 * once (per pixel, from a trace at a probe size) and the weights (held by us and by ONNX Runtime).
 * Then the size is traced once, so that a layer refusing it is named too. Nothing is allocated.
 */
export function checkInferenceInputSize(
  model: VisionModel,
  size: number,
  batchSize: number,
  memoryBytes: number,
  options: { size?: string; batch?: string } = {},
): void {
  const sizeOpt = options.size ?? '--size';
  const batchOpt = options.batch ?? '--batch';
  const name = model.name || model.family;
  if (!Number.isSafeInteger(size) || size < 1) throw new ConfigError(`${sizeOpt} must be a positive integer (got ${size})`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new ConfigError(`${batchOpt} must be a positive integer (got ${batchSize})`);
  const channels = model.defaultInputSize[0];
  const inputElements = batchSize * channels * size * size;
  if (inputElements > MAX_INPUT_ELEMENTS)
    throw new ConfigError(
      `${sizeOpt} ${size} with ${batchOpt} ${batchSize} makes an input of ${batchSize}×${channels}×${size}×${size} = ${inputElements.toExponential(2)} values, ` +
        `more than one array can hold (${MAX_INPUT_ELEMENTS.toExponential(2)}); use a smaller ${sizeOpt} or ${batchOpt}`,
    );
  const { peakActivationsPerPixel } = inputSizeRule(model);
  const estimate = 4 * (inputElements + peakActivationsPerPixel * size * size * batchSize + 2 * countElements(model));
  if (estimate > MEMORY_SHARE * memoryBytes)
    throw new ConfigError(
      `${sizeOpt} ${size} with ${batchOpt} ${batchSize} would need about ${(estimate / GiB).toFixed(estimate < 10 * GiB ? 1 : 0)} GiB to run ${name} ` +
        `(its input, the activations alive at once and its weights), more than this machine's ${(memoryBytes / GiB).toFixed(1)} GiB allow; use a smaller ${sizeOpt} or ${batchOpt}`,
    );
  try {
    traceForward(model, [1, channels, size, size]);
  } catch (err) {
    if (err instanceof ShapeError || err instanceof ConfigError) throw new ConfigError(`${sizeOpt} ${size} does not fit ${name}: ${err.message}`);
    throw err;
  }
}
