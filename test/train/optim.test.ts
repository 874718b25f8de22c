/**
 * Optimizers, schedule, targets and the compiled train step, against small float64 references
 * written from torch.optim's documented algorithms (AdamW, SGD) rather than from our graph code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/index.js';
import { Graph, withGraph, toModelProto } from '../../src/graph/index.js';
import type { VisionModel } from '../../src/models/base.js';
import { traceForward } from '../../src/models/trace.js';
import { DropPath, type KeepMask } from '../../src/nn/index.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor, type DType } from '../../src/tensor.js';
import { crossEntropy, smoothedTargets, type ClassTargets } from '../../src/train/losses.js';
import { adamw, sgd, type Optimizer } from '../../src/train/optim.js';
import { cosineLr } from '../../src/train/schedule.js';
import { TrainStep, type TrainStepOptions } from '../../src/train/step.js';
import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

// ---- float64 reference optimizers (torch.optim semantics) -----------------------------------------

/** One parameter tensor's view of an optimizer: its own state, shared hyper-parameters. */
interface RefOptimizer {
  /** Update `p` in place with gradient `g` at learning rate `lr`. */
  step(p: Float64Array, g: Float64Array, lr: number): void;
}

/**
 * torch.optim.AdamW for one tensor: p ← p(1 − lr·wd) (decoupled decay first), then
 * m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
 */
class RefAdamW implements RefOptimizer {
  private m: Float64Array;
  private v: Float64Array;
  private t = 0;

  constructor(
    n: number,
    private readonly o: { betas: [number, number]; eps: number; weightDecay: number },
  ) {
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
  }

  step(p: Float64Array, g: Float64Array, lr: number): void {
    const [b1, b2] = this.o.betas;
    this.t++;
    const bc1 = 1 - b1 ** this.t;
    const bc2 = 1 - b2 ** this.t;
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! * (1 - lr * this.o.weightDecay);
      this.m[i] = b1 * this.m[i]! + (1 - b1) * g[i]!;
      this.v[i] = b2 * this.v[i]! + (1 - b2) * g[i]! * g[i]!;
      const denom = Math.sqrt(this.v[i]!) / Math.sqrt(bc2) + this.o.eps; // eps outside the sqrt
      p[i] = p[i]! - (lr / bc1) * (this.m[i]! / denom);
    }
  }

  get state(): Float64Array[] {
    return [this.m, this.v];
  }
}

/**
 * torch.optim.SGD for one tensor (dampening 0): g ← g + wd·p (coupled L2), the momentum buffer is
 * the first gradient itself and μ·b + g afterwards; Nesterov steps along g + μ·b, else along b.
 */
class RefSGD implements RefOptimizer {
  private buf: Float64Array | null = null;

  constructor(private readonly o: { momentum: number; nesterov: boolean; weightDecay: number }) {}

  step(p: Float64Array, grad: Float64Array, lr: number): void {
    const { momentum: mu, nesterov, weightDecay: wd } = this.o;
    const g = Float64Array.from(grad, (v, i) => v + wd * p[i]!);
    let d: Float64Array = g;
    if (mu !== 0) {
      if (this.buf === null) this.buf = g.slice();
      else for (let i = 0; i < g.length; i++) this.buf[i] = mu * this.buf[i]! + g[i]!;
      d = nesterov ? Float64Array.from(g, (v, i) => v + mu * this.buf![i]!) : this.buf;
    }
    for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * d[i]!;
  }

  get state(): Float64Array[] {
    return this.buf ? [this.buf] : [];
  }
}

// ---- helpers -------------------------------------------------------------------------------------

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function tensorOf(values: ArrayLike<number>, shape: readonly number[], dtype: 'float32' | 'float64' = 'float32'): Tensor {
  return dtype === 'float64'
    ? new Tensor(Float64Array.from(values), shape, 'float64')
    : new Tensor(Float32Array.from(values), shape, 'float32');
}

/** max |got − want| / max |want| over a tensor (relative to the tensor's scale, not per element). */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < got.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return scale > 0 ? diff / scale : diff;
}

function f64(t: Tensor): Float64Array {
  return Float64Array.from(t.data as ArrayLike<number>);
}

// ---- optimizer-only graphs --------------------------------------------------------------------------

interface ParamSpec {
  name: string;
  shape: number[];
  weightDecay: number;
  lrScale: number;
  /** Standard deviation of the random gradients (tiny ones make eps matter). */
  gradStd: number;
}

/** p, g, state, lr, bc1, bc2 → new p, new state, for every spec: the update part of a train step. */
function optimizerGraph(opt: Optimizer, specs: ParamSpec[], dtype: DType): Graph {
  const g = new Graph(`${opt.kind}_only`);
  withGraph(g, () => {
    const lr = g.input('lr', [], dtype);
    const bc1 = g.input('bc1', [], dtype);
    const bc2 = g.input('bc2', [], dtype);
    for (const s of specs) {
      const upd = opt.update(
        {
          param: g.input(`p.${s.name}`, s.shape, dtype),
          grad: g.input(`g.${s.name}`, s.shape, dtype),
          state: opt.stateNames.map((n) => g.input(`${n}.${s.name}`, s.shape, dtype)),
          weightDecay: s.weightDecay,
          lrScale: s.lrScale,
        },
        { lr, bc1, bc2 },
      );
      g.markOutput(upd.param, `new.p.${s.name}`);
      upd.state.forEach((v, j) => g.markOutput(v, `new.${opt.stateNames[j]}.${s.name}`));
    }
  });
  return g;
}

const SPECS: ParamSpec[] = [
  { name: 'conv', shape: [4, 3, 2, 2], weightDecay: -1, lrScale: 1, gradStd: 1 }, // -1: the optimizer's default
  { name: 'bias', shape: [5], weightDecay: 0, lrScale: 0.5, gradStd: 0.01 },
  { name: 'tiny', shape: [6], weightDecay: 0.1, lrScale: 1, gradStd: 1e-7 },
];
const LRS = [0.1, 0.05, 0.2, 0.01, 0.08];

/**
 * Run `opt` as a graph for 5 steps (changing random gradients and lr, new state fed back each step)
 * next to the reference built by `makeRef`, and return the worst relative error of params and state.
 */
async function compareOptimizer(
  opt: Optimizer,
  makeRef: (n: number, weightDecay: number) => RefOptimizer & { state: Float64Array[] },
  dtype: 'float32' | 'float64',
): Promise<number> {
  const rng = new Rng(7);
  const specs = SPECS.map((s) => ({ ...s, weightDecay: s.weightDecay < 0 ? opt.defaultWeightDecay : s.weightDecay }));
  const session = await createNodeSession(toModelProto(optimizerGraph(opt, specs, dtype)), { label: `${opt.kind} graph` });
  const refP = specs.map((s) => Float64Array.from({ length: size(s.shape) }, () => rng.normal()));
  const refs = specs.map((s, i) => makeRef(refP[i]!.length, s.weightDecay));
  // Graph-side state; starts from the same (representable) values as the reference.
  const params = specs.map((s, i) => tensorOf(refP[i]!, s.shape, dtype));
  refP.forEach((p, i) => p.set(f64(params[i]!)));
  let state = specs.map((s) => opt.stateNames.map(() => tensorOf(new Float64Array(size(s.shape)), s.shape, dtype)));
  let worst = 0;
  for (let t = 1; t <= LRS.length; t++) {
    const lr = LRS[t - 1]!;
    const { bc1, bc2 } = opt.corrections(t);
    const feeds: Record<string, Tensor> = { lr: tensorOf([lr], [], dtype), bc1: tensorOf([bc1], [], dtype), bc2: tensorOf([bc2], [], dtype) };
    specs.forEach((s, i) => {
      const grad = tensorOf(Array.from({ length: size(s.shape) }, () => rng.normal(0, s.gradStd)), s.shape, dtype);
      feeds[`p.${s.name}`] = params[i]!;
      feeds[`g.${s.name}`] = grad;
      opt.stateNames.forEach((n, j) => (feeds[`${n}.${s.name}`] = state[i]![j]!));
      refs[i]!.step(refP[i]!, f64(grad), lr * s.lrScale);
    });
    const out = await session.run(feeds);
    state = specs.map((s, i) => {
      params[i] = out[`new.p.${s.name}`]!;
      const e = relErr(params[i]!.data as ArrayLike<number>, refP[i]!);
      assert.ok(e <= (dtype === 'float64' ? 1e-12 : 1e-6), `${opt.kind} ${dtype} step ${t} ${s.name}: rel err ${e.toExponential(2)}`);
      worst = Math.max(worst, e);
      return opt.stateNames.map((n, j) => {
        const st = out[`new.${n}.${s.name}`]!;
        // torch keeps no momentum buffer when momentum = 0 (the graph's then equals the gradient).
        if (!refs[i]!.state[j]) return st;
        const es = relErr(st.data as ArrayLike<number>, refs[i]!.state[j]!);
        assert.ok(es <= (dtype === 'float64' ? 1e-12 : 1e-6), `${opt.kind} ${dtype} step ${t} ${n}.${s.name}: rel err ${es.toExponential(2)}`);
        worst = Math.max(worst, es);
        return st;
      });
    });
  }
  await session.release();
  return worst;
}

for (const dtype of ['float64', 'float32'] as const) {
  test(`AdamW graph = torch.optim.AdamW over 5 steps (${dtype})`, async (t) => {
    for (const o of [
      { betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.05 },
      { betas: [0.8, 0.95] as [number, number], eps: 1e-6, weightDecay: 0.3 },
    ]) {
      const worst = await compareOptimizer(adamw(o), (n, wd) => new RefAdamW(n, { ...o, weightDecay: wd }), dtype);
      t.diagnostic(`betas ${o.betas} eps ${o.eps} wd ${o.weightDecay}: worst rel err ${worst.toExponential(2)}`);
    }
  });

  test(`SGD graph = torch.optim.SGD over 5 steps (${dtype})`, async (t) => {
    for (const o of [
      { momentum: 0.9, nesterov: false, weightDecay: 0.01 },
      { momentum: 0.9, nesterov: true, weightDecay: 0.05 },
      { momentum: 0, nesterov: false, weightDecay: 0 },
    ]) {
      const worst = await compareOptimizer(sgd(o), (_n, wd) => new RefSGD({ ...o, weightDecay: wd }), dtype);
      t.diagnostic(`momentum ${o.momentum} nesterov ${o.nesterov} wd ${o.weightDecay}: worst rel err ${worst.toExponential(2)}`);
    }
  });
}

test('optimizer options are validated', () => {
  assert.throws(() => adamw({ betas: [1.5, 0.999] }), ConfigError);
  assert.throws(() => adamw({ eps: 0 }), ConfigError);
  assert.throws(() => sgd({ momentum: -0.1 }), ConfigError);
  assert.deepEqual(adamw({ betas: [0.9, 0.99] }).corrections(2), { bc1: 1 - 0.9 ** 2, bc2: 1 - 0.99 ** 2 });
});

// ---- schedule and targets -----------------------------------------------------------------------

test('cosineLr: warmup, cosine decay and floor', () => {
  const s = { baseLr: 1e-3, totalSteps: 110, warmupSteps: 10, warmupStartLr: 1e-6, minLr: 1e-5 };
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-15, `${what}: ${a} vs ${b}`);
  close(cosineLr(s, 0), 1e-6, 'step 0 = warmup start');
  close(cosineLr(s, 5), 1e-6 + (1e-3 - 1e-6) / 2, 'mid-warmup, linear');
  close(cosineLr(s, 10), 1e-3, 'end of warmup = base lr');
  close(cosineLr(s, 60), (1e-3 + 1e-5) / 2, 'middle of the cosine = mean of base and min');
  close(cosineLr(s, 35), 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + Math.cos(Math.PI / 4)), 'quarter of the cosine');
  close(cosineLr(s, 110), 1e-5, 'end = min lr');
  close(cosineLr(s, 500), 1e-5, 'past the end stays at min lr');
  // Without warmup the schedule starts at the base lr; the default warmup start and min lr are 0.
  close(cosineLr({ baseLr: 0.1, totalSteps: 10 }, 0), 0.1, 'no warmup');
  close(cosineLr({ baseLr: 0.1, totalSteps: 10 }, 10), 0, 'default min lr');
  close(cosineLr({ baseLr: 0.1, totalSteps: 10, warmupSteps: 4 }, 0), 0, 'default warmup start');
  assert.throws(() => cosineLr({ baseLr: 0, totalSteps: 10 }, 0), ConfigError);
});

test('smoothedTargets: one-hot with label smoothing ε spread as ε/K', () => {
  const t = smoothedTargets([2, 0], 4, 0.1);
  const rows = [Array.from(t.subarray(0, 4)), Array.from(t.subarray(4, 8))];
  const on = 1 - 0.1 + 0.1 / 4;
  const off = 0.1 / 4;
  rows[0]!.forEach((v, k) => assert.ok(Math.abs(v - (k === 2 ? on : off)) < 1e-7));
  rows[1]!.forEach((v, k) => assert.ok(Math.abs(v - (k === 0 ? on : off)) < 1e-7));
  for (const r of rows) assert.ok(Math.abs(r.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'rows sum to 1');
  assert.deepEqual(Array.from(smoothedTargets(Int32Array.of(1), 3)), [0, 1, 0]);
  // A reused buffer is fully overwritten.
  const buf = new Float32Array(6).fill(9);
  assert.equal(smoothedTargets([0, 2], 3, 0, buf), buf);
  assert.deepEqual(Array.from(buf), [1, 0, 0, 0, 0, 1]);
  assert.throws(() => smoothedTargets([3], 3), ConfigError);
  assert.throws(() => smoothedTargets([0.5], 3), ConfigError);
  assert.throws(() => smoothedTargets([0], 3, 1), ConfigError);
});

// ---- the compiled train step on a tiny ConvNeXt V2 ------------------------------------------------

const BATCH = [4, 3, 32, 32];
const LABELS = Int32Array.of(3, 7, 0, 9);

function tinyModel(extra: Record<string, unknown> = {}): VisionModel {
  return createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 10, ...extra }).train();
}

function batch(seed: number): Tensor {
  const rng = new Rng(seed);
  return new Tensor(Float32Array.from({ length: size(BATCH) }, () => rng.normal()), BATCH, 'float32');
}

function compile(model: VisionModel, o: Omit<TrainStepOptions, 'batchShape'>): Promise<TrainStep<ClassTargets>> {
  return TrainStep.compile(model, crossEntropy(), { batchShape: BATCH, ...o }, (bytes, label) => createNodeSession(bytes, { label }));
}

/** A snapshot (copies) of tensors that a later step may replace. */
function snapshot(m: Map<string, Tensor>): Map<string, Float64Array> {
  return new Map([...m].map(([k, v]) => [k, f64(v)]));
}

test('TrainStep: clipped AdamW update equals reference AdamW on grads scaled to clipGradNorm', async (t) => {
  const model = tinyModel();
  const x = batch(11);
  // Reference gradients from the model's own loss+grad graph (mean CE against the labels).
  const { loss: refLoss, grads } = await model.lossAndGrads(x, LABELS);
  const keys = model.namedParameters().map(([k]) => k);
  let sq = 0;
  for (const k of keys) for (const v of grads[k]!.data as Float32Array) sq += v * v;
  const norm = Math.sqrt(sq);
  const maxNorm = 1e-3;
  const coef = Math.min(1, maxNorm / (norm + 1e-6)); // torch.nn.utils.clip_grad_norm_

  // eps comparable to the clipped gradients, so Adam's update depends on their scale (with the
  // default 1e-8, step 1 of Adam is ≈ lr·sign(g) whatever the clipping).
  const o = { betas: [0.9, 0.999] as [number, number], eps: 1e-5, weightDecay: 0.05 };
  const lr = 0.01;
  const step = await compile(model, { optimizer: adamw(o), clipGradNorm: maxNorm });
  const before = snapshot(step.getState().params);
  const res = await step.step(x, new Tensor(smoothedTargets(LABELS, 10), [LABELS.length, 10], 'float32'), lr, new Rng(0));
  assert.ok(Math.abs(res.loss - refLoss) <= 1e-5, `loss ${res.loss} vs ${refLoss}`);
  assert.ok(Math.abs(res.gradNorm - norm) <= 1e-4 * norm, `grad norm ${res.gradNorm} vs ${norm} (reported before clipping)`);

  const named = new Map(model.namedParameters());
  let worst = 0;
  let unclippedGap = 0;
  for (const k of keys) {
    const p0 = before.get(k)!;
    // Default: decoupled decay only for tensors of rank ≥ 2.
    const wd = named.get(k)!.shape.length >= 2 ? o.weightDecay : 0;
    const g = f64(grads[k]!);
    const ref = p0.slice();
    new RefAdamW(ref.length, { ...o, weightDecay: wd }).step(ref, g.map((v) => v * coef), lr);
    const unclipped = p0.slice();
    new RefAdamW(ref.length, { ...o, weightDecay: wd }).step(unclipped, g, lr);
    const got = f64(step.getState().params.get(k)!);
    // Compare the applied updates relative to their size. A float32 parameter of magnitude |p|
    // cannot hold an update finer than its rounding (~2⁻²⁴·|p| per operation), which for
    // LayerNorm weights (p = 1) is a visible fraction of these tiny clipped steps: allow it.
    const dRef = ref.map((v, i) => v - p0[i]!);
    const scale = Math.max(...dRef.map(Math.abs));
    let e = 0;
    got.forEach((v, i) => {
      const err = Math.abs(v - p0[i]! - dRef[i]!);
      e = Math.max(e, err / (1e-4 * scale + 2 ** -22 * Math.abs(p0[i]!)));
    });
    assert.ok(e <= 1, `${k}: update differs by ${e.toFixed(2)}× the allowed 1e-4 relative + float32 rounding`);
    worst = Math.max(worst, e);
    unclippedGap = Math.max(unclippedGap, relErr(unclipped.map((v, i) => v - p0[i]!), dRef));
  }
  // The check is only meaningful if clipping changes the update noticeably.
  assert.ok(unclippedGap > 0.1, `clipping should matter here (gap ${unclippedGap})`);
  t.diagnostic(`|g| ${norm.toExponential(3)}, coef ${coef.toExponential(3)}; worst update error ${worst.toFixed(3)} of the allowance; unclipped update differs by ${unclippedGap.toFixed(2)} (relative)`);
  await step.release();
});

test('TrainStep: EMA after 2 steps is the decay-weighted average of the parameter trajectory', async () => {
  const model = tinyModel();
  const decay = 0.9;
  const step = await compile(model, { optimizer: adamw({ weightDecay: 0.05 }), emaDecay: decay });
  const traj = [snapshot(step.getState().params)];
  for (let i = 0; i < 2; i++) {
    await step.step(batch(20 + i), new Tensor(smoothedTargets(LABELS, 10, 0.1), [LABELS.length, 10], 'float32'), 0.05, new Rng(i));
    traj.push(snapshot(step.getState().params));
  }
  assert.equal(step.stepCount, 2);
  for (const [k, ema] of step.getState().ema) {
    const [p0, p1, p2] = traj.map((m) => m.get(k)!) as [Float64Array, Float64Array, Float64Array];
    const ref = p0.map((v, i) => decay * (decay * v + (1 - decay) * p1[i]!) + (1 - decay) * p2[i]!);
    const e = relErr(f64(ema), ref);
    assert.ok(e <= 1e-6, `ema.${k}: rel err ${e.toExponential(2)}`);
  }
  // The parameters did move, so the EMA is not trivially equal to them.
  const k = traj[0]!.keys().next().value!;
  assert.ok(relErr(traj[2]!.get(k)!, traj[0]!.get(k)!) > 1e-4);
  await step.release();
});

test('TrainStep: a non-finite loss leaves params, optimizer state and EMA unchanged', async () => {
  const model = tinyModel();
  const step = await compile(model, { optimizer: adamw(), emaDecay: 0.99 });
  const x = batch(30);
  (x.data as Float32Array)[5] = NaN;
  const st = step.getState();
  const before = { params: snapshot(st.params), optimizer: snapshot(st.optimizer), ema: snapshot(st.ema) };
  const res = await step.step(x, new Tensor(smoothedTargets(LABELS, 10), [LABELS.length, 10], 'float32'), 0.01, new Rng(1));
  assert.ok(Number.isNaN(res.loss), `loss should be NaN, got ${res.loss}`);
  assert.equal(step.stepCount, 0, 'the step counter does not advance');
  for (const part of ['params', 'optimizer', 'ema'] as const)
    for (const [k, v] of before[part]) assert.deepEqual(f64(step.getState()[part].get(k)!), v, `${part} ${k} values unchanged`);
  // A finite batch afterwards trains normally, as step 1.
  const ok = await step.step(batch(31), new Tensor(smoothedTargets(LABELS, 10), [LABELS.length, 10], 'float32'), 0.01, new Rng(1));
  assert.ok(Number.isFinite(ok.loss));
  assert.equal(step.stepCount, 1);
  await step.release();
});

test('TrainStep: weight decay skips 1-D params by default, applies to all with decayAll', async () => {
  const wd = 0.5;
  const lr = 0.01;
  const x = batch(40);
  const run = async (decayAll: boolean) => {
    const model = tinyModel(); // same init seed → same initial weights
    const step = await compile(model, { optimizer: adamw({ weightDecay: wd }), decayAll });
    const p0 = snapshot(step.getState().params);
    await step.step(x, new Tensor(smoothedTargets(LABELS, 10), [LABELS.length, 10], 'float32'), lr, new Rng(0));
    const p1 = snapshot(step.getState().params);
    await step.release();
    return { p0, p1, shapes: new Map(model.namedParameters().map(([k, p]) => [k, p.shape])) };
  };
  const def = await run(false);
  const all = await run(true);
  // Same gradients and Adam terms in both; decoupled decay only adds −lr·wd·p0 where it applies:
  // p(decayAll) − p(default) = −lr·wd·p0 on 1-D tensors and 0 on the rest.
  let oneDimNonZero = 0;
  for (const [k, shape] of def.shapes) {
    const p0 = def.p0.get(k)!;
    assert.deepEqual(all.p0.get(k), p0, `${k}: same initial weights`);
    const diff = all.p1.get(k)!.map((v, i) => v - def.p1.get(k)![i]!);
    const want = shape.length <= 1 ? p0.map((v) => -lr * wd * v) : new Float64Array(p0.length);
    const err = Math.max(...diff.map((d, i) => Math.abs(d - want[i]!)));
    assert.ok(err <= 2e-7, `${k} [${shape}]: decay difference off by ${err.toExponential(2)}`);
    if (shape.length <= 1 && p0.some((v) => v !== 0)) oneDimNonZero++;
  }
  assert.ok(oneDimNonZero > 0, 'some 1-D parameter (LayerNorm weight) is non-zero, so the check has teeth');
});

// ---- drop path randomness --------------------------------------------------------------------------

test('DropPath in train mode requests a random keep-mask input; drawRandomInputs draws 0 or 1/keep', async () => {
  const p = 0.25;
  const keep = 1 - p;
  const dp = new DropPath(p);
  const trace = () => {
    const g = new Graph('droppath');
    withGraph(g, () => g.markOutput(dp.call(g.input('x', [6, 4, 3, 3])), 'y'));
    return g;
  };
  assert.equal(trace().randomInputs.length, 0, 'eval mode: no randomness');
  dp.train();
  const g = trace();
  assert.equal(g.randomInputs.length, 1);
  const { value, spec } = g.randomInputs[0]!;
  assert.equal((spec as KeepMask).keep, keep);
  assert.equal(spec.describe, `drop path, keep ${keep}`);
  assert.deepEqual(value.shape, [6, 1, 1, 1], 'one draw per sample');
  assert.ok(g.inputs.includes(value), 'the mask is a graph input');

  // Values are 0 or 1/keep; over many draws P(keep) ≈ keep and E[mask] ≈ 1 (unbiased).
  const rng = new Rng(99);
  let kept = 0;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < 2000; i++) {
    const mask = g.drawRandomInputs(rng)[value.name!]!;
    assert.deepEqual(mask.shape, [6, 1, 1, 1]);
    for (const v of mask.data as Float32Array) {
      assert.ok(v === 0 || v === Math.fround(1 / keep), `mask value ${v}`);
      if (v !== 0) kept++;
      sum += v;
      n++;
    }
  }
  // 12000 Bernoulli(0.75) draws: std of the mean ≈ 0.004, so 0.02 is a 5σ bound.
  assert.ok(Math.abs(kept / n - keep) < 0.02, `keep fraction ${kept / n}`);
  assert.ok(Math.abs(sum / n - 1) < 0.03, `mean ${sum / n}`);
  // Reproducible: the same seed gives the same masks.
  assert.deepEqual(g.drawRandomInputs(new Rng(5)), g.drawRandomInputs(new Rng(5)));

  // The graph multiplies each sample by its mask.
  const s = await createNodeSession(toModelProto(g));
  const x = new Tensor(Float32Array.from({ length: 6 * 36 }, (_, i) => i + 1), [6, 4, 3, 3], 'float32');
  const masks = g.drawRandomInputs(new Rng(3));
  const y = (await s.run({ x, ...masks })).y!.data as Float32Array;
  const m = masks[value.name!]!.data as Float32Array;
  y.forEach((v, i) => assert.ok(Math.abs(v - (i + 1) * m[Math.floor(i / 36)]!) < 1e-4));
  await s.release();
});

test('ConvNeXt with drop_path_rate: one random input per block with a non-zero rate, none in eval', () => {
  const model = tinyModel({ drop_path_rate: 0.3 });
  // Rates grow linearly over the 4 blocks: 0, 0.1, 0.2, 0.3 — the first block has no drop path.
  const g = traceForward(model, [2, 3, 32, 32], { paramsAsInputs: true });
  assert.deepEqual(
    g.randomInputs.map((r) => Number((1 - (r.spec as KeepMask).keep).toFixed(6))),
    [0.1, 0.2, 0.3],
  );
  const names = g.randomInputs.map((r) => r.value.name!);
  assert.equal(new Set(names).size, names.length, 'distinct input names');
  model.eval();
  assert.equal(traceForward(model, [2, 3, 32, 32]).randomInputs.length, 0);
});
