/**
 * The compiled train step: one ONNX graph computing forward, loss, backward (our autodiff), gradient
 * clipping, the optimizer update and the EMA update. Compiled once per batch shape; parameters and
 * optimizer state go in as inputs and come back as outputs (ORT's Node API has no IO binding).
 */
import { ConfigError } from '../errors.js';
import { toModelProto, type Target } from '../graph/emit.js';
import { withGraph, type Graph, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import type { VisionModel } from '../models/base.js';
import type { Parameter } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import type { Rng } from '../util/rng.js';
import { buildLossGraph, type Objective } from './objective.js';
import type { Optimizer } from './optim.js';
import type { GraphSession, SessionFactory } from './session.js';

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
  /** Parameters that keep their values (fine-tuning the classifier only): no gradient, no optimizer state, no update. */
  frozen?: ReadonlySet<string>;
  /** The runtime the step graph is emitted for (default 'cpu'; 'webgpu' lowers wide and reversed nodes exactly). */
  target?: Target;
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
  /** The objective's metrics for this batch (batch means; cross-entropy: `acc`). */
  metrics: Record<string, number>;
  gradNorm: number;
}

/** Parameters updated together as one flat vector: same weight decay and lr scale. */
export interface ParamBucket {
  weightDecay: number;
  lrScale: number;
  keys: string[];
  sizes: number[];
  total: number;
}

function paramBuckets(named: Map<string, Parameter>, paramKeys: string[], o: TrainStepOptions): ParamBucket[] {
  const byKey = new Map<string, ParamBucket>();
  for (const key of paramKeys) {
    if (o.frozen?.has(key)) continue;
    const p = named.get(key)!;
    const weightDecay = o.decayAll || !p.noWeightDecay ? o.optimizer.defaultWeightDecay : 0;
    const lrScale = o.lrScales?.get(key) ?? 1;
    const id = `${weightDecay}|${lrScale}`;
    let b = byKey.get(id);
    if (!b) byKey.set(id, (b = { weightDecay, lrScale, keys: [], sizes: [], total: 0 }));
    const n = p.shape.reduce((a, d) => a * d, 1);
    b.keys.push(key);
    b.sizes.push(n);
    b.total += n;
  }
  return [...byKey.values()];
}

/**
 * The train-step graph of a model (in train mode) and an objective: the objective's loss graph
 * (buildLossGraph), then gradient norm, clipping, the optimizer update and the EMA update.
 * Inputs: 'input', the objective's targets and random inputs, parameters, buffers, optimizer state
 * per bucket, 'lr', 'bc1', 'bc2' (and 'ema_decay'); outputs: 'loss', 'metric.<name>', 'grad_norm',
 * 'new.<key>' for every updated tensor.
 */
export function buildTrainGraph<T>(
  model: VisionModel,
  objective: Objective<T>,
  o: TrainStepOptions,
): { graph: Graph; paramKeys: string[]; bufferKeys: string[]; buckets: ParamBucket[]; feed: (targets: T) => Record<string, Tensor> } {
  if (!model.training) throw new ConfigError('buildTrainGraph: call model.train() first');
  const lg = buildLossGraph(model, objective, o.batchShape, { frozen: o.frozen });
  if (o.frozen && lg.paramKeys.every((k) => o.frozen!.has(k))) throw new ConfigError('buildTrainGraph: every parameter is frozen; nothing would train');
  const { graph, paramKeys, params } = lg;
  const named = new Map(model.namedParameters());
  const bufferKeys = [...lg.bufferUpdates.keys()];
  const buckets = paramBuckets(named, paramKeys, o);
  // Scoped 'optimizer' (gradient norm, clipping, update, EMA), so that profiles tell it apart from the backward.
  withGraph(graph, () => graph.inScope('optimizer', () => {
    const lr = graph.input('lr', []);
    const bc1 = graph.input('bc1', []);
    const bc2 = graph.input('bc2', []);
    graph.markOutput(lg.loss, 'loss');
    for (const [name, v] of Object.entries(lg.metrics)) graph.markOutput(v, `metric.${name}`);

    // Gradient norm, clipping and the update run on flat vectors, one per bucket of parameters
    // sharing (weight decay, lr scale): a dozen large elementwise ops instead of a dozen per tensor
    // (ConvNeXt-atto has ~150 tensors; thousands of tiny ORT nodes cost more than the arithmetic).
    const index = new Map(paramKeys.map((key, i) => [key, i] as const));
    const flat = (vs: Value[]) => F.concat(vs.map((v) => F.reshape(v, [v.size])), 0);
    const bucketParams = buckets.map((b) => flat(b.keys.map((key) => params[index.get(key)!]!)));
    let bucketGrads = buckets.map((b) => flat(b.keys.map((key) => lg.grads[index.get(key)!]!)));
    const gradNorm = F.sqrt(bucketGrads.map((g) => F.reduceSumSquare(g, undefined, false)).reduce((a, b) => F.add(a, b)));
    graph.markOutput(gradNorm, 'grad_norm');
    if (o.clipGradNorm && o.clipGradNorm > 0) {
      // torch.nn.utils.clip_grad_norm_: scale by min(1, max_norm / (norm + 1e-6)).
      const coef = F.minimum(F.div(o.clipGradNorm, F.add(gradNorm, 1e-6)), 1);
      bucketGrads = bucketGrads.map((g) => F.mul(g, coef));
    }

    const emaDecay = o.emaDecay !== undefined ? graph.input('ema_decay', []) : null;
    buckets.forEach((b, j) => {
      const state = o.optimizer.stateNames.map((s) => graph.input(`${s}.${j}`, [b.total]));
      const upd = o.optimizer.update(
        { param: bucketParams[j]!, grad: bucketGrads[j]!, state, weightDecay: b.weightDecay, lrScale: b.lrScale },
        { lr, bc1, bc2 },
      );
      const parts = b.keys.length > 1 ? F.split(upd.param, b.sizes, 0) : [upd.param];
      b.keys.forEach((key, i) => graph.markOutput(F.reshape(parts[i]!, params[index.get(key)!]!.shape), `new.${key}`));
      upd.state.forEach((s, k) => graph.markOutput(s, `new.${o.optimizer.stateNames[k]}.${j}`));
      if (emaDecay) graph.markOutput(emaUpdate(graph.input(`ema.${j}`, [b.total]), upd.param, emaDecay), `new.ema.${j}`);
    });
    for (const key of bufferKeys) {
      const nb = lg.bufferUpdates.get(key)!;
      graph.markOutput(nb, `new.${key}`);
      if (emaDecay) {
        // Integer buffers (BatchNorm's num_batches_tracked) are counters, not weights: the EMA copy
        // takes their current value, as timm's ModelEmaV3 does for non-float tensors.
        const ema = graph.input(`ema.${key}`, nb.shape, nb.dtype);
        const isFloat = nb.dtype === 'float32' || nb.dtype === 'float64' || nb.dtype === 'float16';
        graph.markOutput(isFloat ? emaUpdate(ema, nb, emaDecay) : F.identity(nb), `new.ema.${key}`);
      }
    }
  }));
  return { graph, paramKeys, bufferKeys, buckets, feed: lg.feed };
}

function emaUpdate(ema: Value, current: Value, decay: Value): Value {
  return F.add(F.mul(ema, decay), F.mul(current, F.sub(1, decay)));
}

/**
 * Runs the compiled step and owns the optimisation state between steps. Optimizer moments and EMA
 * weights live as one flat vector per parameter bucket (the layout the graph consumes); the public
 * `TrainState` presents them per parameter, as views.
 */
/** One compiled graph of the step, for one batch shape. */
interface CompiledStep<T> {
  graph: Graph;
  session: GraphSession;
  feed: (targets: T) => Record<string, Tensor>;
}

export class TrainStep<T = unknown> {
  private step_ = 0;
  /**
   * The step compiled per batch shape (multi-scale training draws several): every graph updates the
   * same parameters, optimizer state and EMA, which this object owns.
   */
  private readonly compiled = new Map<string, CompiledStep<T>>();
  private params = new Map<string, Tensor>();
  private buffers = new Map<string, Tensor>();
  /** `<state name>.<bucket>` and `ema.<bucket>` (flat), `ema.<buffer key>` (per buffer). */
  private flat = new Map<string, Tensor>();

  private constructor(
    readonly model: VisionModel,
    readonly options: TrainStepOptions,
    private readonly objective: Objective<T>,
    private readonly createSession: SessionFactory,
    first: CompiledStep<T>,
    readonly paramKeys: string[],
    readonly bufferKeys: string[],
    readonly buckets: ParamBucket[],
  ) {
    this.compiled.set(options.batchShape.join('x'), first);
    const sd = model.stateDict();
    for (const k of paramKeys) this.params.set(k, sd[k]!);
    for (const k of bufferKeys) this.buffers.set(k, sd[k]!);
    const ema = options.emaDecay !== undefined;
    buckets.forEach((b, j) => {
      for (const s of options.optimizer.stateNames) this.flat.set(`${s}.${j}`, Tensor.zeros([b.total]));
      if (ema) this.flat.set(`ema.${j}`, this.flatten(b, this.params));
    });
    if (ema) for (const k of bufferKeys) this.flat.set(`ema.${k}`, copy(sd[k]!));
  }

  static async compile<T>(
    model: VisionModel,
    objective: Objective<T>,
    o: TrainStepOptions,
    createSession: SessionFactory,
  ): Promise<TrainStep<T>> {
    const { graph, paramKeys, bufferKeys, buckets, feed } = buildTrainGraph(model, objective, o);
    const session = await createSession(toModelProto(graph, { target: o.target }), `${model.name} train step`);
    return new TrainStep(model, o, objective, createSession, { graph, session, feed }, paramKeys, bufferKeys, buckets);
  }

  /** The graph of the step for the first batch shape (tests, profiles). */
  get graph(): Graph {
    return this.compiled.values().next().value!.graph;
  }

  /** Batch shapes compiled so far, in compile order (`64x1x32x32`). */
  get compiledShapes(): string[] {
    return [...this.compiled.keys()];
  }

  /** The step for `shape`, compiled on first use (once per shape for the whole run). */
  private async forShape(shape: readonly number[]): Promise<CompiledStep<T>> {
    const key = shape.join('x');
    let c = this.compiled.get(key);
    if (!c) {
      const o = { ...this.options, batchShape: [...shape] };
      const built = buildTrainGraph(this.model, this.objective, o);
      if (built.paramKeys.join() !== this.paramKeys.join() || built.bufferKeys.join() !== this.bufferKeys.join())
        throw new ConfigError(`TrainStep: the graph for batch shape [${shape}] reads other parameters than the first one`);
      c = { graph: built.graph, session: await this.createSession(toModelProto(built.graph, { target: this.options.target }), `${this.model.name} train step ${key}`), feed: built.feed };
      this.compiled.set(key, c);
    }
    return c;
  }

  get stepCount(): number {
    return this.step_;
  }

  /** One optimisation step. On a non-finite loss nothing is updated and the loss is returned as is. */
  /** One optimisation step on a batch (of any shape: a new one is compiled on first use). */
  async step(x: Tensor, targets: T, lr: number, rng: Rng): Promise<StepResult> {
    const c = await this.forShape(x.shape);
    const t = this.step_ + 1;
    const { bc1, bc2 } = this.options.optimizer.corrections(t);
    const given = c.feed(targets);
    const feeds: Record<string, Tensor> = {
      input: x,
      ...given,
      lr: scalar(lr),
      bc1: scalar(bc1),
      bc2: scalar(bc2),
      ...c.graph.drawRandomInputs(rng, given),
    };
    for (const [k, v] of this.params) feeds[k] = v;
    for (const [k, v] of this.buffers) feeds[k] = v;
    for (const [k, v] of this.flat) feeds[k] = v;
    if (this.options.emaDecay !== undefined) feeds.ema_decay = scalar(this.options.emaDecay);
    const out = await c.session.run(feeds);
    const loss = out.loss!.toArray()[0]!;
    const metrics: Record<string, number> = {};
    for (const [k, v] of Object.entries(out)) if (k.startsWith('metric.')) metrics[k.slice(7)] = v.toArray()[0]!;
    const result = { loss, metrics, gradNorm: out.grad_norm!.toArray()[0]! };
    if (!Number.isFinite(loss)) return result;
    // Frozen parameters have no new value: they keep theirs.
    for (const m of [this.params, this.buffers, this.flat]) for (const k of m.keys()) if (out[`new.${k}`]) m.set(k, out[`new.${k}`]!);
    this.step_ = t;
    return result;
  }

  /** Copy the current weights into the model (for evaluation or saving). */
  syncToModel(useEma = false): void {
    const named = new Map<string, { tensor: Tensor }>([...this.model.namedParameters(), ...this.model.namedBuffers()]);
    const st = this.getState();
    const src = useEma ? st.ema : new Map([...st.params, ...st.buffers]);
    for (const [k, v] of src) named.get(k)!.tensor = v;
    this.model.weightsChanged();
  }

  /** The state per parameter (optimizer moments and EMA as views into the flat vectors). */
  getState(): TrainState {
    const optimizer = new Map<string, Tensor>();
    const ema = new Map<string, Tensor>();
    this.buckets.forEach((b, j) => {
      for (const s of this.options.optimizer.stateNames) this.unflatten(b, this.flat.get(`${s}.${j}`)!, optimizer, `${s}.`);
      if (this.flat.has(`ema.${j}`)) this.unflatten(b, this.flat.get(`ema.${j}`)!, ema, '');
    });
    for (const k of this.bufferKeys) if (this.flat.has(`ema.${k}`)) ema.set(k, this.flat.get(`ema.${k}`)!);
    return { step: this.step_, params: new Map(this.params), buffers: new Map(this.buffers), optimizer, ema };
  }

  setState(s: TrainState): void {
    const need = (m: Map<string, Tensor>, keys: Iterable<string>, what: string) => {
      for (const k of keys) if (!m.has(k)) throw new ConfigError(`train state is missing ${what} '${k}'`);
    };
    const current = this.getState();
    need(s.params, current.params.keys(), 'parameter');
    need(s.buffers, current.buffers.keys(), 'buffer');
    need(s.optimizer, current.optimizer.keys(), 'optimizer state');
    need(s.ema, current.ema.keys(), 'EMA tensor');
    for (const k of this.paramKeys) this.params.set(k, s.params.get(k)!);
    for (const k of this.bufferKeys) this.buffers.set(k, s.buffers.get(k)!);
    this.buckets.forEach((b, j) => {
      for (const name of this.options.optimizer.stateNames) this.flat.set(`${name}.${j}`, this.flatten(b, s.optimizer, `${name}.`));
      if (this.flat.has(`ema.${j}`)) this.flat.set(`ema.${j}`, this.flatten(b, s.ema));
    });
    for (const k of this.bufferKeys) if (this.flat.has(`ema.${k}`)) this.flat.set(`ema.${k}`, s.ema.get(k)!);
    this.step_ = s.step;
  }

  private flatten(b: ParamBucket, m: Map<string, Tensor>, prefix = ''): Tensor {
    const out = new Float32Array(b.total);
    let off = 0;
    b.keys.forEach((k, i) => {
      out.set(m.get(prefix + k)!.data as Float32Array, off);
      off += b.sizes[i]!;
    });
    return new Tensor(out, [b.total], 'float32');
  }

  private unflatten(b: ParamBucket, flat: Tensor, into: Map<string, Tensor>, prefix: string): void {
    const data = flat.data as Float32Array;
    let off = 0;
    b.keys.forEach((k, i) => {
      into.set(prefix + k, new Tensor(data.subarray(off, off + b.sizes[i]!), this.params.get(k)!.shape, 'float32'));
      off += b.sizes[i]!;
    });
  }

  /** Write the ORT profile (sessions created with a profile prefix only). */
  endProfiling(): void {
    for (const c of this.compiled.values()) c.session.endProfiling();
  }

  async release(): Promise<void> {
    for (const c of this.compiled.values()) await c.session.release();
  }
}

function scalar(v: number): Tensor {
  return new Tensor(Float32Array.of(v), [], 'float32');
}

function copy(t: Tensor): Tensor {
  return new Tensor((t.data as Float32Array).slice(), t.shape, t.dtype);
}
