/** Trace a model into a Graph: eval graphs (weights as constants) and loss/gradient graphs. */
import { gradients } from '../graph/autodiff.js';
import { withGraph, type Graph } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { softTargetCrossEntropy } from '../train/losses.js';
import type { VisionModel } from '../models/base.js';
import { traceForward } from '../models/trace.js';

export { traceForward };

/** Loss graph with gradients: inputs 'input', 'targets' (one-hot/soft), params; outputs 'loss', 'logits', 'grad.<key>'. */
export function traceLossAndGrads(model: VisionModel, shape: readonly number[]): Graph {
  const g = traceForward(model, shape, { paramsAsInputs: true });
  const params = g.parameterValues();
  withGraph(g, () => {
    const logits = g.outputs[0]!;
    const targets = g.input('targets', logits.shape);
    const loss = softTargetCrossEntropy(logits, targets);
    g.markOutput(loss, 'loss');
    const keys = [...params.keys()];
    const grads = gradients(loss, keys.map((k) => params.get(k)!));
    keys.forEach((k, i) => g.markOutput(grads[i] ?? F.zerosLike(params.get(k)!), `grad.${k}`));
  });
  return g;
}
