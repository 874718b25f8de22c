/**
 * Optimizers expressed as graph ops, so the update runs inside the same ONNX graph as the forward
 * and backward passes. Scalars that change every step (learning rate, bias corrections) are graph
 * inputs; per-parameter constants (weight decay, layer-wise lr scale) are baked in.
 */
import { ConfigError } from '../errors.js';
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';

export interface AdamWOptions {
  kind: 'adamw';
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export interface SGDOptions {
  kind: 'sgd';
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export type OptimizerOptions = AdamWOptions | SGDOptions;

/** Per-step scalar inputs of the update. */
export interface StepScalars {
  lr: Value;
  /** AdamW bias corrections 1 − β1^t and 1 − β2^t. */
  bc1: Value;
  bc2: Value;
}

export interface ParamUpdate {
  param: Value;
  grad: Value;
  state: Value[];
  /** Decoupled weight decay for this tensor (0 for norms, biases, … by default). */
  weightDecay: number;
  /** Layer-wise lr decay factor. */
  lrScale: number;
}

export interface Optimizer {
  readonly kind: string;
  /** Names of the per-parameter state tensors (checkpoint keys `<name>.<param key>`). */
  readonly stateNames: readonly string[];
  readonly defaultWeightDecay: number;
  update(u: ParamUpdate, s: StepScalars): { param: Value; state: Value[] };
  /** Bias corrections for step t (1-based). */
  corrections(t: number): { bc1: number; bc2: number };
}

function check(name: string, v: number, lo: number, hi: number, loOpen = false): number {
  if (!(Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && v <= hi))
    throw new ConfigError(`${name} must be in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${v}`);
  return v;
}

/** torch.optim.AdamW: p ← p(1 − lr·wd); m, v moments; p ← p − lr·m̂/(√v̂ + eps). */
export function adamw(o: Omit<AdamWOptions, 'kind'> = {}): Optimizer {
  const [b1, b2] = o.betas ?? [0.9, 0.999];
  check('adamw beta1', b1, 0, 1);
  check('adamw beta2', b2, 0, 1);
  const eps = check('adamw eps', o.eps ?? 1e-8, 0, 1, true);
  const wd = check('weight decay', o.weightDecay ?? 0.05, 0, 10);
  return {
    kind: 'adamw',
    stateNames: ['exp_avg', 'exp_avg_sq'],
    defaultWeightDecay: wd,
    corrections: (t) => ({ bc1: 1 - b1 ** t, bc2: 1 - b2 ** t }),
    update({ param, grad, state: [m, v], weightDecay, lrScale }, { lr, bc1, bc2 }) {
      const lrp = lrScale === 1 ? lr : F.mul(lr, lrScale);
      const m2 = F.add(F.mul(m!, b1), F.mul(grad, 1 - b1));
      const v2 = F.add(F.mul(v!, b2), F.mul(F.mul(grad, grad), 1 - b2));
      const decayed = weightDecay > 0 ? F.mul(param, F.sub(1, F.mul(lrp, weightDecay))) : param;
      const denom = F.add(F.sqrt(F.div(v2, bc2)), eps);
      const stepSize = F.div(lrp, bc1);
      return { param: F.sub(decayed, F.mul(F.div(m2, denom), stepSize)), state: [m2, v2] };
    },
  };
}

/** torch.optim.SGD with momentum (dampening 0), optional Nesterov, coupled L2 weight decay. */
export function sgd(o: Omit<SGDOptions, 'kind'> = {}): Optimizer {
  const mu = check('sgd momentum', o.momentum ?? 0.9, 0, 1);
  const wd = check('weight decay', o.weightDecay ?? 0, 0, 10);
  const nesterov = o.nesterov ?? false;
  return {
    kind: 'sgd',
    stateNames: ['momentum_buffer'],
    defaultWeightDecay: wd,
    corrections: () => ({ bc1: 1, bc2: 1 }),
    update({ param, grad, state: [buf], weightDecay, lrScale }, { lr }) {
      const lrp = lrScale === 1 ? lr : F.mul(lr, lrScale);
      const g = weightDecay > 0 ? F.add(grad, F.mul(param, weightDecay)) : grad;
      // torch initialises the buffer to the first gradient; starting from zeros with b = μb + g
      // gives the same first step (μ·0 + g).
      const b = F.add(F.mul(buf!, mu), g);
      const d = nesterov ? F.add(g, F.mul(b, mu)) : b;
      return { param: F.sub(param, F.mul(d, lrp)), state: [b] };
    },
  };
}

export function makeOptimizer(o: OptimizerOptions): Optimizer {
  return o.kind === 'adamw' ? adamw(o) : sgd(o);
}
