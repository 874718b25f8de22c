/**
 * Mixup / CutMix as timm's `Mixup` (timm/data/mixup.py), on a float32 NCHW batch in TypeScript (a
 * blend and a box copy: data code) with every draw from a seeded `Rng`, producing the soft targets
 * [N, K] that `crossEntropy()` accepts.
 *
 * Each sample i is mixed with sample N−1−i (the batch flipped). Modes:
 *  - 'batch': one decision for the whole batch: with probability `prob` mix at all; then CutMix with
 *    probability `switchProb` (when both α > 0), λ ~ Beta(α, α) of the chosen method;
 *  - 'elem': the same decisions per sample (timm draws them as vectors: all switch draws, then all
 *    CutMix λs, then all Mixup λs, then all `prob` draws), each sample mixed with the unmixed
 *    partner;
 *  - 'pair': per pair (i, N−1−i): both get the same λ and box, in both directions.
 * CutMix's box (timm's `rand_bbox`): sides ⌊H·√(1−λ)⌋ × ⌊W·√(1−λ)⌋ around a uniform centre, clipped
 * to the image; with `correctLam` (default, as timm) λ becomes 1 − box area / (H·W), so the label
 * weight is exactly the pasted area's share. With `cutmixMinmax` the box sides are uniform in
 * [min, max)·size instead (`rand_bbox_minmax`) and λ always comes from the area.
 * Targets (timm's `mixup_target`): smoothed one-hot (off = ε/K, on = 1 − ε + ε/K) of the label
 * times λ plus the partner's times (1 − λ), in float32 as torch computes them. λ is float32 per
 * sample in 'elem'/'pair' mode (timm's numpy float32 vector, whose box arithmetic is float32 too)
 * and a double in 'batch' mode.
 */
import { ConfigError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { sampleBeta } from '../util/distributions.js';
import type { Rng } from '../util/rng.js';
import { smoothedTargets } from './losses.js';

export type MixupMode = 'batch' | 'pair' | 'elem';

export interface MixupOptions {
  numClasses: number;
  /** Mixup's Beta(α, α); 0 turns Mixup off (default 1, timm's). */
  mixupAlpha?: number;
  /** CutMix's Beta(α, α); 0 turns CutMix off (default 0, timm's). */
  cutmixAlpha?: number;
  /** CutMix box side range as fractions of the image, instead of λ (timm's cutmix_minmax). */
  cutmixMinmax?: readonly [number, number] | null;
  /** Probability of mixing a batch/sample at all (timm's mixup_prob / prob; default 1). */
  prob?: number;
  /** Probability of CutMix rather than Mixup when both are on (default 0.5). */
  switchProb?: number;
  mode?: MixupMode;
  /** λ from the clipped box area (default true). */
  correctLam?: boolean;
  /** Label smoothing folded into the targets (default 0.1, timm's). */
  labelSmoothing?: number;
}

/** CutMix box: rows [yl, yh), columns [xl, xh). */
export interface MixBox {
  yl: number;
  yh: number;
  xl: number;
  xh: number;
}

export interface MixResult {
  /** The batch, mixed in place (the same tensor that was passed in). */
  x: Tensor<'float32'>;
  /** Soft targets [N, K] for `crossEntropy()`. */
  targets: Tensor<'float32'>;
  /** Weight of each sample's own label (1: not mixed). */
  lam: Float64Array;
  /** What happened to each sample. */
  kind: ('none' | 'mixup' | 'cutmix')[];
  /** Each CutMix sample's box (null otherwise). */
  boxes: (MixBox | null)[];
}

const f32 = Math.fround;

/** Python's float → numpy randint(lo, hi): uniform integer in [lo, hi). */
function randint(rng: Rng, lo: number, hi: number): number {
  if (!(hi > lo)) throw new ConfigError(`CutMix: empty range [${lo}, ${hi}) for a box draw (image too small for cutmixMinmax?)`);
  return lo + rng.int(hi - lo);
}

/** timm's rand_bbox: a box of ⌊H·√(1−λ)⌋ × ⌊W·√(1−λ)⌋ around a uniform centre, clipped. `float32` mirrors numpy float32 λ. */
export function randBbox(height: number, width: number, lam: number, rng: Rng, float32 = false): MixBox {
  const ratio = float32 ? f32(Math.sqrt(f32(1 - lam))) : Math.sqrt(1 - lam);
  const cutH = Math.trunc(float32 ? f32(height * ratio) : height * ratio);
  const cutW = Math.trunc(float32 ? f32(width * ratio) : width * ratio);
  const cy = randint(rng, 0, height);
  const cx = randint(rng, 0, width);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return {
    yl: clip(cy - Math.floor(cutH / 2), height),
    yh: clip(cy + Math.floor(cutH / 2), height),
    xl: clip(cx - Math.floor(cutW / 2), width),
    xh: clip(cx + Math.floor(cutW / 2), width),
  };
}

/** timm's rand_bbox_minmax: sides uniform in [⌊size·min⌋, ⌊size·max⌋), position uniform inside. */
export function randBboxMinmax(height: number, width: number, minmax: readonly [number, number], rng: Rng): MixBox {
  const cutH = randint(rng, Math.trunc(height * minmax[0]), Math.trunc(height * minmax[1]));
  const cutW = randint(rng, Math.trunc(width * minmax[0]), Math.trunc(width * minmax[1]));
  const yl = randint(rng, 0, height - cutH);
  const xl = randint(rng, 0, width - cutW);
  return { yl, yh: yl + cutH, xl, xh: xl + cutW };
}

/** Soft targets: y·λ + flip(y)·(1 − λ) with smoothed one-hot y (timm's mixup_target), float32. */
export function mixupTargets(labels: ArrayLike<number>, numClasses: number, lam: number | ArrayLike<number>, smoothing: number): Float32Array {
  const n = labels.length;
  const y = smoothedTargets(labels, numClasses, smoothing);
  const out = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const j = n - 1 - i;
    // A scalar λ is a Python float (1 − λ in double, then float32); per-sample λs are float32 already.
    const l = typeof lam === 'number' ? f32(lam) : f32(lam[i]!);
    const m = typeof lam === 'number' ? f32(1 - lam) : f32(1 - l);
    for (let k = 0; k < numClasses; k++)
      out[i * numClasses + k] = f32(f32(y[i * numClasses + k]! * l) + f32(y[j * numClasses + k]! * m));
  }
  return out;
}

interface Params {
  lam: number;
  cutmix: boolean;
}

export class Mixup {
  readonly numClasses: number;
  readonly mixupAlpha: number;
  readonly cutmixAlpha: number;
  readonly cutmixMinmax: readonly [number, number] | null;
  readonly prob: number;
  readonly switchProb: number;
  readonly mode: MixupMode;
  readonly correctLam: boolean;
  readonly labelSmoothing: number;

  constructor(o: MixupOptions) {
    const fail = (option: string, why: string) => new ConfigError(`Mixup: option \`${option}\` ${why}`);
    if (!Number.isInteger(o.numClasses) || o.numClasses < 2) throw fail('numClasses', `must be an integer ≥ 2, got ${o.numClasses}`);
    this.numClasses = o.numClasses;
    this.mixupAlpha = o.mixupAlpha ?? 1;
    this.cutmixAlpha = o.cutmixAlpha ?? 0;
    for (const [name, a] of [['mixupAlpha', this.mixupAlpha], ['cutmixAlpha', this.cutmixAlpha]] as const)
      if (!(typeof a === 'number' && a >= 0 && Number.isFinite(a))) throw fail(name, `is Beta's α: a number > 0 (0 turns it off), got ${a}`);
    this.cutmixMinmax = o.cutmixMinmax ?? null;
    if (this.cutmixMinmax) {
      const [lo, hi] = this.cutmixMinmax;
      if (!(lo > 0 && lo < hi && hi <= 1)) throw fail('cutmixMinmax', `must be [min, max] with 0 < min < max ≤ 1, got ${JSON.stringify(this.cutmixMinmax)}`);
      // timm: a min/max box range implies CutMix with α 1 (λ then comes from the box).
      this.cutmixAlpha = 1;
    }
    if (this.mixupAlpha === 0 && this.cutmixAlpha === 0) throw fail('mixupAlpha', 'and `cutmixAlpha` are both 0: nothing to mix (leave Mixup out instead)');
    this.prob = o.prob ?? 1;
    this.switchProb = o.switchProb ?? 0.5;
    for (const [name, p] of [['prob', this.prob], ['switchProb', this.switchProb]] as const)
      if (!(typeof p === 'number' && p >= 0 && p <= 1)) throw fail(name, `is a probability in [0, 1], got ${p}`);
    this.mode = o.mode ?? 'batch';
    if (!['batch', 'pair', 'elem'].includes(this.mode)) throw fail('mode', `must be batch, pair or elem, got ${JSON.stringify(this.mode)}`);
    this.correctLam = o.correctLam ?? true;
    this.labelSmoothing = o.labelSmoothing ?? 0.1;
    if (!(this.labelSmoothing >= 0 && this.labelSmoothing < 1)) throw fail('labelSmoothing', `must be in [0, 1), got ${this.labelSmoothing}`);
  }

  /** Mix `x` ([N, C, H, W] float32, N even) in place and build the soft targets of `labels`. */
  apply(x: Tensor, labels: ArrayLike<number>, rng: Rng): MixResult {
    if (x.dtype !== 'float32' || x.shape.length !== 4) throw new ConfigError(`Mixup: expected a float32 batch [N, C, H, W], got ${x.dtype} [${x.shape}]`);
    const [n, , h, w] = x.shape as [number, number, number, number];
    if (n % 2 !== 0) throw new ConfigError(`Mixup: the batch size must be even (samples are mixed with the flipped batch), got ${n}`);
    if (labels.length !== n) throw new ConfigError(`Mixup: ${labels.length} labels for a batch of ${n}`);
    const data = x.data as Float32Array;
    const per = data.length / n;
    const lam = new Float64Array(n).fill(1);
    const kind: MixResult['kind'] = new Array(n).fill('none');
    const boxes: MixResult['boxes'] = new Array(n).fill(null);

    if (this.mode === 'batch') {
      const p = this.paramsPerBatch(rng);
      if (p.lam !== 1) {
        let l = p.lam;
        let box: MixBox | null = null;
        if (p.cutmix) [box, l] = this.bboxAndLam(h, w, l, rng, false);
        for (let i = 0; i < n / 2; i++) this.mixPair(data, per, i, n - 1 - i, l, box, h, w, false);
        lam.fill(l);
        kind.fill(p.cutmix ? 'cutmix' : 'mixup');
        boxes.fill(box);
      }
      const targets = mixupTargets(labels, this.numClasses, lam[0]!, this.labelSmoothing);
      return { x: x as Tensor<'float32'>, targets: new Tensor(targets, [n, this.numClasses], 'float32'), lam, kind, boxes };
    }

    const pairs = this.mode === 'pair';
    const params = this.paramsPerElem(pairs ? n / 2 : n, rng);
    // 'elem' mixes every sample with its partner's original pixels: keep those until both are done.
    const original = pairs ? null : data.slice();
    params.forEach((p, i) => {
      if (p.lam === 1) return;
      const j = n - 1 - i;
      let l = p.lam;
      let box: MixBox | null = null;
      if (p.cutmix) {
        [box, l] = this.bboxAndLam(h, w, l, rng, true);
        l = f32(l); // stored back into timm's float32 λ vector
      }
      if (pairs) {
        this.mixPair(data, per, i, j, l, box, h, w, true);
        lam[j] = l;
        kind[j] = p.cutmix ? 'cutmix' : 'mixup';
        boxes[j] = box;
      } else this.mixOne(data, original!, per, i, j, l, box, h, w);
      lam[i] = l;
      kind[i] = p.cutmix ? 'cutmix' : 'mixup';
      boxes[i] = box;
    });
    const targets = mixupTargets(labels, this.numClasses, lam, this.labelSmoothing);
    return { x: x as Tensor<'float32'>, targets: new Tensor(targets, [n, this.numClasses], 'float32'), lam, kind, boxes };
  }

  /** timm's _params_per_batch. */
  private paramsPerBatch(rng: Rng): Params {
    if (!(rng.random() < this.prob)) return { lam: 1, cutmix: false };
    if (this.mixupAlpha > 0 && this.cutmixAlpha > 0) {
      const cutmix = rng.random() < this.switchProb;
      return { cutmix, lam: sampleBeta(rng, cutmix ? this.cutmixAlpha : this.mixupAlpha, cutmix ? this.cutmixAlpha : this.mixupAlpha) };
    }
    if (this.mixupAlpha > 0) return { cutmix: false, lam: sampleBeta(rng, this.mixupAlpha, this.mixupAlpha) };
    return { cutmix: true, lam: sampleBeta(rng, this.cutmixAlpha, this.cutmixAlpha) };
  }

  /** timm's _params_per_elem: vectors of switch draws, CutMix λs, Mixup λs, then `prob` draws; λ in float32. */
  private paramsPerElem(count: number, rng: Rng): Params[] {
    const draw = (f: () => number) => Array.from({ length: count }, f);
    let cutmix: boolean[];
    let lamMix: number[];
    if (this.mixupAlpha > 0 && this.cutmixAlpha > 0) {
      cutmix = draw(() => rng.random()).map((u) => u < this.switchProb);
      const c = draw(() => sampleBeta(rng, this.cutmixAlpha, this.cutmixAlpha));
      const m = draw(() => sampleBeta(rng, this.mixupAlpha, this.mixupAlpha));
      lamMix = cutmix.map((cm, i) => (cm ? c[i]! : m[i]!));
    } else if (this.mixupAlpha > 0) {
      cutmix = new Array(count).fill(false);
      lamMix = draw(() => sampleBeta(rng, this.mixupAlpha, this.mixupAlpha));
    } else {
      cutmix = new Array(count).fill(true);
      lamMix = draw(() => sampleBeta(rng, this.cutmixAlpha, this.cutmixAlpha));
    }
    const mix = draw(() => rng.random()).map((u) => u < this.prob);
    return lamMix.map((l, i) => ({ lam: mix[i] ? f32(l) : 1, cutmix: cutmix[i]! }));
  }

  /** timm's cutmix_bbox_and_lam: the box, and λ corrected to the clipped box's area. */
  private bboxAndLam(h: number, w: number, lam: number, rng: Rng, float32: boolean): [MixBox, number] {
    const box = this.cutmixMinmax ? randBboxMinmax(h, w, this.cutmixMinmax, rng) : randBbox(h, w, lam, rng, float32);
    if (this.correctLam || this.cutmixMinmax) lam = 1 - ((box.yh - box.yl) * (box.xh - box.xl)) / (h * w);
    return [box, lam];
  }

  /**
   * Mix samples i and j with each other's original pixels (both directions, same λ/box), as timm's
   * batch and pair modes. `lamIsFloat32`: 1 − λ in float32 (numpy) rather than from a double.
   */
  private mixPair(d: Float32Array, per: number, i: number, j: number, lam: number, box: MixBox | null, h: number, w: number, lamIsFloat32: boolean): void {
    const a = i * per;
    const b = j * per;
    if (box) {
      forEachBoxIndex(per, h, w, box, (k) => {
        const t = d[a + k]!;
        d[a + k] = d[b + k]!;
        d[b + k] = t;
      });
      return;
    }
    const l = f32(lam);
    const m = lamIsFloat32 ? f32(1 - l) : f32(1 - lam);
    for (let k = 0; k < per; k++) {
      const u = d[a + k]!;
      const v = d[b + k]!;
      d[a + k] = f32(f32(u * l) + f32(v * m));
      d[b + k] = f32(f32(v * l) + f32(u * m));
    }
  }

  /** timm's _mix_elem for sample i: its partner j's original pixels (`original`) pasted or blended in. */
  private mixOne(d: Float32Array, original: Float32Array, per: number, i: number, j: number, lam: number, box: MixBox | null, h: number, w: number): void {
    const a = i * per;
    const b = j * per;
    if (box) {
      forEachBoxIndex(per, h, w, box, (k) => (d[a + k] = original[b + k]!));
      return;
    }
    const l = f32(lam);
    const m = f32(1 - l);
    for (let k = 0; k < per; k++) d[a + k] = f32(f32(original[a + k]! * l) + f32(original[b + k]! * m));
  }
}

/** Calls `f` with the offset (within one sample) of every element inside the box, all channels. */
function forEachBoxIndex(per: number, h: number, w: number, box: MixBox, f: (k: number) => void): void {
  const channels = per / (h * w);
  for (let c = 0; c < channels; c++)
    for (let y = box.yl; y < box.yh; y++) {
      const row = (c * h + y) * w;
      for (let xx = box.xl; xx < box.xh; xx++) f(row + xx);
    }
}
