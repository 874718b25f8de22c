/**
 * The Node execution backend for models: traces a model per (input shape, outputs, mode), compiles
 * it with ONNX Runtime once, and runs it. Inference graphs carry weights as initializers (ORT can
 * pre-pack them); gradient graphs take parameters as inputs.
 */
import { ShapeError } from '../errors.js';
import { toModelProto } from '../graph/emit.js';
import type { Graph } from '../graph/graph.js';
import { readWeightsSource } from '../io/weights_source.js';
import type { LossAndGrads, ModelBackend, RunOptions, RunOutput, VisionModel } from '../models/base.js';
import { defaultThreads } from '../runtime/machine.js';
import { Session, SessionCache } from '../runtime/session.js';
import { Tensor } from '../tensor.js';
import { Rng } from '../util/rng.js';
import { smoothedTargets } from '../train/losses.js';
import { drawRandomInputs } from '../train/step.js';
import { traceForward, traceLossAndGrads } from './trace.js';

const caches = new WeakMap<VisionModel, SessionCache>();
/**
 * Traced graphs by the same keys as the sessions: gradient graphs list the parameters to feed and
 * train-mode graphs the random inputs to draw, on every call — tracing again would cost more.
 */
const traced = new WeakMap<VisionModel, Map<string, Graph>>();
const dropRng = new Rng(12345);

function cacheOf(model: VisionModel): SessionCache {
  let c = caches.get(model);
  if (!c) {
    c = new SessionCache(4);
    caches.set(model, c);
  }
  return c;
}

function tracedGraph(model: VisionModel, key: string, trace: () => Graph): Graph {
  let m = traced.get(model);
  if (!m) traced.set(model, (m = new Map()));
  let g = m.get(key);
  if (!g) m.set(key, (g = trace()));
  return g;
}

function checkFloatInput(model: VisionModel, x: Tensor): void {
  if (x.dtype !== 'float32') throw new ShapeError(`${model.name}: input must be float32, got ${x.dtype}`);
}

export const nodeBackend: ModelBackend = {
  async run(model: VisionModel, x: Tensor, opts: RunOptions): Promise<RunOutput> {
    checkFloatInput(model, x);
    const threads = opts.threads ?? defaultThreads();
    const key = `run|${x.shape.join('x')}|f${opts.features ? 1 : 0}|t${model.training ? 1 : 0}|th${threads}|w${model.weightsVersion}`;
    const graph = tracedGraph(model, key, () => traceForward(model, x.shape, { features: opts.features }));
    const session = await cacheOf(model).get(key, async () =>
      Session.create(toModelProto(graph), { threads, label: `${model.name} forward` }),
    );
    const feeds: Record<string, Tensor> = { input: x, ...drawRandomInputs(graph, dropRng) };
    const out = await session.run(feeds);
    const features: Tensor[] = [];
    for (let i = 0; `features.${i}` in out; i++) features.push(out[`features.${i}`]!);
    return { logits: out.logits!, features };
  },

  async lossAndGrads(model: VisionModel, x: Tensor, labels: Int32Array | number[]): Promise<LossAndGrads> {
    checkFloatInput(model, x);
    const n = x.shape[0]!;
    if (labels.length !== n) throw new ShapeError(`${model.name}: ${labels.length} labels for a batch of ${n}`);
    const k = model.numClasses;
    const targets = smoothedTargets(labels, k, 0);
    const key = `grad|${x.shape.join('x')}|t${model.training ? 1 : 0}`;
    const graph = tracedGraph(model, key, () => traceLossAndGrads(model, x.shape));
    const session = await cacheOf(model).get(key, () =>
      Session.create(toModelProto(graph), { threads: defaultThreads(), label: `${model.name} loss+grad` }),
    );
    const feeds: Record<string, Tensor> = { input: x, targets: new Tensor(targets, [n, k], 'float32') };
    const sd = model.stateDict();
    for (const name of graph.parameterValues().keys()) feeds[name] = sd[name]!;
    Object.assign(feeds, drawRandomInputs(graph, dropRng));
    const out = await session.run(feeds);
    const grads: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(out)) if (name.startsWith('grad.')) grads[name.slice(5)] = t;
    return { loss: out.loss!.toArray()[0]!, grads };
  },

  readWeights: readWeightsSource,

  invalidate(model: VisionModel): void {
    const c = caches.get(model);
    if (c) {
      caches.delete(model);
      void c.clear();
    }
    traced.delete(model);
  },
};
