/**
 * `visionmix analyze slots`: run a GLNet on one image and draw, for chosen GLMix blocks, how the
 * pixels are assigned to the block's slots (analysis/slot_maps.ts), written as a PNG.
 */
import { inputToRgb, renderSlotMaps, type SlotMapPanel } from '../analysis/slot_maps.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD } from '../data/fashion_mnist.js';
import { ConfigError } from '../errors.js';
import { decodeImage } from '../io/image.js';
import { writePng } from '../io/png.js';
import type { VisionModel } from '../models/base.js';
import type { PretrainedConfig } from '../models/pretrained.js';
import { IMAGENET_MEAN, IMAGENET_STD, type ModelSpec, type RawConfig } from '../models/registry.js';
import { Tensor } from '../tensor.js';
import { loadPretrainedInput, runClassifier } from './classify.js';
import type { Engine } from './engine.js';

export interface SlotAnalysisOptions {
  image: string;
  out: string;
  /** A finished `visionmix train` run folder (its model, weights and input transform)… */
  run?: string;
  /** …or a model (registry name, weight tag or `{ family, ...config }`) with optional weights. */
  model?: ModelSpec;
  /** Config overrides of a registry model. */
  modelOverrides?: RawConfig;
  weights?: string;
  /**
   * GLMix blocks to draw: numbers counted from 1 over the model's GLMix blocks in order (as the
   * paper's figure numbers them), or module paths ('stages.0.blocks.1'). Default: the last GLMix
   * block of every stage that has one.
   */
  blocks?: readonly (number | string)[];
  /** Input side for a model without a pretrained config (default: the model's default input size). */
  size?: number;
  /** Longer side of one mosaic tile in pixels. */
  tile?: number;
}

export interface SlotAnalysisResult {
  out: string;
  width: number;
  height: number;
  blocks: { path: string; number: number; height: number; width: number; slots: number }[];
  /** True when no weights were loaded (random initialisation: the maps show no learned grouping). */
  randomWeights: boolean;
  /** The model's top class for the image, when it has class names. */
  prediction?: { label: string; prob: number };
}

interface Prepared {
  model: VisionModel;
  x: Tensor;
  mean: readonly number[];
  std: readonly number[];
  classes: readonly string[] | null;
}

async function prepare(engine: Engine, o: SlotAnalysisOptions): Promise<Prepared> {
  if (o.run) {
    if (o.model || o.weights) throw new ConfigError('give either --run DIR or --model (with --weights), not both');
    const clf = await runClassifier(engine, o.run);
    const [c, h, w] = clf.inputShape;
    return { model: clf.model, x: new Tensor(await clf.load(o.image), [1, c, h, w], 'float32'), mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD], classes: FASHION_MNIST_CLASSES };
  }
  if (!o.model) throw new ConfigError('give --run DIR (a training run) or --model NAME (with --weights FILE)');
  const model = engine.createModel(o.model, o.modelOverrides);
  if (o.weights) await model.loadWeights(o.weights);
  model.eval();
  const [c, defH] = model.defaultInputSize;
  const size = o.size ?? model.pretrainedConfig?.inputSize[1] ?? defH;
  if (c === 1) {
    // A grey-scale model (e.g. a Fashion-MNIST config): the image squashed to the input size.
    const img = await decodeImage(o.image, 1, { resizeTo: size });
    const x = Float32Array.from(img.data, (v) => (v / 255 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD);
    return { model, x: new Tensor(x, [1, 1, size, size], 'float32'), mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD], classes: null };
  }
  const pc: Pick<PretrainedConfig, 'inputSize' | 'cropPct' | 'interpolation' | 'mean' | 'std'> = {
    cropPct: 0.875,
    interpolation: 'bicubic',
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    ...model.pretrainedConfig,
    inputSize: [3, size, size],
  };
  return { model, x: new Tensor(await loadPretrainedInput(o.image, pc), [1, 3, size, size], 'float32'), mean: pc.mean, std: pc.std, classes: null };
}

/** The requested blocks as module paths, validated against the model's GLMix blocks. */
export function chooseBlocks(all: readonly string[], wanted?: readonly (number | string)[]): string[] {
  if (all.length === 0) throw new ConfigError('this model has no GLMix blocks (no stage uses mixing mode glmix), so it has no slot maps');
  if (!wanted || wanted.length === 0) {
    const lastPerStage = new Map<string, string>();
    for (const p of all) lastPerStage.set(p.split('.blocks.')[0]!, p);
    return [...lastPerStage.values()];
  }
  return wanted.map((b) => {
    const n = typeof b === 'number' ? b : /^\d+$/.test(b) ? Number(b) : NaN;
    if (Number.isInteger(n)) {
      if (n < 1 || n > all.length) throw new ConfigError(`--blocks: GLMix block ${n} does not exist; this model has GLMix blocks 1 … ${all.length}`);
      return all[n - 1]!;
    }
    if (!all.includes(String(b))) throw new ConfigError(`--blocks: '${b}' is not a GLMix block; GLMix blocks are ${all.map((p, i) => `${i + 1} = ${p}`).join(', ')}`);
    return String(b);
  });
}

export async function analyzeSlots(engine: Engine, o: SlotAnalysisOptions): Promise<SlotAnalysisResult> {
  const { model, x, mean, std, classes } = await prepare(engine, o);
  // Any model with slot-assignment maps (a named output 'slots', one record per block, in forward order).
  if (!model.outputNames.includes('slots'))
    throw new ConfigError(`${model.name || model.family} has no slot-assignment maps (no 'slots' output: GLNet's GLMix blocks have them)`);
  const out = await model.run(x, { slots: true });
  const maps = out.slots as Record<string, { assign: Tensor }>;
  const all = Object.keys(maps);
  const chosen = chooseBlocks(all, o.blocks);

  const [, c, h, w] = x.shape as [number, number, number, number];
  const image = inputToRgb(x.data as Float32Array, c, h, w, mean, std);
  const blocks = chosen.map((path) => {
    const [, slots, mh, mw] = maps[path]!.assign.shape as [number, number, number, number];
    return { path, number: all.indexOf(path) + 1, height: mh, width: mw, slots };
  });
  const panels: SlotMapPanel[] = blocks.map((b) => ({
    title: `${b.path} · GLMix block ${b.number} of ${all.length} · ${b.height}×${b.width} map · ${b.slots} slots`,
    assign: maps[b.path]!.assign.data as Float32Array,
    slots: b.slots,
    height: b.height,
    width: b.width,
  }));

  const prediction = classes ? topClass(out.logits.data as Float32Array, classes) : undefined;
  const randomWeights = !o.run && !o.weights;
  const fileName = o.image.split(/[\\/]/).pop();
  const heading = [
    model.name || model.family,
    fileName,
    prediction ? `predicted ${prediction.label} ${(prediction.prob * 100).toFixed(0)}%` : '',
    randomWeights ? 'random weights' : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const img = renderSlotMaps(image, panels, { tile: o.tile, heading });
  await writePng(o.out, img);
  return { out: o.out, width: img.width, height: img.height, blocks, randomWeights, prediction };
}

function topClass(logits: Float32Array, classes: readonly string[]): { label: string; prob: number } {
  const max = Math.max(...logits);
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const best = e.indexOf(Math.max(...e));
  return { label: classes[best] ?? `class ${best}`, prob: e[best]! / sum };
}
