/**
 * The compiled train step: one ONNX graph computing forward, loss, backward (our autodiff), gradient
 * clipping, the optimizer update and the EMA update. Compiled once per batch shape; parameters and
 * optimizer state go in as inputs and come back as outputs (ORT's Node API has no IO binding).
 */
import { ConfigError } from '../errors.js';
import { gradients } from '../graph/autodiff.js';
import { toModelProto } from '../graph/emit.js';
import { withGraph, type Graph, type Value } from '../graph/graph.js';
import * as F from '../graph/ops.js';
import type { VisionModel } from '../models/base.js';
import { traceForward } from '../models/trace.js';
import type { Session } from '../runtime/session.js';
import { Tensor } from '../tensor.js';
import type { Rng } from '../util/rng.js';
import { correctCount, softTargetCrossEntropy } from './losses.js';
import type { Optimizer } from './optim.js';

export interface TrainStepOptions {
  optimizer: Optimizer;
  /** [B, C, H, W] of every training batch. */
  batchShape: number[];
  /** Clip gradients to this global L2 norm (0 or undefined: off). */
  clipGradNorm?: number;
  /** Keep an exponential moving average of the weights with this decay. */
  emaDecay?: number;
  /** Apply weight decay to every parameter (torch's single param group), not only rank ≥ 2. */
  decayAll?: boolean;
  /** Layer-wise lr scale per parameter key (default 1). */
  lrScales?: Map<string, number>;
}

/** Everything a checkpoint needs to continue the optimisation exactly. */
export interface TrainState {
  step: number;
  params: Map<string, Tensor>;
  buffers: Map<string, Tensor>;
  /** `<state name>.<param key>` → tensor. */
  optimizer: Map<string, Tensor>;
  ema: Map<string, Tensor>;
}

export interface StepResult {
  loss: number;
  correct: number;
  gradNorm: number;
}

/** Builds the train-step graph for a model (in train mode). */
export function buildTrainGraph(model: VisionModel, o: TrainStepOptions): { graph: Graph; paramKeys: string[]; bufferKeys: string[] } {
  if (!model.training) throw new ConfigError('buildTrainGraph: call model.train() first');
  const graph = traceForward(model, o.batchShape, { paramsAsInputs: true });
  const named = new Map(model.namedParameters());
  const boundParams = graph.parameterValues();
  const paramKeys = [...named.keys()].filter((k) => boundParams.has(k));
  const bufferKeys = [...graph.bufferUpdates.keys()];
  withGraph(graph, () => {
    const logits = graph.outputs[0]!;
    const n = o.batchShape[0]!;
    const k = logits.shape[1]!;
    const targets = graph.input('targets', [n, k]);
    const labels = graph.input('labels', [n], 'int64');
    const lr = graph.input('lr', []);
    const bc1 = graph.input('bc1', []);
    const bc2 = graph.input('bc2', []);
    const loss = softTargetCrossEntropy(logits, targets);
    graph.markOutput(loss, 'loss');
    graph.markOutput(correctCount(logits, labels), 'correct');

    const params = paramKeys.map((key) => boundParams.get(key)!);
    let grads = gradients(loss, params).map((g, i) => g ?? F.zerosLike(params[i]!));
    const sq = grads.map((g) => F.reduceSumSquare(g, undefined, false));
    const gradNorm = F.sqrt(sq.reduce((a, b) => F.add(a, b)));
    graph.markOutput(gradNorm, 'grad_norm');
    if (o.clipGradNorm && o.clipGradNorm > 0) {
      // torch.nn.utils.clip_grad_norm_: scale by min(1, max_norm / (norm + 1e-6)).
      const coef = F.minimum(F.div(o.clipGradNorm, F.add(gradNorm, 1e-6)), 1);
      grads = grads.map((g) => F.mul(g, coef));
    }

    const emaDecay = o.emaDecay !== undefined ? graph.input('ema_decay', []) : null;
    paramKeys.forEach((key, i) => {
      const p = params[i]!;
      const state = o.optimizer.stateNames.map((s) => graph.input(`${s}.${key}`, p.shape));
      const wd = o.decayAll || !named.get(key)!.noWeightDecay ? o.optimizer.defaultWeightDecay : 0;
      const upd = o.optimizer.update(
        { param: p, grad: grads[i]!, state, weightDecay: wd, lrScale: o.lrScales?.get(key) ?? 1 },
        { lr, bc1, bc2 },
      );
      graph.markOutput(upd.param, `new.${key}`);
      upd.state.forEach((s, j) => graph.markOutput(s, `new.${o.optimizer.stateNames[j]}.${key}`));
      if (emaDecay) graph.markOutput(emaUpdate(graph.input(`ema.${key}`, p.shape), upd.param, emaDecay), `new.ema.${key}`);
    });
    for (const key of bufferKeys) {
      const nb = graph.bufferUpdates.get(key)!;
      graph.markOutput(nb, `new.${key}`);
      if (emaDecay) {
        // Integer buffers (BatchNorm's num_batches_tracked) are counters, not weights: the EMA copy
        // takes their current value, as timm's ModelEmaV3 does for non-float tensors.
        const ema = graph.input(`ema.${key}`, nb.shape, nb.dtype);
        const isFloat = nb.dtype === 'float32' || nb.dtype === 'float64' || nb.dtype === 'float16';
        graph.markOutput(isFloat ? emaUpdate(ema, nb, emaDecay) : F.identity(nb), `new.ema.${key}`);
      }
    }
  });
  return { graph, paramKeys, bufferKeys };
}

function emaUpdate(ema: Value, current: Value, decay: Value): Value {
  return F.add(F.mul(ema, decay), F.mul(current, F.sub(1, decay)));
}

/** Draw the graph's random inputs (drop-path keep masks) from the trainer's generator. */
export function drawRandomInputs(graph: Graph, rng: Rng): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const { value, spec } of graph.randomInputs) {
    const d = new Float32Array(value.size);
    for (let i = 0; i < d.length; i++) d[i] = rng.random() < spec.keepProb ? 1 / spec.keepProb : 0;
    feeds[value.name!] = new Tensor(d, value.shape, 'float32');
  }
  return feeds;
}

export class TrainStep {
  private constructor(
    readonly model: VisionModel,
    readonly options: TrainStepOptions,
    readonly graph: Graph,
    private readonly session: Session,
    readonly paramKeys: string[],
    readonly bufferKeys: string[],
    private state: TrainState,
  ) {}

  static async compile(
    model: VisionModel,
    o: TrainStepOptions,
    createSession: (bytes: Uint8Array, label: string) => Promise<Session>,
  ): Promise<TrainStep> {
    const { graph, paramKeys, bufferKeys } = buildTrainGraph(model, o);
    const session = await createSession(toModelProto(graph), `${model.name} train step`);
    const sd = model.stateDict();
    const state: TrainState = { step: 0, params: new Map(), buffers: new Map(), optimizer: new Map(), ema: new Map() };
    for (const k of paramKeys) {
      state.params.set(k, sd[k]!);
      for (const s of o.optimizer.stateNames) state.optimizer.set(`${s}.${k}`, Tensor.zeros(sd[k]!.shape));
      if (o.emaDecay !== undefined) state.ema.set(k, copy(sd[k]!));
    }
    for (const k of bufferKeys) {
      state.buffers.set(k, sd[k]!);
      if (o.emaDecay !== undefined) state.ema.set(k, copy(sd[k]!));
    }
    return new TrainStep(model, o, graph, session, paramKeys, bufferKeys, state);
  }

  get stepCount(): number {
    return this.state.step;
  }

  /** One optimisation step. On a non-finite loss nothing is updated and the loss is returned as is. */
  async step(x: Tensor, targets: Float32Array, labels: Int32Array, lr: number, rng: Rng): Promise<StepResult> {
    const st = this.state;
    const t = st.step + 1;
    const { bc1, bc2 } = this.options.optimizer.corrections(t);
    const n = this.options.batchShape[0]!;
    const feeds: Record<string, Tensor> = {
      input: x,
      targets: new Tensor(targets, [n, targets.length / n], 'float32'),
      labels: new Tensor(BigInt64Array.from(labels, (l) => BigInt(l)), [n], 'int64'),
      lr: scalar(lr),
      bc1: scalar(bc1),
      bc2: scalar(bc2),
      ...drawRandomInputs(this.graph, rng),
    };
    for (const [k, v] of st.params) feeds[k] = v;
    for (const [k, v] of st.buffers) feeds[k] = v;
    for (const [k, v] of st.optimizer) feeds[k] = v;
    if (this.options.emaDecay !== undefined) {
      feeds.ema_decay = scalar(this.options.emaDecay);
      for (const [k, v] of st.ema) feeds[`ema.${k}`] = v;
    }
    const out = await this.session.run(feeds);
    const loss = out.loss!.toArray()[0]!;
    const result = { loss, correct: out.correct!.toArray()[0]!, gradNorm: out.grad_norm!.toArray()[0]! };
    if (!Number.isFinite(loss)) return result;
    for (const k of st.params.keys()) st.params.set(k, out[`new.${k}`]!);
    for (const k of st.buffers.keys()) st.buffers.set(k, out[`new.${k}`]!);
    for (const k of st.optimizer.keys()) st.optimizer.set(k, out[`new.${k}`]!);
    for (const k of st.ema.keys()) st.ema.set(k, out[`new.ema.${k}`]!);
    st.step = t;
    return result;
  }

  /** Copy the current weights into the model (for evaluation or saving). */
  syncToModel(useEma = false): void {
    const named = new Map<string, { tensor: Tensor }>([...this.model.namedParameters(), ...this.model.namedBuffers()]);
    const src = useEma ? this.state.ema : new Map([...this.state.params, ...this.state.buffers]);
    for (const [k, v] of src) named.get(k)!.tensor = v;
    this.model.weightsChanged();
  }

  getState(): TrainState {
    return this.state;
  }

  setState(s: TrainState): void {
    const need = (m: Map<string, Tensor>, keys: Iterable<string>, what: string) => {
      for (const k of keys) if (!m.has(k)) throw new ConfigError(`train state is missing ${what} '${k}'`);
    };
    need(s.params, this.state.params.keys(), 'parameter');
    need(s.buffers, this.state.buffers.keys(), 'buffer');
    need(s.optimizer, this.state.optimizer.keys(), 'optimizer state');
    need(s.ema, this.state.ema.keys(), 'EMA tensor');
    this.state = s;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function scalar(v: number): Tensor {
  return new Tensor(Float32Array.of(v), [], 'float32');
}

function copy(t: Tensor): Tensor {
  return new Tensor((t.data as Float32Array).slice(), t.shape, t.dtype);
}
