/**
 * Gamma and Beta variates from a seeded `Rng` (Mixup/CutMix draw λ ~ Beta(α, α)).
 * Gamma: Marsaglia & Tsang (2000), "A simple method for generating gamma variables": for shape
 * k ≥ 1, d = k − 1/3, c = 1/√(9d); repeat x ~ N(0, 1), v = (1 + c·x)³ until v > 0 and
 * u < 1 − 0.0331·x⁴ or log u < x²/2 + d·(1 − v + log v); return d·v. For k < 1 the boost
 * Gamma(k) = Gamma(k + 1) · U^(1/k). Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
 */
import { ConfigError } from '../errors.js';
import type { Rng } from './rng.js';

export function sampleGamma(rng: Rng, shape: number): number {
  if (!(shape > 0 && Number.isFinite(shape))) throw new ConfigError(`Gamma shape must be a positive number, got ${shape}`);
  if (shape < 1) {
    // U in (0, 1]: 1 − random() never reaches 0.
    const u = 1 - rng.random();
    return sampleGamma(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.random();
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(rng: Rng, a: number, b: number): number {
  if (!(a > 0 && Number.isFinite(a)) || !(b > 0 && Number.isFinite(b)))
    throw new ConfigError(`Beta parameters must be positive numbers, got (${a}, ${b})`);
  const x = sampleGamma(rng, a);
  const y = sampleGamma(rng, b);
  // Both can underflow to 0 for tiny shapes: the limit puts all mass at 0 or 1 in proportion a : b.
  if (x + y === 0) return rng.random() < a / (a + b) ? 1 : 0;
  return x / (x + y);
}
