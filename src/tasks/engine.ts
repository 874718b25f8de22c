/**
 * The engine: runs models on ONNX Runtime. It traces a model per (input shape, requested outputs,
 * mode), compiles the graph once, keeps the sessions in a bounded, reference-counted cache and
 * assembles the feeds (input, parameters, targets, random draws). One engine serves every entry:
 * what differs between Node and the browser (the ort module, reading weights, the core count) comes
 * in as a `Runtime`.
 *
 * Inference graphs (eval mode) carry weights as initializers (ORT pre-packs them). Train-mode graphs
 * take parameters and buffers as inputs: they do not depend on the weights' values, so they survive
 * weight updates, and BatchNorm's running statistics come back as outputs.
 */
import { ConfigError, ShapeError } from '../errors.js';
import { toModelProto, type Target } from '../graph/emit.js';
import { withGraph, type Graph } from '../graph/graph.js';
import type { ForwardHeadOptions, LossAndGrads, LossOptions, ModelBackend, ReadWeightsOptions, RunOptions, RunResult, TensorTree, VisionModel, WeightsProgress } from '../models/base.js';
import { approxBytes, approxCount, countElements } from '../models/model_size.js';
import { pretrainedWeights } from '../models/pretrained.js';
import {
  createModel as buildModel,
  type CheckedSpec,
  type FamilyModel,
  type FamilyName,
  type FamilyOverrides,
  type ModelSizeLimit,
  type ModelSpec,
  type RawConfig,
  type SpecFamily,
} from '../models/registry.js';
import { checkOutputNames, collectOutputs, markOutputTree, traceHead, traceModel, type OutputLayout } from '../models/trace.js';
import type { Runtime } from '../runtime/runtime.js';
import { Session, SessionCache, TRAIN_STEP_SESSION, type SessionOptions } from '../runtime/session.js';
import { Tensor } from '../tensor.js';
import { crossEntropy } from '../train/losses.js';
import { buildLossGraph, type Objective } from '../train/objective.js';
import type { SessionFactory } from '../train/session.js';
import { buildTrainGraph, TrainStep, type TrainStepOptions } from '../train/step.js';
import { MEMORY_SHARE, peakLiveActivations } from './input_size.js';

/** What `createModel` takes besides config keys. */
export interface ModelOptions {
  /** Load the tag's weights (from the hub, cached) before the first run. */
  pretrained?: boolean;
  /** Seed of the random initialisation (default 0): the model's own, fixed when it is built. */
  seed?: number;
  /** Download events of the `pretrained` weights (initiate → download → progress … → done). */
  onProgress?: (e: WeightsProgress) => void;
}

/** `createModel`'s second argument for a model of family `F`: its config keys, each of its type, plus `ModelOptions`. */
export type FamilyModelOptions<F extends FamilyName> = FamilyOverrides<F> & ModelOptions & { family?: F };

/**
 * `createModel`'s second argument for a spec whose family is not known when compiling (a `string`, a
 * config from JSON): any config keys (checked against the family's schema when the model is built),
 * plus `ModelOptions`.
 */
export type CreateModelOptions = RawConfig & ModelOptions & {
  // Keys every family has, typed so that `numClasses: 'ten'` does not compile here either.
  /** Classifier outputs (0: no classifier; the model returns its pooled features). */
  num_classes?: number;
  numClasses?: number;
  /** Input channels. */
  in_chans?: number;
  inChans?: number;
};

/** `createModel`'s second argument for spec `S`: its family's options when the family is known when compiling, else any keys. */
export type CreateModelOptionsFor<S> = [SpecFamily<S>] extends [never] ? CreateModelOptions : FamilyModelOptions<SpecFamily<S>>;

/** What `createModel(spec)` returns: the family's model class (whose `run` options name its outputs), or any model. */
export type ModelFor<S> = [SpecFamily<S>] extends [never] ? VisionModel : FamilyModel<SpecFamily<S>>;

/**
 * `createModel`'s signature (`Engine`'s and the entries'; `E`: an entry's own options). A known model
 * name or weight tag, or a config of a known family, has its config keys typed and gives that family's
 * model class; any other spec takes any keys, checked when the model is built.
 */
export type CreateModel<E = {}> = <const S extends ModelSpec>(spec: CheckedSpec<S>, overrides?: CreateModelOptionsFor<S> & E) => ModelFor<S>;

/**
 * `createModel` typed as `CreateModel` around an implementation for any spec: the signature only
 * narrows the types (the family's model class is what the registry builds for its names).
 */
export function typedCreateModel<E = {}>(build: (spec: ModelSpec, overrides?: CreateModelOptions & E) => VisionModel): CreateModel<E> {
  return build as CreateModel<E>;
}

export interface EngineOptions {
  /** Compiled sessions kept per model (idle ones beyond this are released; default 8). */
  sessionCacheSize?: number;
}

/** A traced graph and what feeding it and reading it back needs. */
interface Compiled {
  graph: Graph;
  /** Where the requested named outputs are among the graph outputs. */
  layout: { [name: string]: OutputLayout };
  /** Keys of parameters and buffers fed as inputs (train-mode graphs). */
  stateKeys: string[];
  /** Buffers updated by a train-mode forward, with their output names. */
  bufferOutputs: string[];
  /** Feeds for an objective's targets (loss graphs). */
  feedTargets?: (targets: unknown) => Record<string, Tensor>;
  /** Float activations alive at once when the graph runs, and the model's weights (computed on first need). */
  footprint?: { activations: number; weights: number };
}

interface ModelState {
  sessions: SessionCache;
  /** Traced graphs by the same keys as the sessions (tracing again would cost more than the lookup). */
  traced: Map<string, Compiled>;
}

export class Engine implements ModelBackend {
  private readonly states = new WeakMap<VisionModel, ModelState>();
  private cacheSize: number;

  constructor(
    readonly runtime: Runtime,
    opts: EngineOptions = {},
  ) {
    this.cacheSize = opts.sessionCacheSize ?? 8;
    SessionCache.checkCapacity(this.cacheSize);
  }

  /**
   * Build a model (registry name, weight tag or `{ family, ...config }`) attached to this engine.
   * `pretrained: true` (with a name or tag) loads the tag's weights from the hub (cached) before the
   * first run — `await model.ready()` to wait for them explicitly. Typed as `CreateModel`.
   */
  readonly createModel = typedCreateModel((spec, overrides) => this.buildModel(spec, overrides));

  private buildModel(spec: ModelSpec, overrides?: CreateModelOptions): VisionModel {
    if (overrides !== undefined && (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)))
      throw new ConfigError(`model config overrides must be an object of config keys, got ${JSON.stringify(overrides) ?? String(overrides)}`);
    const { pretrained, seed, onProgress, ...config } = overrides ?? {};
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new ConfigError('onProgress must be a function (it receives the download events)');
    if (pretrained !== undefined && typeof pretrained !== 'boolean') throw new ConfigError(`pretrained must be true or false, got ${JSON.stringify(pretrained)}`);
    if (seed !== undefined && !Number.isSafeInteger(seed)) throw new ConfigError(`seed must be an integer, got ${JSON.stringify(seed)}`);
    const model = this.attach(buildModel(spec, config, { ...this.modelSizeLimit(), seed: seed as number | undefined }));
    if (pretrained) {
      const from = typeof spec === 'string' ? pretrainedWeights(model.pretrainedConfig) : null;
      if (!from)
        throw new ConfigError(
          `pretrained: true needs a model name or weight tag with published weights (on the hub or at a release URL, e.g. 'convnext_atto.d2_in1k'), got ${JSON.stringify(spec)}`,
        );
      // timm's idiom: another class count (num_classes: 10, or 0 for features) loads everything but the
      // classifier, which keeps its fresh initialisation.
      const classes = model.pretrainedConfig!.numClasses;
      model.loadWeightsLater(from.source, { backboneOnly: classes !== undefined && model.numClasses !== classes, weightsKey: from.weightsKey, onProgress });
    }
    return model;
  }

  /**
   * The parameters a model on this machine may have: its weights are held twice (ours and ONNX
   * Runtime's initializers), in float32, within the share of memory a job may take.
   */
  private modelSizeLimit(): ModelSizeLimit {
    const memory = this.runtime.memoryBytes?.();
    if (memory === undefined) return {};
    const maxElements = Math.floor((MEMORY_SHARE * memory) / (2 * 4));
    return { maxElements, reason: `what this machine's ${approxBytes(memory)} of memory can hold twice (our copy of the weights and ONNX Runtime's): ${approxCount(maxElements)}` };
  }

  /**
   * Refuse a graph whose run would not fit in the machine's memory — the input, the activations alive
   * at once (a training graph keeps its forward activations for the backward pass, which this
   * counts) and the weights, held twice — before its session allocates anything.
   */
  private checkMemory(model: VisionModel, c: Compiled, input: Tensor, what: string): void {
    const memory = this.runtime.memoryBytes?.();
    if (memory === undefined) return;
    c.footprint ??= { activations: peakLiveActivations(c.graph), weights: countElements(model) };
    const { activations, weights } = c.footprint;
    const estimate = 4 * (input.size + activations + 2 * weights);
    if (estimate > MEMORY_SHARE * memory)
      throw new ConfigError(
        `${model.name || model.family}: ${what} on a [${input.shape.join(', ')}] batch would need about ${approxBytes(estimate)} ` +
          `(activations alive at once ~${approxCount(activations)} values, weights ${approxCount(weights)} held twice), ` +
          `more than this machine's ${approxBytes(memory)} allow; use a smaller batch or input size`,
      );
  }

  attach<M extends VisionModel>(model: M): M {
    model.backend = this;
    return model;
  }

  /** How many compiled sessions each model keeps (idle sessions beyond it are released). */
  setSessionCacheSize(n: number): void {
    SessionCache.checkCapacity(n);
    this.cacheSize = n;
  }

  /** A session on this engine's runtime. */
  createSession(bytes: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    return Session.create(this.runtime.ort, bytes, {
      executionProviders: [...this.runtime.executionProviders],
      ...this.runtime.sessionDefaults,
      ...opts,
    });
  }

  openGraph(bytes: Uint8Array, label: string): Promise<Session> {
    return this.createSession(bytes, { label });
  }

  /** `threads` as asked for, validated; more than the machine has is capped at its core count. */
  threads(requested: number | undefined, option = 'threads'): number {
    const max = this.runtime.maxThreads();
    if (requested === undefined) return max;
    if (!(Number.isInteger(requested) && requested >= 1)) throw new ConfigError(`${option} must be an integer ≥ 1, got ${requested}`);
    return Math.min(requested, max);
  }

  private state(model: VisionModel): ModelState {
    let s = this.states.get(model);
    if (!s) {
      s = { sessions: new SessionCache(this.cacheSize), traced: new Map() };
      this.states.set(model, s);
    } else s.sessions.setCapacity(this.cacheSize);
    return s;
  }

  private compiled(s: ModelState, key: string, build: () => Compiled): Compiled {
    let c = s.traced.get(key);
    if (c) {
      s.traced.delete(key);
    } else {
      c = build();
    }
    s.traced.set(key, c);
    // Keep the traced graphs bounded too (a few times the sessions: re-tracing is cheap next to compiling).
    while (s.traced.size > 2 * this.cacheSize) s.traced.delete(s.traced.keys().next().value as string);
    return c;
  }

  private async execute(model: VisionModel, key: string, c: Compiled, threads: number, label: string, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const s = this.state(model);
    // Graphs are lowered for the device they run on (WebGPU: no node wider than its buffer limit).
    const lease = await s.sessions.acquire(key, async () => {
      const name = model.name || model.family;
      model.onCompile?.({ status: 'compile', model: name, graph: label });
      const t0 = performance.now();
      const session = await this.createSession(toModelProto(c.graph, await this.emitOptions(c.graph.paramsAsInputs)), { threads, label: `${name} ${label}` });
      model.onCompile?.({ status: 'compiled', model: name, graph: label, ms: performance.now() - t0 });
      return session;
    });
    try {
      return await lease.session.run(feeds);
    } finally {
      lease.release();
    }
  }

  /** Parameters and buffers fed to a train-mode graph, by key. */
  private stateFeeds(model: VisionModel, c: Compiled): Record<string, Tensor> {
    const sd = model.stateDict();
    const feeds: Record<string, Tensor> = {};
    for (const k of c.stateKeys) feeds[k] = sd[k]!;
    return feeds;
  }

  /** Train-mode forward: BatchNorm's new running statistics go into the model, as in PyTorch. */
  private applyBufferUpdates(model: VisionModel, c: Compiled, out: Record<string, Tensor>): void {
    if (!c.bufferOutputs.length) return;
    const named = new Map(model.namedBuffers());
    for (const key of c.bufferOutputs) named.get(key)!.tensor = out[`new.${key}`]!;
    model.weightsChanged();
  }

  async run(model: VisionModel, x: Tensor, opts: RunOptions = {}): Promise<RunResult> {
    const input = checkInput(model, x, 'run');
    const threads = this.threads(opts.threads);
    const { names: wanted, featureIndices, logits } = requestedOutputs(model, opts);
    const train = model.training;
    // Eval graphs embed the weights, so their key carries the weights' version.
    const what = `${wanted.join(',')}|f${featureIndices?.join('.') ?? '*'}|l${logits ? 1 : 0}`;
    const key = `run|${input.shape.join('x')}|${what}|${train ? 'train' : `eval|w${model.weightsVersion}`}|th${threads}|${model.graphVariant}`;
    const c = this.compiled(this.state(model), key, () => {
      const t = traceModel(model, input.shape, { outputs: wanted, paramsAsInputs: train, featureIndices, logits });
      const bufferOutputs = markBufferUpdates(t.graph);
      return { graph: t.graph, layout: t.layout, stateKeys: train ? [...t.graph.parameterValues().keys()] : [], bufferOutputs };
    });
    this.checkMemory(model, c, input, train ? 'a train-mode forward' : 'a forward pass');
    const feeds: Record<string, Tensor> = { input, ...this.stateFeeds(model, c), ...c.graph.drawRandomInputs(model.random) };
    const out = await this.execute(model, key, c, threads, train ? 'forward (train mode)' : 'forward', feeds);
    this.applyBufferUpdates(model, c, out);
    return unpack(c.layout, out);
  }

  /** The head alone on a final map (`forwardHead`): its own graph, cached like `run`'s. */
  async runHead(model: VisionModel, x: Tensor, opts: ForwardHeadOptions = {}): Promise<Tensor> {
    const name = model.name || model.family;
    if (!(x instanceof Tensor) || x.dtype !== 'float32')
      throw new ConfigError(`${name}.forwardHead: the features must be a float32 visionmix Tensor (forwardFeatures' output)`);
    const threads = this.threads(opts.threads);
    const preLogits = opts.preLogits ?? false;
    if (typeof preLogits !== 'boolean') throw new ConfigError(`forwardHead option 'preLogits' must be true or false, got ${JSON.stringify(preLogits)}`);
    const train = model.training;
    const key = `head|${x.shape.join('x')}|p${preLogits ? 1 : 0}|${train ? 'train' : `eval|w${model.weightsVersion}`}|th${threads}|${model.graphVariant}`;
    const c = this.compiled(this.state(model), key, () => {
      const graph = traceHead(model, x.shape, { preLogits, paramsAsInputs: train });
      return { graph, layout: {}, stateKeys: train ? [...graph.parameterValues().keys()] : [], bufferOutputs: [] };
    });
    const feeds: Record<string, Tensor> = { input: x, ...this.stateFeeds(model, c), ...c.graph.drawRandomInputs(model.random) };
    const out = await this.execute(model, key, c, threads, preLogits ? 'head (pre-logits)' : 'head', feeds);
    return out.logits!;
  }

  async lossAndGrads(model: VisionModel, x: Tensor, targets: unknown, opts: LossOptions = {}): Promise<LossAndGrads> {
    const input = checkInput(model, x, 'lossAndGrads');
    const threads = this.threads(opts.threads);
    const objective = (opts.objective ?? crossEntropy()) as Objective<unknown>;
    const variant = opts.variant || model.graphVariant;
    const key = `loss|${input.shape.join('x')}|${objective.name}|${model.training ? 'train' : 'eval'}|th${threads}|${variant}`;
    const { nchwcBlock } = await this.emitOptions();
    const c = this.compiled(this.state(model), key, () => {
      const lg = buildLossGraph(model, objective, input.shape, { variant, nchwcBlock });
      const g = lg.graph;
      withGraph(g, () => {
        g.markOutput(lg.loss, 'loss');
        for (const [name, v] of Object.entries(lg.metrics)) g.markOutput(v, `metric.${name}`);
        lg.paramKeys.forEach((k, i) => g.markOutput(lg.grads[i]!, `grad.${k}`));
      });
      const bufferOutputs = markBufferUpdates(g);
      return { graph: g, layout: {}, stateKeys: [...g.parameterValues().keys()], bufferOutputs, feedTargets: lg.feed };
    });
    this.checkMemory(model, c, input, 'the loss and its gradients');
    const given = c.feedTargets!(targets);
    const feeds: Record<string, Tensor> = { input, ...given, ...this.stateFeeds(model, c), ...c.graph.drawRandomInputs(model.random, given) };
    const out = await this.execute(model, key, c, threads, `loss and gradients (${objective.name})`, feeds);
    this.applyBufferUpdates(model, c, out);
    const grads: Record<string, Tensor> = {};
    const metrics: Record<string, number> = {};
    for (const [name, t] of Object.entries(out)) {
      if (name.startsWith('grad.')) grads[name.slice(5)] = t;
      else if (name.startsWith('metric.')) metrics[name.slice(7)] = t.toArray()[0]!;
    }
    return { loss: out.loss!.toArray()[0]!, metrics, grads };
  }

  /**
   * An objective's loss and metrics on a batch, without gradients (weights as constants, as in
   * inference), plus the named outputs asked for — FCMAE's `pred`, for instance.
   */
  async evaluate<T>(
    model: VisionModel,
    x: Tensor,
    targets: T,
    o: { objective: Objective<T>; outputs?: readonly string[]; threads?: number; variant?: string },
  ): Promise<{ loss: number; metrics: Record<string, number>; outputs: Record<string, TensorTree> }> {
    const input = checkInput(model, x, 'evaluate');
    const threads = this.threads(o.threads);
    const names = [...(o.outputs ?? [])].sort();
    checkOutputNames(model, names);
    const variant = o.variant || model.graphVariant;
    const key = `evalloss|${input.shape.join('x')}|${o.objective.name}|${names.join(',')}|${model.training ? 'train' : 'inference'}|eval|w${model.weightsVersion}|th${threads}|${variant}`;
    const c = this.compiled(this.state(model), key, () => {
      const lg = buildLossGraph(model, o.objective, input.shape, { withGradients: false, variant });
      const g = lg.graph;
      const layout: { [name: string]: OutputLayout } = {};
      withGraph(g, () => {
        g.markOutput(lg.loss, 'loss');
        for (const [name, v] of Object.entries(lg.metrics)) g.markOutput(v, `metric.${name}`);
        for (const name of names) layout[name] = markOutputTree(g, lg.outputs[name]!, name);
      });
      const bufferOutputs = markBufferUpdates(g);
      return { graph: g, layout, stateKeys: [], bufferOutputs, feedTargets: lg.feed as (t: unknown) => Record<string, Tensor> };
    });
    this.checkMemory(model, c, input, 'the loss');
    const given = c.feedTargets!(targets);
    const feeds: Record<string, Tensor> = { input, ...given, ...c.graph.drawRandomInputs(model.random, given) };
    const out = await this.execute(model, key, c, threads, `loss (${o.objective.name})`, feeds);
    this.applyBufferUpdates(model, c, out);
    const metrics: Record<string, number> = {};
    for (const [name, t] of Object.entries(out)) if (name.startsWith('metric.')) metrics[name.slice(7)] = t.toArray()[0]!;
    const outputs: Record<string, TensorTree> = {};
    for (const [name, l] of Object.entries(c.layout)) outputs[name] = collectOutputs(l, out);
    return { loss: out.loss!.toArray()[0]!, metrics, outputs };
  }

  /**
   * Compile the train step of `model` (switched to train mode) under `objective`. Where the runtime
   * says how much memory it has (a machine's, or onnxruntime-web's 4 GiB wasm heap), the step's
   * memory is estimated first: above the limit it is refused with the micro-batch size that fits, or
   * with `microBatch: 'auto'` run in micro-batches of that size (gradient accumulation: the same
   * update; see TrainStepOptions.microBatch).
   */
  async compileTrainStep<T>(model: VisionModel, objective: Objective<T>, o: TrainStepCompileOptions, session: SessionOptions = {}): Promise<TrainStep<T>> {
    model.train();
    const microBatch = this.fitMicroBatch(model, objective as Objective<unknown>, o);
    // Emitted for this engine's runtime (WebGPU: no node wider than its buffer limit) unless the caller
    // names a target; the NCHWc block is always the runtime's (a wrong one would give wrong numbers).
    const emit = o.target === undefined ? await this.emitOptions() : { target: o.target, nchwcBlock: 0 };
    return TrainStep.compile(model, objective, { ...o, ...emit, microBatch }, this.trainStepSessions(session));
  }

  /**
   * How graphs are emitted for this engine's runtime: its target and, on onnxruntime-node's CPU EP,
   * its NCHWc block size — asked only for graphs that feed their parameters (train and loss graphs):
   * inference graphs never use the NCHWc emission (conv.ts), so they skip the block probe's session.
   */
  async emitOptions(feedsParameters = true): Promise<{ target: Target; nchwcBlock: number }> {
    const target = (await this.runtime.emitTarget?.()) ?? 'cpu';
    return { target, nchwcBlock: feedsParameters && target === 'cpu' ? ((await this.runtime.nchwcBlock?.()) ?? 0) : 0 };
  }

  /**
   * The session factory of train-step graphs on this engine: TRAIN_STEP_SESSION's options, the
   * outputs the step keeps on the device, then `options` (threads, …) over them.
   */
  trainStepSessions(options: SessionOptions = {}): SessionFactory {
    return (bytes, label, so) => this.createSession(bytes, { ...TRAIN_STEP_SESSION, label, keepOnDevice: so?.keepOnDevice, ...options });
  }

  /**
   * The micro-batch size a train step runs with within this runtime's memory (undefined: the whole
   * batch): `o.microBatch` if it fits, the largest that fits for 'auto'; otherwise a ConfigError naming
   * it. See compileTrainStep.
   */
  fitMicroBatch(model: VisionModel, objective: Objective<unknown>, o: TrainStepCompileOptions): number | undefined {
    const auto = o.microBatch === 'auto';
    const given = auto ? undefined : (o.microBatch as number | undefined);
    const memory = this.runtime.memoryBytes?.();
    if (memory === undefined) return given;
    const [batch, ...rest] = o.batchShape as [number, ...number[]];
    const budget = MEMORY_SHARE * memory;
    const bytes = (images: number) => trainStepBytes(model, objective, { ...o, microBatch: undefined, batchShape: [images, ...rest] });
    const images = Math.min(batch, given ?? batch);
    const need = bytes(images);
    if (need <= budget) return given;
    // Activations grow about in proportion to the images: start from that guess, then check it.
    let fits = Math.min(images - 1, Math.floor((images * budget) / need));
    while (fits >= 1 && bytes(fits) > budget) fits = Math.floor(fits * 0.9);
    if (auto && fits >= 1) return fits;
    const what = images < batch ? `micro-batches of ${images} images` : `a batch of ${batch} images`;
    throw new ConfigError(
      `${model.name || model.family}: a train step on ${what} [${[images, ...rest].join(', ')}] would need about ${approxBytes(need)}, ` +
        `more than this runtime's ${approxBytes(memory)} allow; ` +
        (fits >= 1 ? `${fits} image${fits === 1 ? '' : 's'} at a time fit: pass microBatch: ${fits} (or 'auto': the same update, in micro-batches)` : 'not even one image fits: use a smaller input size'),
    );
  }

  readWeights(source: string, opts?: ReadWeightsOptions): Promise<Map<string, Tensor>> {
    return this.runtime.readWeights(source, opts);
  }

  warn(message: string): void {
    if (this.warningSink) this.warningSink(message);
    else this.runtime.warn(message);
  }

  private warningSink: ((message: string) => void) | null = null;

  /**
   * Where this engine's warnings go (a non-commercial weights licence, …); null: the runtime's
   * default (Node: process.emitWarning; browser: console.warn). The CLI prints them as plain lines.
   */
  onWarning(sink: ((message: string) => void) | null): void {
    this.warningSink = sink;
  }

  invalidate(model: VisionModel, all = false): void {
    const s = this.states.get(model);
    if (!s) return;
    if (all) {
      this.states.delete(model);
      s.sessions.clear();
      return;
    }
    // Only eval graphs embed weights (their keys carry the old version and would never be hit
    // again); train-mode graphs take the weights as inputs and stay valid.
    for (const key of [...s.traced.keys()]) if (key.includes('|eval|w')) s.traced.delete(key);
    s.sessions.clear((key) => key.includes('|eval|w'));
  }
}

/** Mark BatchNorm's running-statistic updates of a train-mode graph as outputs `new.<key>`. */
function markBufferUpdates(g: Graph): string[] {
  const keys = [...g.bufferUpdates.keys()];
  for (const k of keys) g.markOutput(g.bufferUpdates.get(k)!, `new.${k}`);
  return keys;
}

/** The input, validated: a float32 Tensor. (VisionModel.run hands over a copy taken at call time.) */
function checkInput(model: VisionModel, x: unknown, what: string): Tensor {
  const name = model.name || model.family;
  if (!(x instanceof Tensor))
    throw new ConfigError(`${name}.${what}: the input must be a visionmix Tensor [N, ${model.defaultInputSize[0]}, H, W] (Tensor.from(data, shape)), got ${x === null ? 'null' : typeof x}`);
  if (x.dtype !== 'float32') throw new ShapeError(`${name}.${what}: the input must be float32, got ${x.dtype}`);
  return x;
}

/** Output names asked for by `run` options (`features: true`, …), validated against the model's outputs. */
function requestedOutputs(model: VisionModel, opts: RunOptions): { names: string[]; featureIndices?: number[]; logits: boolean } {
  const names: string[] = [];
  let featureIndices: number[] | undefined;
  const logits = opts.logits ?? model.outputNames.includes('logits');
  if (typeof logits !== 'boolean') throw new ConfigError(`run option 'logits' must be true or false, got ${JSON.stringify(logits)}`);
  for (const [k, v] of Object.entries(opts)) {
    if (k === 'threads' || k === 'logits' || v === undefined || v === false) continue;
    if (k === 'features' && Array.isArray(v)) {
      featureIndices = [...new Set(v as number[])].sort((a, b) => a - b);
      names.push(k);
      continue;
    }
    if (v !== true) throw new ConfigError(`run option '${k}' must be true or false${k === 'features' ? ' or a list of stage indices' : ''}, got ${JSON.stringify(v)}`);
    if (!model.outputNames.includes(k) || k === 'logits')
      throw new ConfigError(
        `${model.name || model.family}: unknown run option '${k}' (outputs to ask for: ${model.outputNames.filter((n) => n !== 'logits').join(', ')}; and 'threads')`,
      );
    names.push(k);
  }
  return { names: names.sort(), featureIndices, logits };
}

function unpack(layout: { [name: string]: OutputLayout }, out: Record<string, Tensor>): RunResult {
  const res = { features: [] } as unknown as RunResult;
  if (out.logits) res.logits = out.logits;
  for (const [name, l] of Object.entries(layout)) if (name !== 'logits') res[name] = collectOutputs(l, out);
  return res;
}

/**
 * `compileTrainStep`'s options: a train step's, with `microBatch: 'auto'` (the largest that fits in
 * memory), and without the NCHWc block size, which is always the engine's runtime's.
 */
export type TrainStepCompileOptions = Omit<TrainStepOptions, 'microBatch' | 'nchwcBlock'> & { microBatch?: number | 'auto' };

/**
 * Memory of a train step's graph: its float values alive at once (forward activations kept for the
 * backward, gradients, the update), × 4 bytes, × TRAIN_STEP_SLACK for what ONNX Runtime holds beyond
 * them. Measured on ConvNeXt V2-atto b32 224² in Node: 1.25 GB of values alive at once, 1.78 GB peak
 * RSS in a fresh process (its own 0.09 GB included; ORT's arena: 1.44 GB in use at most, held in
 * power-of-two regions), with parameter gradients scheduled where the backward reaches them
 * (graph/autodiff.ts; before that, 2.25 GB).
 */
export function trainStepBytes(model: VisionModel, objective: Objective<unknown>, o: TrainStepOptions): number {
  return TRAIN_STEP_SLACK * 4 * peakLiveActivations(buildTrainGraph(model, objective, o).graph);
}

const TRAIN_STEP_SLACK = 1.5;
