/** Trace a model's forward pass into a Graph. */
import { ShapeError } from '../errors.js';
import { Graph, withGraph } from '../graph/graph.js';
import type { VisionModel } from './base.js';

export interface TraceOptions {
  features?: boolean;
  /** Parameters as graph inputs (training) rather than initializers (inference). */
  paramsAsInputs?: boolean;
}

export function checkInputShape(model: VisionModel, shape: readonly number[]): void {
  const c = model.defaultInputSize[0];
  if (shape.length !== 4 || shape[1] !== c || shape.some((d) => !Number.isInteger(d) || d <= 0))
    throw new ShapeError(`${model.name}: input must be [N, ${c}, H, W] float32, got [${shape.join(',')}]`);
}

/** Forward graph: input 'input' → outputs 'logits' (+ 'features.i'). */
export function traceForward(model: VisionModel, shape: readonly number[], opts: TraceOptions = {}): Graph {
  checkInputShape(model, shape);
  model.namedParameters();
  const g = new Graph(model.name || model.family);
  g.paramsAsInputs = opts.paramsAsInputs ?? false;
  withGraph(g, () => {
    const x = g.input('input', shape);
    const out = model.forwardTraced(x);
    g.markOutput(out.logits, 'logits');
    if (opts.features) out.features.forEach((f, i) => g.markOutput(f, `features.${i}`));
  });
  return g;
}

