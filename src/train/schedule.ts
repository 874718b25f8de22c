/** Learning-rate schedules, evaluated in TypeScript per step and fed to the graph as a scalar. */
import { ConfigError } from '../errors.js';

export interface CosineSchedule {
  baseLr: number;
  totalSteps: number;
  warmupSteps?: number;
  /** lr at the start of warmup (timm's warmup_lr; the official ConvNeXt code starts at 0). */
  warmupStartLr?: number;
  minLr?: number;
}

/**
 * Linear warmup from warmupStartLr to baseLr over warmupSteps, then half-cycle cosine from baseLr to
 * minLr at totalSteps (per-iteration, as the ConvNeXt/ConvNeXt-V2 official training scripts do).
 */
export function cosineLr(s: CosineSchedule, step: number): number {
  const warm = s.warmupSteps ?? 0;
  const minLr = s.minLr ?? 0;
  if (!(s.baseLr > 0)) throw new ConfigError(`lr must be > 0 (got ${s.baseLr})`);
  if (warm > 0 && step < warm) {
    const start = s.warmupStartLr ?? 0;
    return start + ((s.baseLr - start) * step) / warm;
  }
  const span = Math.max(1, s.totalSteps - warm);
  const progress = Math.min(1, (step - warm) / span);
  return minLr + 0.5 * (s.baseLr - minLr) * (1 + Math.cos(Math.PI * progress));
}
