/**
 * Compound model scaling (EfficientNet's rule, in CMT's form): one coefficient φ scales depth by α^φ,
 * width by β^φ and input resolution by γ^φ. A family maps its config keys onto `ScalableShape`.
 */
import { ConfigError } from '../errors.js';

/** Scaling coefficients α (depth), β (width), γ (resolution); CMT constrains α·β^1.5·γ² ≈ 2.5. */
export interface CompoundScaling {
  alpha: number;
  beta: number;
  gamma: number;
}

/** FLOPs multiplier the rule predicts for φ: (α·β^1.5·γ²)^φ (CMT's constraint: attention FLOPs grow as β^1.5). */
export function compoundFlopsFactor(phi: number, s: CompoundScaling): number {
  return (s.alpha * s.beta ** 1.5 * s.gamma ** 2) ** phi;
}

/** The parts of a network the rule scales. */
export interface ScalableShape {
  /** Blocks per stage. */
  depths: readonly number[];
  /** Channels per stage. */
  widths: readonly number[];
  /** Each stage's width stays a multiple of this (e.g. its head count). */
  widthMultiples: readonly number[];
  /** Channels of the stem, scaled like the stage widths. */
  stemWidth: number;
  /** Input side. */
  side: number;
  /** The scaled side is rounded to a multiple of this (the network's total stride). */
  sideMultiple: number;
}

/**
 * `base` scaled by φ: depths ×α^φ, widths ×β^φ (rounded to a multiple of `widthMultiples`, at least
 * one), the stem likewise, the side ×γ^φ rounded to a multiple of `sideMultiple`. A ConfigError when φ
 * is not a finite number.
 */
export function compoundScale(phi: number, base: ScalableShape, s: CompoundScaling): Omit<ScalableShape, 'widthMultiples' | 'sideMultiple'> {
  if (!Number.isFinite(phi)) throw new ConfigError(`compound scaling: φ must be a finite number, got ${phi}`);
  const depth = s.alpha ** phi;
  const width = s.beta ** phi;
  const m = base.sideMultiple;
  return {
    depths: base.depths.map((d) => Math.max(1, Math.round(d * depth))),
    widths: base.widths.map((d, i) => base.widthMultiples[i]! * Math.max(1, Math.round((d * width) / base.widthMultiples[i]!))),
    stemWidth: Math.max(1, Math.round(base.stemWidth * width)),
    side: m * Math.max(1, Math.round((base.side * s.gamma ** phi) / m)),
  };
}
