/**
 * `visionmix analyze feature-distance`: ConvNeXt V2's feature-collapse analysis — per layer (block
 * output), the mean pairwise cosine distance between channel maps, averaged over images — for one
 * or several checkpoints of the same architecture, as JSON and an SVG plot (layer vs distance, one
 * line per checkpoint).
 */
import { meanPairwiseCosineDistance } from '../analysis/feature_distance.js';
import { lineChart } from '../analysis/svg.js';
import { makeBatch, type ImageDataset } from '../data/transforms.js';
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import type { VisionModel } from '../models/base.js';
import type { ModelSpec, RawConfig } from '../models/registry.js';
import type { Tensor } from '../tensor.js';
import type { Objective } from '../train/objective.js';
import type { Engine } from './engine.js';

/** Scores every block output of a batch; the "loss" is their mean (only the metrics matter). */
const featureDistance: Objective<null> = {
  name: 'feature_distance',
  reads: ['blocks'],
  build(ctx) {
    const per = (ctx.outputs.blocks as Value[]).map((b) => F.reduceMean(meanPairwiseCosineDistance(b)));
    const metrics: Record<string, Value> = {};
    per.forEach((d, i) => (metrics[`layer.${i}`] = d));
    return { loss: F.reduceMean(F.concat(per.map((d) => F.reshape(d, [1])), 0)), metrics, feed: () => ({}) };
  },
};

export interface Checkpoint {
  label: string;
  /** A weights file / hf: reference, a state dict, or 'random' (the initialisation, seeded). */
  weights: string | Map<string, Tensor>;
}

export interface FeatureDistanceOptions {
  model: ModelSpec;
  overrides?: RawConfig;
  checkpoints: readonly Checkpoint[];
  data: ImageDataset;
  /** Images to average over (the first ones of the set). */
  images?: number;
  inputSize: number;
  batch?: number;
  onProgress?: (checkpoint: string, done: number, total: number) => void;
}

export interface FeatureDistanceResult {
  layers: number;
  images: number;
  /** Per checkpoint: mean distance per layer. */
  curves: { label: string; distances: number[] }[];
}

/**
 * FCMAE checkpoints hold the encoder under `encoder.` (with the decoder beside it): their encoder,
 * under a classifier's names, is what the analysis runs (the classifier head is not used).
 */
function encoderWeights(sd: Map<string, Tensor>): Map<string, Tensor> {
  if (![...sd.keys()].some((k) => k.startsWith('encoder.'))) return sd;
  return new Map([...sd].filter(([k]) => k.startsWith('encoder.')).map(([k, t]) => [k.slice(8), t] as const));
}

async function withWeights(engine: Engine, o: FeatureDistanceOptions, c: Checkpoint): Promise<VisionModel> {
  const m = engine.createModel(o.model, o.overrides);
  if (!m.outputNames.includes('blocks')) throw new ConfigError(`feature distance needs per-block outputs; ${m.name || m.family} does not provide them`);
  if (c.weights !== 'random') {
    const raw = typeof c.weights === 'string' ? await engine.readWeights(c.weights) : c.weights;
    // Everything but the head must match; the head keeps its initialisation (it does not enter the
    // measure): encoder-only weights have none, a classifier trained for other classes has another.
    await m.loadWeights(encoderWeights(m.adaptStateDict(raw)), { backboneOnly: true });
  }
  m.eval();
  return m;
}

export async function featureDistances(engine: Engine, o: FeatureDistanceOptions): Promise<FeatureDistanceResult> {
  const count = Math.min(o.images ?? 1000, o.data.count);
  const batch = o.batch ?? 50;
  if (!(count >= 1)) throw new ConfigError('--images must be at least 1');
  const curves: FeatureDistanceResult['curves'] = [];
  for (const c of o.checkpoints) {
    const m = await withWeights(engine, o, c);
    const sums: number[] = [];
    for (let start = 0; start < count; start += batch) {
      const idx = Array.from({ length: Math.min(batch, count - start) }, (_, i) => start + i);
      const b = makeBatch(o.data, idx, { size: o.inputSize, train: false, channels: m.defaultInputSize[0] });
      const r = await engine.evaluate(m, b.x as Tensor, null, { objective: featureDistance });
      Object.entries(r.metrics).forEach(([k, v]) => {
        const i = Number(k.slice('layer.'.length));
        sums[i] = (sums[i] ?? 0) + v * idx.length;
      });
      o.onProgress?.(c.label, start + idx.length, count);
    }
    curves.push({ label: c.label, distances: sums.map((s) => s / count) });
  }
  return { layers: curves[0]?.distances.length ?? 0, images: count, curves };
}

/** Layer index vs mean distance, one line per checkpoint. */
export function featureDistancePlot(r: FeatureDistanceResult, title = 'Feature cosine distance per layer'): string {
  return lineChart({
    title,
    xLabel: 'layer (block index)',
    yLabel: 'mean pairwise cosine distance',
    // From 0, as the paper plots it: a zoomed axis makes a 2% difference look like a collapse.
    yFromZero: true,
    integerX: true,
    series: r.curves.map((c) => ({ name: c.label, points: c.distances.map((d, i) => [i, d] as const), markers: true })),
  });
}
