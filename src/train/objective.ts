/**
 * Objectives: what training minimises. An objective reads a model's named traced outputs (and the
 * targets it declares as graph inputs), returns a scalar loss and per-batch metrics, and declares the
 * random inputs it needs (drawn from the run's seeded generator). `buildLossGraph` is the one place
 * that turns model + objective into a loss-and-gradients graph: the compiled train step and
 * `lossAndGrads` both start from it.
 */
import { ConfigError } from '../errors.js';
import { gradients } from '../graph/autodiff.js';
import { withGraph, type Graph, type RandomDraw, type Shape, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import type { ObjectiveRef, TracedOutputs, VisionModel } from '../models/base.js';
import { traceModel } from '../models/trace.js';
import type { DType, Tensor } from '../tensor.js';

/** What an objective sees while its graph is built. */
export interface ObjectiveContext {
  readonly graph: Graph;
  /** The model's input batch [N, C, H, W] (FCMAE's reconstruction target is made from it). */
  readonly input: Value;
  /** Every named output of the traced model. */
  readonly outputs: TracedOutputs;
  readonly batchSize: number;
  /** Declare a target input, fed from the batch's targets at every step (graph input `target.<name>`). */
  target(name: string, shape: Shape, dtype?: DType): Value;
  /** Declare a random input, drawn at every step from the run's seeded generator. */
  random(name: string, shape: Shape, draw: RandomDraw, dtype?: DType): Value;
}

/** An objective built into one graph: its loss, its metrics and how to feed its targets. */
export interface BuiltObjective<T> {
  /** Scalar loss (a batch mean). */
  loss: Value;
  /** Scalar metrics, batch means (cross-entropy: `acc`). */
  metrics: Record<string, Value>;
  /** Feeds for the declared target inputs, from one batch's targets; throws a ConfigError on bad targets. */
  feed(targets: T): Record<string, Tensor>;
}

export interface Objective<T = unknown> extends ObjectiveRef {
  /** Identifies the objective and its options in compile caches ('cross_entropy(smoothing=0.1)'). */
  readonly name: string;
  /** Named model outputs the loss reads (they are traced and kept). */
  readonly reads: readonly string[];
  build(ctx: ObjectiveContext): BuiltObjective<T>;
}

/** A model + objective as one graph: forward, loss, metrics and the gradient of every parameter. */
export interface LossGraph<T> {
  graph: Graph;
  loss: Value;
  metrics: Record<string, Value>;
  /** Parameter keys in gradient order (the parameters the forward pass uses). */
  paramKeys: string[];
  params: Value[];
  /** dloss/dparam, zeros for parameters the loss does not reach. */
  grads: Value[];
  /** Buffers the train-mode forward updates (BatchNorm running statistics), with their new values. */
  bufferUpdates: Map<string, Value>;
  /** Every named output of the traced model. */
  outputs: TracedOutputs;
  feed(targets: T): Record<string, Tensor>;
}

/**
 * Trace `model` (in its current train/eval mode) on a batch of `inputShape`, build `objective` on
 * its outputs and differentiate the loss with respect to every parameter (parameters are then graph
 * inputs; without gradients they are initializers, as in inference graphs).
 */
export function buildLossGraph<T>(
  model: VisionModel,
  objective: Objective<T>,
  inputShape: readonly number[],
  o: { withGradients?: boolean; frozen?: ReadonlySet<string>; variant?: string; nchwcBlock?: number } = {},
): LossGraph<T> {
  const withGradients = o.withGradients ?? true;
  const { graph, outputs } = traceModel(model, inputShape, { outputs: objective.reads, paramsAsInputs: withGradients, unmarked: true, variant: o.variant });
  // The backward is built for the kernels the graph will be emitted for (Graph.nchwcBlock).
  graph.nchwcBlock = o.nchwcBlock ?? 0;
  for (const name of objective.reads)
    if (!outputs[name]) throw new ConfigError(`objective ${objective.name} reads output '${name}', which ${model.name || model.family} does not have (its outputs: ${model.outputNames.join(', ')})`);
  const named = new Map(model.namedParameters());
  const bound = graph.parameterValues();
  const paramKeys = [...named.keys()].filter((k) => bound.has(k));
  const params = paramKeys.map((k) => bound.get(k)!);
  return withGraph(graph, () => {
    const ctx: ObjectiveContext = {
      graph,
      input: graph.inputs.find((v) => v.name === 'input')!,
      outputs,
      batchSize: inputShape[0]!,
      target: (name, shape, dtype = 'float32') => graph.input(`target.${name}`, shape, dtype),
      random: (name, shape, draw, dtype) => graph.randomInput(`random.${name}`, shape, draw, dtype),
    };
    // Scoped, so that profiles tell the loss's kernels (and, under `grad(loss)`, its backward) apart.
    const built = graph.inScope('loss', () => objective.build(ctx));
    if (built.loss.rank !== 0) throw new ConfigError(`objective ${objective.name}: the loss must be a scalar, got ${built.loss}`);
    // Frozen parameters (fine-tuning the classifier only) get no backward pass: zero gradients.
    const wanted = paramKeys.map((k) => !o.frozen?.has(k));
    const computed = withGradients ? gradients(built.loss, params.filter((_, i) => wanted[i])) : [];
    let next = 0;
    const grads = withGradients ? params.map((p, i) => (wanted[i] ? computed[next++] : undefined) ?? F.zerosLike(p)) : [];
    return { graph, loss: built.loss, metrics: built.metrics, paramKeys, params, grads, bufferUpdates: graph.bufferUpdates, feed: built.feed, outputs };
  });
}
