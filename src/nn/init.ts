/** Parameter initialisers (timm conventions), drawing from a seeded Rng. */
import { Tensor } from '../tensor.js';
import { Rng } from '../util/rng.js';

/**
 * Parameters are initialised lazily, each from its own generator seeded by (the model's init seed,
 * key): the result does not depend on the order tensors are first touched, and a model whose weights
 * are loaded never spends time drawing random numbers. The init seed is the model's own (captured
 * when it is built, as flax's `init(rng)`), never a global: see `Module.initSeed`.
 */
export function initRngFor(key: string, seed: number): Rng {
  let h = 0x811c9dc5 ^ (seed >>> 0); // FNV-1a over the key, mixed with the seed
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return new Rng(h);
}

export function zeros(shape: number[]): Tensor {
  return Tensor.zeros(shape);
}

export function full(shape: number[], v: number): Tensor {
  const t = Tensor.zeros(shape);
  (t.data as Float32Array).fill(v);
  return t;
}

/**
 * timm's trunc_normal_(std) with its default *absolute* bounds [-2, 2]: for std ≪ 1 this is
 * effectively an untruncated normal (resample the rare draws outside).
 */
export function truncNormal(shape: number[], std: number, rng: Rng, lo = -2, hi = 2): Tensor {
  const t = Tensor.zeros(shape);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) {
    let v: number;
    do v = rng.normal(0, std);
    while (v < lo || v > hi);
    d[i] = v;
  }
  return t;
}

/** Plain normal N(0, std²), untruncated (torch.randn · std; torch's normal_). */
export function normal(shape: number[], std: number, rng: Rng): Tensor {
  const t = Tensor.zeros(shape);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = rng.normal(0, std);
  return t;
}

/**
 * torch's kaiming_normal_(mode='fan_out') with the ReLU gain √2: N(0, 2 / fan_out), where fan_out =
 * out_channels · kh · kw for a conv weight [O, I/g, kh, kw] — groups are not divided out.
 */
export function kaimingNormalFanOut(shape: number[], rng: Rng): Tensor {
  const fanOut = shape[0]! * shape.slice(2).reduce((a, b) => a * b, 1);
  return normal(shape, Math.sqrt(2 / fanOut), rng);
}

/** PyTorch's default for Conv/Linear weights: kaiming_uniform(a=√5) = U(±1/√fan_in). */
export function uniformFanIn(shape: number[], fanIn: number, rng: Rng): Tensor {
  const t = Tensor.zeros(shape);
  const d = t.data as Float32Array;
  const b = 1 / Math.sqrt(fanIn);
  for (let i = 0; i < d.length; i++) d[i] = rng.uniform(-b, b);
  return t;
}
