/** Trace a model's forward pass into a Graph, with the requested named outputs marked. */
import { ConfigError, ShapeError } from '../errors.js';
import { Graph, withGraph, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import type { Tensor } from '../tensor.js';
import type { OutputTree, TensorTree, TracedOutputs, VisionModel } from './base.js';

export interface TraceOptions {
  /** Named outputs to mark as graph outputs besides `logits` (default: none). */
  outputs?: readonly string[];
  /** Mark `logits` (default true). Without it, ONNX emission drops the head. */
  logits?: boolean;
  /** Of the `features` output, mark only these stages: the stages after the last one are dropped. */
  featureIndices?: readonly number[];
  /** Parameters as graph inputs (training) rather than initializers (inference). */
  paramsAsInputs?: boolean;
  /** Trace without marking any output (the caller builds on the traced values). */
  unmarked?: boolean;
  /** The model's formulation to trace (`ForwardOptions.variant`). */
  variant?: string;
}

/** Where each requested output went: the tree's shape with graph output names at the leaves. */
export type OutputLayout = string | OutputLayout[] | { [name: string]: OutputLayout };

export interface TracedModel {
  graph: Graph;
  /** Every named output of the forward pass (marked or not). */
  outputs: TracedOutputs;
  /** The marked outputs, by name. */
  layout: { [name: string]: OutputLayout };
}

export function checkInputShape(model: VisionModel, shape: readonly number[]): void {
  const c = model.defaultInputSize[0];
  if (shape.length !== 4 || shape[1] !== c || shape.some((d) => !Number.isInteger(d) || d <= 0))
    throw new ShapeError(`${model.name || model.family}: input must be [N, ${c}, H, W] float32, got [${shape.join(',')}]`);
  model.checkInputSize([shape[1]!, shape[2]!, shape[3]!]);
}

/** Reject output names the model does not have (a typo in a run option must not pass silently). */
export function checkOutputNames(model: VisionModel, names: readonly string[]): void {
  for (const n of names)
    if (!model.outputNames.includes(n))
      throw new ConfigError(`${model.name || model.family} has no output '${n}' (its outputs: ${model.outputNames.join(', ')})`);
}

/** Mark every value of `tree` as a graph output named by its path (`features.0`, `slots.<block>.assign`). */
export function markOutputTree(g: Graph, tree: OutputTree, name: string): OutputLayout {
  if (Array.isArray(tree)) return tree.map((t, i) => markOutputTree(g, t, `${name}.${i}`));
  if (isValue(tree)) {
    // A value can be one graph output only, and a graph input (a random mask returned as an output)
    // cannot be an output under another name: both get an Identity copy.
    const copy = g.outputNames.has(tree) || (!tree.producer && g.inputs.includes(tree));
    g.markOutput(copy ? withGraph(g, () => F.identity(tree)) : tree, name);
    return name;
  }
  const out: { [k: string]: OutputLayout } = {};
  for (const [k, t] of Object.entries(tree as Record<string, OutputTree>)) out[k] = markOutputTree(g, t, `${name}.${k}`);
  return out;
}

function isValue(t: OutputTree): t is Value {
  return typeof (t as Value).id === 'number' && Array.isArray((t as Value).shape);
}

/** Rebuild the concrete output tree from a session's results. */
export function collectOutputs(layout: OutputLayout, results: Record<string, Tensor>): TensorTree {
  if (typeof layout === 'string') return results[layout]!;
  if (Array.isArray(layout)) return layout.map((l) => collectOutputs(l, results));
  const out: { [k: string]: TensorTree } = {};
  for (const [k, l] of Object.entries(layout)) out[k] = collectOutputs(l, results);
  return out;
}

/** Trace `model` on an input of `shape`; input 'input', the requested outputs marked under their names. */
export function traceModel(model: VisionModel, shape: readonly number[], opts: TraceOptions = {}): TracedModel {
  checkInputShape(model, shape);
  const logits = opts.logits ?? model.outputNames.includes('logits');
  const wanted = [...(logits ? ['logits'] : []), ...(opts.outputs ?? []).filter((n) => n !== 'logits')];
  checkOutputNames(model, wanted);
  if (opts.unmarked) wanted.length = 0;
  else if (wanted.length === 0) throw new ConfigError(`${model.name || model.family}: nothing to compute (no output asked for)`);
  model.bindKeys();
  const g = new Graph(model.name || model.family);
  g.paramsAsInputs = opts.paramsAsInputs ?? false;
  const layout: { [name: string]: OutputLayout } = {};
  const outputs = withGraph(g, () => {
    const x = g.input('input', shape);
    const all = model.forwardTraced(x, opts.variant ? { variant: opts.variant } : {});
    for (const name of wanted) {
      if (name === 'features' && opts.featureIndices) {
        const n = all.features.length;
        for (const i of opts.featureIndices)
          if (!(Number.isInteger(i) && i >= 0 && i < n)) throw new ConfigError(`${model.name || model.family}: feature index ${i} is out of range (${n} stages: 0…${n - 1})`);
        layout.features = opts.featureIndices.map((i) => markOutputTree(g, all.features[i]!, `features.${i}`));
      } else {
        const out = all[name];
        if (!out) throw new ConfigError(`${model.name || model.family}: output '${name}' was not computed by this model's forward pass`);
        layout[name] = markOutputTree(g, out, name);
      }
    }
    return all;
  });
  return { graph: g, outputs, layout };
}

/** Forward graph: input 'input' → outputs 'logits' (+ 'features.i'; only those for models without logits). */
export function traceForward(model: VisionModel, shape: readonly number[], opts: { features?: boolean; paramsAsInputs?: boolean } = {}): Graph {
  // A model without a classifier (FCMAE) is traced up to its feature maps.
  const features = opts.features || !model.outputNames.includes('logits');
  return traceModel(model, shape, { outputs: features ? ['features'] : [], paramsAsInputs: opts.paramsAsInputs }).graph;
}

/**
 * Trace a model's head alone on a final feature map of `shape` ([N, numFeatures, H, W]): input
 * 'input', output 'logits' (the pooled features with `preLogits`).
 */
export function traceHead(model: VisionModel, shape: readonly number[], opts: { preLogits?: boolean; paramsAsInputs?: boolean } = {}): Graph {
  const name = model.name || model.family;
  if (!model.outputNames.includes('final')) throw new ConfigError(`${name} has no classifier head to run on its own (forwardHead)`);
  const c = model.numFeatures;
  if (shape.length !== 4 || shape[1] !== c || shape.some((d) => !Number.isInteger(d) || d <= 0))
    throw new ShapeError(`${name}.forwardHead: features must be the final map [N, ${c}, H, W] (forwardFeatures' output), got [${shape.join(',')}]`);
  model.bindKeys();
  const g = new Graph(`${name} head`);
  g.paramsAsInputs = opts.paramsAsInputs ?? false;
  withGraph(g, () => {
    const out = model.forwardHeadTraced(g.input('input', shape), { preLogits: opts.preLogits ?? false });
    markOutputTree(g, out, 'logits');
  });
  return g;
}
