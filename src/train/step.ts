/**
 * The compiled train step: one ONNX graph computing forward, loss, backward (our autodiff), gradient
 * clipping, the optimizer update and the EMA update. Compiled once per batch shape; parameters and
 * optimizer state go in as inputs and come back as outputs (ORT's Node API has no IO binding).
 */
import { ConfigError } from '../errors.js';
import { toModelProto, type EmitOptions, type Target } from '../graph/emit.js';
import { Graph, withGraph, type Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import type { VisionModel } from '../models/base.js';
import type { Parameter } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import type { Rng } from '../util/rng.js';
import { buildLossGraph, type Objective } from './objective.js';
import type { Optimizer } from './optim.js';
import type { DeviceValue, GraphSession, SessionFactory } from './session.js';

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
  /** ONNX Runtime's NCHWc block size where the step runs on onnxruntime-node's CPU EP (graph/emit.ts `EmitOptions.nchwcBlock`; default 0: standard ONNX). */
  nchwcBlock?: number;
  /**
   * Run each batch as micro-batches of at most this many images (the last one may be smaller),
   * summing their gradients — each weighted by its share of the batch — before one update
   * (gradient accumulation): the memory of a micro-batch, the update of the whole batch. Exact up
   * to float rounding, except that BatchNorm normalises and updates its running statistics per
   * micro-batch, and random draws (drop path, FCMAE masks) are made per micro-batch.
   * Default: the whole batch in one graph.
   */
  microBatch?: number;
  /**
   * Keep parameters, optimizer state, EMA and buffers on the device between steps (onnxruntime-web on
   * WebGPU: only the batch goes up and the loss comes back). `await step.toHost()` before reading
   * the state (`getState`, `syncToModel`); the trainer does so before checkpoints and evaluations.
   */
  keepStateOnDevice?: boolean;
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

/** Parameters, gradient and update of a step graph, flat per bucket (see `appendUpdate`). */
interface UpdateInputs {
  /** Per parameter key (in `paramKeys` order). */
  params: Value[];
  paramKeys: string[];
  /** One flat gradient per bucket. */
  grads: Value[];
  buckets: ParamBucket[];
  /** Buffer values after this step's forward passes (BatchNorm running statistics), per key. */
  buffers: Map<string, Value>;
  /** Whether the buffers are this graph's new values (output as 'new.<key>'), not only read for the EMA. */
  outputBuffers: boolean;
}

/**
 * The update part of a step, appended to `graph`: gradient norm, clipping, the optimizer update and
 * the EMA update. Inputs it adds: optimizer state per bucket, 'lr', 'bc1', 'bc2' (and 'ema_decay',
 * 'ema.<bucket>', 'ema.<buffer key>'); outputs: 'grad_norm', 'new.<key>' for every updated tensor.
 * Scoped 'optimizer', so that profiles tell it apart from the backward.
 */
function appendUpdate(graph: Graph, u: UpdateInputs, o: TrainStepOptions): void {
  withGraph(graph, () => graph.inScope('optimizer', () => {
    const lr = graph.input('lr', []);
    const bc1 = graph.input('bc1', []);
    const bc2 = graph.input('bc2', []);
    // Gradient norm, clipping and the update run on flat vectors, one per bucket of parameters
    // sharing (weight decay, lr scale): a dozen large elementwise ops instead of a dozen per tensor
    // (ConvNeXt-atto has ~150 tensors; thousands of tiny ORT nodes cost more than the arithmetic).
    const index = new Map(u.paramKeys.map((key, i) => [key, i] as const));
    const bucketParams = u.buckets.map((b) => flatten(b.keys.map((key) => u.params[index.get(key)!]!)));
    let bucketGrads = u.grads;
    const gradNorm = F.sqrt(bucketGrads.map((g) => F.reduceSumSquare(g, undefined, false)).reduce((a, b) => F.add(a, b)));
    graph.markOutput(gradNorm, 'grad_norm');
    if (o.clipGradNorm && o.clipGradNorm > 0) {
      // torch.nn.utils.clip_grad_norm_: scale by min(1, max_norm / (norm + 1e-6)).
      const coef = F.minimum(F.div(o.clipGradNorm, F.add(gradNorm, 1e-6)), 1);
      bucketGrads = bucketGrads.map((g) => F.mul(g, coef));
    }

    const emaDecay = o.emaDecay !== undefined ? graph.input('ema_decay', []) : null;
    u.buckets.forEach((b, j) => {
      const state = o.optimizer.stateNames.map((s) => graph.input(`${s}.${j}`, [b.total]));
      const upd = o.optimizer.update(
        { param: bucketParams[j]!, grad: bucketGrads[j]!, state, weightDecay: b.weightDecay, lrScale: b.lrScale },
        { lr, bc1, bc2 },
      );
      const parts = b.keys.length > 1 ? F.split(upd.param, b.sizes, 0) : [upd.param];
      b.keys.forEach((key, i) => graph.markOutput(F.reshape(parts[i]!, u.params[index.get(key)!]!.shape), `new.${key}`));
      upd.state.forEach((s, k) => graph.markOutput(s, `new.${o.optimizer.stateNames[k]}.${j}`));
      if (emaDecay) graph.markOutput(emaUpdate(graph.input(`ema.${j}`, [b.total]), upd.param, emaDecay), `new.ema.${j}`);
    });
    for (const [key, nb] of u.buffers) {
      if (u.outputBuffers) graph.markOutput(nb, `new.${key}`);
      if (emaDecay) {
        // Integer buffers (BatchNorm's num_batches_tracked) are counters, not weights: the EMA copy
        // takes their current value, as timm's ModelEmaV3 does for non-float tensors.
        const ema = graph.input(`ema.${key}`, nb.shape, nb.dtype);
        const isFloat = nb.dtype === 'float32' || nb.dtype === 'float64' || nb.dtype === 'float16';
        graph.markOutput(isFloat ? emaUpdate(ema, nb, emaDecay) : F.identity(nb), `new.ema.${key}`);
      }
    }
  }));
}

/** Tensors as one flat vector (a bucket's parameters or gradients, in bucket order). */
function flatten(vs: Value[]): Value {
  return F.concat(vs.map((v) => F.reshape(v, [v.size])), 0);
}

/** The loss graph of one (micro-)batch, checked for a train step: something must train. */
function trainLossGraph<T>(model: VisionModel, objective: Objective<T>, o: TrainStepOptions, batchShape: number[]) {
  if (!model.training) throw new ConfigError('buildTrainGraph: call model.train() first');
  const lg = buildLossGraph(model, objective, batchShape, { frozen: o.frozen, nchwcBlock: o.nchwcBlock });
  if (o.frozen && lg.paramKeys.every((k) => o.frozen!.has(k))) throw new ConfigError('buildTrainGraph: every parameter is frozen; nothing would train');
  const buckets = paramBuckets(new Map(model.namedParameters()), lg.paramKeys, o);
  const index = new Map(lg.paramKeys.map((key, i) => [key, i] as const));
  // Flattening the gradients into buckets is the update's bookkeeping: scoped with it.
  const grads = withGraph(lg.graph, () => lg.graph.inScope('optimizer', () => buckets.map((b) => flatten(b.keys.map((key) => lg.grads[index.get(key)!]!)))));
  withGraph(lg.graph, () => {
    lg.graph.markOutput(lg.loss, 'loss');
    for (const [name, v] of Object.entries(lg.metrics)) lg.graph.markOutput(v, `metric.${name}`);
  });
  return { lg, buckets, grads, bufferKeys: [...lg.bufferUpdates.keys()] };
}

/** What a step graph needs besides the graph: its inputs' keys and the targets' feed. */
interface StepGraph<T> {
  graph: Graph;
  paramKeys: string[];
  bufferKeys: string[];
  buckets: ParamBucket[];
  feed: (targets: T) => Record<string, Tensor>;
}

/**
 * The train-step graph of a model (in train mode) and an objective: the objective's loss graph
 * (buildLossGraph), then gradient norm, clipping, the optimizer update and the EMA update.
 * Inputs: 'input', the objective's targets and random inputs, parameters, buffers, optimizer state
 * per bucket, 'lr', 'bc1', 'bc2' (and 'ema_decay'); outputs: 'loss', 'metric.<name>', 'grad_norm',
 * 'new.<key>' for every updated tensor.
 */
export function buildTrainGraph<T>(model: VisionModel, objective: Objective<T>, o: TrainStepOptions): StepGraph<T> {
  const { lg, buckets, grads, bufferKeys } = trainLossGraph(model, objective, o, o.batchShape);
  appendUpdate(lg.graph, { params: lg.params, paramKeys: lg.paramKeys, grads, buckets, buffers: lg.bufferUpdates, outputBuffers: true }, o);
  return { graph: lg.graph, paramKeys: lg.paramKeys, bufferKeys, buckets, feed: lg.feed };
}

/**
 * Gradient accumulation, part 1: the loss graph of one micro-batch, adding its gradients, weighted
 * by the micro-batch's share of the batch (its mean loss's gradient so weighted sums to the whole
 * batch's), to running sums. Inputs: those of the loss graph, parameters, buffers, 'grad_weight'
 * and 'acc.<bucket>' (the sums so far); outputs: 'loss', 'metric.<name>', 'new.acc.<bucket>' and
 * 'new.<buffer key>'.
 */
export function buildAccumulateGraph<T>(model: VisionModel, objective: Objective<T>, o: TrainStepOptions, microShape: number[]): StepGraph<T> {
  const { lg, buckets, grads, bufferKeys } = trainLossGraph(model, objective, o, microShape);
  withGraph(lg.graph, () => {
    lg.graph.inScope('optimizer', () => {
      const weight = lg.graph.input('grad_weight', []);
      buckets.forEach((b, j) => lg.graph.markOutput(F.add(lg.graph.input(`acc.${j}`, [b.total]), F.mul(grads[j]!, weight)), `new.acc.${j}`));
    });
    for (const [key, nb] of lg.bufferUpdates) lg.graph.markOutput(nb, `new.${key}`);
  });
  return { graph: lg.graph, paramKeys: lg.paramKeys, bufferKeys, buckets, feed: lg.feed };
}

/**
 * Gradient accumulation, part 2: the update from the weighted sums of the micro-batches' gradients
 * (the whole batch's gradient). Inputs: the trained parameters, 'grad.<bucket>', optimizer state,
 * 'lr', 'bc1', 'bc2' (with an EMA: 'ema_decay', the EMA tensors and the buffers); outputs:
 * 'grad_norm' and 'new.<key>' as the one-graph step's, buffers excepted (the micro-batches update them).
 */
export function buildUpdateGraph(model: VisionModel, buckets: ParamBucket[], bufferKeys: string[], o: TrainStepOptions): Graph {
  const graph = new Graph(`${model.name || model.family} update`);
  const tensors = new Map<string, Tensor>([...model.namedParameters(), ...model.namedBuffers()].map(([k, p]) => [k, p.tensor] as const));
  const input = (key: string) => graph.input(key, tensors.get(key)!.shape, tensors.get(key)!.dtype);
  const paramKeys = buckets.flatMap((b) => b.keys);
  const { params, grads, buffers } = withGraph(graph, () => ({
    params: paramKeys.map(input),
    grads: buckets.map((b, j) => graph.input(`grad.${j}`, [b.total])),
    buffers: new Map(o.emaDecay !== undefined ? bufferKeys.map((k) => [k, input(k)] as const) : []),
  }));
  appendUpdate(graph, { params, paramKeys, grads, buckets, buffers, outputBuffers: false }, o);
  return graph;
}

function emaUpdate(ema: Value, current: Value, decay: Value): Value {
  return F.add(F.mul(ema, decay), F.mul(current, F.sub(1, decay)));
}

/** A compiled graph and its session. */
interface Compiled {
  graph: Graph;
  session: GraphSession;
}

/** The step compiled for one batch shape. */
interface CompiledShape<T> {
  /** The targets' feeds for a whole batch of this shape. */
  feed: (targets: T) => Record<string, Tensor>;
  /** The whole step in one graph (no micro-batches). */
  whole?: Compiled;
  /** Micro-batching: the accumulation graph per micro-batch size (`buildAccumulateGraph`). */
  micro?: Map<number, Compiled>;
}

/** Micro-batch sizes that make up a batch of `n` images: `size` each, the last one the rest. */
export function microBatchSizes(n: number, size: number): number[] {
  const sizes = Array<number>(Math.floor(n / size)).fill(size);
  if (n % size) sizes.push(n % size);
  return sizes;
}

/**
 * Runs the compiled step and owns the optimisation state between steps. Optimizer moments and EMA
 * weights live as one flat vector per parameter bucket (the layout the graph consumes); the public
 * `TrainState` presents them per parameter, as views.
 */
export class TrainStep<T = unknown> {
  private step_ = 0;
  /**
   * The step compiled per batch shape (multi-scale training draws several): every graph updates the
   * same parameters, optimizer state and EMA, which this object owns.
   */
  private readonly compiled = new Map<string, CompiledShape<T>>();
  /** Micro-batching: the update from the summed gradients (`buildUpdateGraph`), one for every shape. */
  private update: Compiled | null = null;
  /** Host tensors, or device values between steps with `keepStateOnDevice` (`toHost` brings them back). */
  private params = new Map<string, Tensor | DeviceValue>();
  private buffers = new Map<string, Tensor | DeviceValue>();
  /** `<state name>.<bucket>` and `ema.<bucket>` (flat), `ema.<buffer key>` (per buffer). */
  private flat = new Map<string, Tensor | DeviceValue>();
  private stateOnDevice_ = false;

  private constructor(
    readonly model: VisionModel,
    readonly options: TrainStepOptions,
    private readonly objective: Objective<T>,
    private readonly createSession: SessionFactory,
    readonly paramKeys: string[],
    readonly bufferKeys: string[],
    readonly buckets: ParamBucket[],
  ) {
    const sd = model.stateDict();
    for (const k of paramKeys) this.params.set(k, sd[k]!);
    for (const k of bufferKeys) this.buffers.set(k, sd[k]!);
    const ema = options.emaDecay !== undefined;
    buckets.forEach((b, j) => {
      for (const s of options.optimizer.stateNames) this.flat.set(`${s}.${j}`, Tensor.zeros([b.total]));
      if (ema) this.flat.set(`ema.${j}`, this.flatten(b, this.host(this.params)));
    });
    if (ema) for (const k of bufferKeys) this.flat.set(`ema.${k}`, copy(sd[k]!));
  }

  static async compile<T>(
    model: VisionModel,
    objective: Objective<T>,
    o: TrainStepOptions,
    createSession: SessionFactory,
  ): Promise<TrainStep<T>> {
    const micro = o.microBatch;
    if (micro !== undefined && !(Number.isSafeInteger(micro) && micro >= 1))
      throw new ConfigError(`micro-batch size must be a positive integer, got ${micro}`);
    // The first shape's graph gives the parameter layout; it is then compiled as the step's first shape.
    const first = micro === undefined || micro >= o.batchShape[0]! ? buildTrainGraph(model, objective, o) : buildAccumulateGraph(model, objective, o, [micro, ...o.batchShape.slice(1)]);
    const step = new TrainStep(model, o, objective, createSession, first.paramKeys, first.bufferKeys, first.buckets);
    await step.forShape(o.batchShape, first);
    return step;
  }

  private get emitOptions(): EmitOptions {
    return { target: this.options.target, nchwcBlock: this.options.nchwcBlock };
  }

  private get microBatching(): boolean {
    return this.options.microBatch !== undefined;
  }

  /** The graph of the step for the first batch shape (tests, profiles): the whole step, or the first micro-batch's. */
  get graph(): Graph {
    const c = this.compiled.values().next().value!;
    return (c.whole ?? c.micro!.values().next().value!).graph;
  }

  /** Batch shapes compiled so far, in compile order (`64x1x32x32`). */
  get compiledShapes(): string[] {
    return [...this.compiled.keys()];
  }

  /** A graph of this step compiled, after checking it reads the same parameters as the first one. */
  private async compileGraph(built: Omit<StepGraph<T>, 'feed'>, label: string, keepState = false): Promise<Compiled> {
    if (built.paramKeys.join() !== this.paramKeys.join() || built.bufferKeys.join() !== this.bufferKeys.join())
      throw new ConfigError(`TrainStep: the graph for ${label} reads other parameters than the first one`);
    // The whole step's new state ('new.<key>') can stay on the device: the next step reads it from there.
    const keepOnDevice = keepState && this.options.keepStateOnDevice ? [...built.graph.outputNames.values()].filter((n) => n.startsWith('new.')) : undefined;
    return { graph: built.graph, session: await this.createSession(toModelProto(built.graph, this.emitOptions), `${this.model.name} ${label}`, { keepOnDevice }) };
  }

  /**
   * The step for `shape`, compiled on first use (once per shape for the whole run): the whole step,
   * or (micro-batching) an accumulation graph per micro-batch size, and the update graph once.
   */
  private async forShape(shape: readonly number[], first?: StepGraph<T>): Promise<CompiledShape<T>> {
    const key = shape.join('x');
    let c = this.compiled.get(key);
    if (c) return c;
    const o = { ...this.options, batchShape: [...shape] };
    const n = shape[0]!;
    if (!this.microBatching || this.options.microBatch! >= n) {
      const built = first ?? buildTrainGraph(this.model, this.objective, o);
      c = { feed: built.feed, whole: await this.compileGraph(built, `train step ${key}`, true) };
    } else {
      // The targets are fed for the whole batch, then cut into micro-batches.
      c = { feed: buildLossGraph(this.model, this.objective, shape, { withGradients: false }).feed, micro: new Map() };
      for (const size of new Set(microBatchSizes(n, this.options.microBatch!))) {
        const microShape = [size, ...shape.slice(1)];
        const built = first && size === first.graph.inputs.find((v) => v.name === 'input')!.shape[0] ? first : buildAccumulateGraph(this.model, this.objective, o, microShape);
        c.micro!.set(size, await this.compileGraph(built, `gradient accumulation ${microShape.join('x')}`));
      }
      if (!this.update) {
        const graph = buildUpdateGraph(this.model, this.buckets, this.bufferKeys, this.options);
        this.update = { graph, session: await this.createSession(toModelProto(graph, this.emitOptions), `${this.model.name} update`) };
      }
    }
    this.compiled.set(key, c);
    return c;
  }

  /** Whether a step of this object got its new state back as device values (kept on the GPU). */
  get stateOnDevice(): boolean {
    return this.stateOnDevice_;
  }

  get stepCount(): number {
    return this.step_;
  }

  /**
   * One optimisation step on a batch (of any shape: a new one is compiled on first use). On a
   * non-finite loss nothing is updated and the loss is returned as is.
   */
  async step(x: Tensor, targets: T, lr: number, rng: Rng): Promise<StepResult> {
    const c = await this.forShape(x.shape);
    const t = this.step_ + 1;
    const { bc1, bc2 } = this.options.optimizer.corrections(t);
    // What the update reads besides parameters and gradients.
    const update: Record<string, Tensor | DeviceValue> = { lr: scalar(lr), bc1: scalar(bc1), bc2: scalar(bc2) };
    for (const [k, v] of this.flat) update[k] = v;
    if (this.options.emaDecay !== undefined) update.ema_decay = scalar(this.options.emaDecay);
    const given = c.feed(targets);
    const r = c.whole ? await this.runWhole(c.whole, x, given, update, rng) : await this.runMicroBatches(c.micro!, x, given, update, rng);
    if (!Number.isFinite(r.result.loss)) {
      for (const v of Object.values(r.updated)) if (!(v instanceof Tensor)) v.dispose();
      return r.result;
    }
    this.stateOnDevice_ ||= Object.values(r.updated).some((v) => !(v instanceof Tensor));
    // Frozen parameters have no new value: they keep theirs. Replaced device values are freed.
    for (const m of [this.params, this.buffers, this.flat])
      for (const k of m.keys()) {
        const v = r.updated[`new.${k}`];
        if (!v) continue;
        const old = m.get(k)!;
        m.set(k, v);
        if (!(old instanceof Tensor) && old !== v) old.dispose();
      }
    this.step_ = t;
    return r.result;
  }

  /** The whole step in one graph. */
  private async runWhole(g: Compiled, x: Tensor, given: Record<string, Tensor>, update: Record<string, Tensor | DeviceValue>, rng: Rng) {
    const feeds: Record<string, Tensor | DeviceValue> = { input: x, ...given, ...update, ...g.graph.drawRandomInputs(rng, given) };
    for (const [k, v] of this.params) feeds[k] = v;
    for (const [k, v] of this.buffers) feeds[k] = v;
    const out = await g.session.run(feeds);
    return { result: { loss: hostValue(out.loss!), metrics: metricsOf(out), gradNorm: hostValue(out.grad_norm!) }, updated: out };
  }

  /**
   * The step as micro-batches (gradient accumulation): each micro-batch's graph adds its weighted
   * gradients to the sums and updates the buffers, then the update graph applies the sums. Loss and
   * metrics are the micro-batches' values weighted by their share of the batch (means over the batch).
   */
  private async runMicroBatches(micro: Map<number, Compiled>, x: Tensor, given: Record<string, Tensor>, update: Record<string, Tensor | DeviceValue>, rng: Rng) {
    const n = x.shape[0]!;
    let sums = this.buckets.map((b) => Tensor.zeros([b.total]));
    const buffers = new Map(this.buffers);
    const result: StepResult = { loss: 0, metrics: {}, gradNorm: NaN };
    let start = 0;
    for (const size of microBatchSizes(n, this.options.microBatch!)) {
      const g = micro.get(size)!;
      const part = (name: string, t: Tensor) => microBatchOf(g.graph, name, t, n, start, size);
      const partGiven: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(given)) partGiven[k] = part(k, v);
      const feeds: Record<string, Tensor | DeviceValue> = { input: part('input', x), ...partGiven, grad_weight: scalar(size / n), ...g.graph.drawRandomInputs(rng, partGiven) };
      for (const [k, v] of this.params) feeds[k] = v;
      for (const [k, v] of buffers) feeds[k] = v;
      sums.forEach((v, j) => (feeds[`acc.${j}`] = v));
      const out = await g.session.run(feeds);
      const loss = hostValue(out.loss!);
      if (!Number.isFinite(loss)) return { result: { loss, metrics: metricsOf(out), gradNorm: NaN }, updated: {} };
      result.loss += (loss * size) / n;
      for (const [k, v] of Object.entries(metricsOf(out))) result.metrics[k] = (result.metrics[k] ?? 0) + (v * size) / n;
      sums = sums.map((_, j) => out[`new.acc.${j}`]! as Tensor);
      for (const k of this.bufferKeys) buffers.set(k, out[`new.${k}`]!);
      start += size;
    }
    const feeds: Record<string, Tensor | DeviceValue> = { ...update };
    for (const b of this.buckets) for (const k of b.keys) feeds[k] = this.params.get(k)!;
    sums.forEach((v, j) => (feeds[`grad.${j}`] = v));
    if (this.options.emaDecay !== undefined) for (const [k, v] of buffers) feeds[k] = v;
    const updated = await this.update!.session.run(feeds);
    for (const [k, v] of buffers) updated[`new.${k}`] = v;
    result.gradNorm = hostValue(updated.grad_norm!);
    return { result, updated };
  }

  /** Bring state kept on the device back to the host (before `getState` or `syncToModel`). */
  async toHost(): Promise<void> {
    for (const m of [this.params, this.buffers, this.flat])
      for (const [k, v] of m) {
        if (v instanceof Tensor) continue;
        m.set(k, await v.download());
        v.dispose();
      }
  }

  /** The host tensors of a state map; state still on the device is a programming error here. */
  private host(m: Map<string, Tensor | DeviceValue>): Map<string, Tensor> {
    for (const [k, v] of m) if (!(v instanceof Tensor)) throw new Error(`TrainStep: '${k}' is on the device; await step.toHost() first`);
    return m as Map<string, Tensor>;
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
    const flat = this.host(this.flat);
    const optimizer = new Map<string, Tensor>();
    const ema = new Map<string, Tensor>();
    this.buckets.forEach((b, j) => {
      for (const s of this.options.optimizer.stateNames) this.unflatten(b, flat.get(`${s}.${j}`)!, optimizer, `${s}.`);
      if (flat.has(`ema.${j}`)) this.unflatten(b, flat.get(`ema.${j}`)!, ema, '');
    });
    for (const k of this.bufferKeys) if (flat.has(`ema.${k}`)) ema.set(k, flat.get(`ema.${k}`)!);
    return { step: this.step_, params: new Map(this.host(this.params)), buffers: new Map(this.host(this.buffers)), optimizer, ema };
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

  /** Every compiled graph's session. */
  private sessions(): GraphSession[] {
    const all = [...this.compiled.values()].flatMap((c) => (c.whole ? [c.whole] : [...c.micro!.values()]));
    return [...all, ...(this.update ? [this.update] : [])].map((c) => c.session);
  }

  /** Write the ORT profile (sessions created with a profile prefix only). */
  endProfiling(): void {
    for (const s of this.sessions()) s.endProfiling();
  }

  async release(): Promise<void> {
    for (const s of this.sessions()) await s.release();
  }
}

function metricsOf(out: Record<string, Tensor | DeviceValue>): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(out)) if (k.startsWith('metric.')) metrics[k.slice(7)] = hostValue(v);
  return metrics;
}

/** A scalar output (loss, metric, gradient norm: never kept on the device). */
function hostValue(v: Tensor | DeviceValue): number {
  if (!(v instanceof Tensor)) throw new Error('TrainStep: a scalar output was left on the device');
  return Number(v.toArray()[0]);
}

/**
 * Rows [start, start + size) of a tensor fed for a whole batch of `n`, as the micro-batch graph's
 * input `name` wants them (a view, no copy); a tensor the graph wants whole (not per image) as is.
 */
function microBatchOf(graph: Graph, name: string, t: Tensor, n: number, start: number, size: number): Tensor {
  const want = graph.inputs.find((v) => v.name === name)?.shape;
  if (!want || (want.length === t.shape.length && want.every((d, i) => d === t.shape[i]))) return t;
  if (t.shape[0] !== n || want[0] !== size) throw new ConfigError(`micro-batching: input '${name}' [${t.shape}] has no batch dimension of ${n} to cut into micro-batches of ${size}`);
  const row = t.size / n;
  return new Tensor(t.data.subarray(start * row, (start + size) * row) as never, [size, ...t.shape.slice(1)], t.dtype);
}

function scalar(v: number): Tensor {
  return new Tensor(Float32Array.of(v), [], 'float32');
}

function copy(t: Tensor): Tensor {
  return new Tensor((t.data as Float32Array).slice(), t.shape, t.dtype);
}
