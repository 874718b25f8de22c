/**
 * How big a model is before any of its tensors exists. Parameters and buffers are allocated lazily
 * (nn/module.ts: a slot knows its shape; its tensor is drawn on first access), so building the module
 * tree and adding up the shapes costs no tensor memory: a config whose model could never be held is
 * refused here, with the estimate and the config key that makes it so large, instead of failing deep
 * inside a typed-array allocation or ONNX Runtime.
 */
import { ConfigError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { sizeOf } from '../tensor.js';

/**
 * The most parameter and buffer elements a model may have: 2^31 float32 values are 8 GiB — about
 * three times ConvNeXt-XXLarge (846M) — and the largest a single V8 typed array reliably holds.
 */
export const MAX_MODEL_ELEMENTS = 2 ** 31;

/** Parameter and buffer elements of a model, from their shapes (nothing is allocated). */
export function countElements(model: Module): number {
  let n = 0;
  for (const [, p] of model.namedParameters()) n += sizeOf(p.shape);
  for (const [, b] of model.namedBuffers()) n += sizeOf(b.shape);
  return n;
}

/** 160M, 2.15G: a count for messages. */
export function approxCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toPrecision(3)}G`;
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e3) return `${(n / 1e3).toPrecision(3)}k`;
  return String(n);
}

/** 640 MB, 8.59 GB: float32 bytes of `n` elements, for messages. */
export function approxBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toPrecision(3)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toPrecision(3)} MB`;
  return `${(bytes / 1e3).toPrecision(3)} kB`;
}

/** A config value at a leaf path: `num_slots`, `dims[0]`, `layer5.depth`. */
interface Leaf {
  path: string;
  value: number;
  /** What the value would be without the user's setting (the variant's or the schema default). */
  baseline: number;
  /** The config with this leaf set back to `baseline`. */
  reset(): Record<string, unknown>;
}

/** Numeric leaves of the user's config that exceed their baseline value, each with a way to reset it. */
function grownLeaves(config: Record<string, unknown>, baseline: Record<string, unknown>, keys: Iterable<string>): Leaf[] {
  const out: Leaf[] = [];
  const walk = (value: unknown, base: unknown, path: string, set: (v: unknown) => Record<string, unknown>): void => {
    if (typeof value === 'number') {
      if (typeof base === 'number' && value > base) out.push({ path, value, baseline: base, reset: () => set(base) });
    } else if (Array.isArray(value)) {
      // A list longer than its baseline compares its extra items with the baseline's last one.
      const b = Array.isArray(base) ? base : [];
      value.forEach((v, i) => walk(v, b[Math.min(i, b.length - 1)], `${path}[${i}]`, (x) => set(value.map((y, j) => (j === i ? x : y)))));
    } else if (typeof value === 'object' && value !== null) {
      const b = (typeof base === 'object' && base !== null ? base : {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(value)) walk(v, b[k], `${path}.${k}`, (x) => set({ ...value, [k]: x }));
    }
  };
  for (const key of keys) walk(config[key], baseline[key], key, (v) => ({ ...config, [key]: v }));
  return out;
}

/** At most this many rebuilds to find the key most responsible (each costs one lazy build). */
const MAX_CANDIDATES = 32;

/**
 * Refuse a model with more than `limit` parameter and buffer elements (default MAX_MODEL_ELEMENTS):
 * a ConfigError with the estimate and, where one of the user's keys is to blame, that key — the one
 * whose reset to its baseline (the variant's value or the schema default) removes the most elements.
 *
 * `config` is the parsed config, `baseline` what it would be without the user's keys, `userKeys` the
 * keys the user set, `count(config)` builds a config lazily and counts it (throws if it is invalid).
 */
export function checkModelSize(o: {
  family: string;
  elements: number;
  config: Record<string, unknown>;
  baseline: Record<string, unknown>;
  userKeys: Iterable<string>;
  count: (config: Record<string, unknown>) => number;
  limit?: number;
  /** Why the limit is what it is, for the message. */
  limitReason?: string;
}): void {
  const limit = o.limit ?? MAX_MODEL_ELEMENTS;
  if (o.elements <= limit) return;
  let blame: { leaf: Leaf; without: number } | null = null;
  for (const leaf of grownLeaves(o.config, o.baseline, o.userKeys).slice(0, MAX_CANDIDATES)) {
    let without: number;
    try {
      without = o.count(leaf.reset());
    } catch {
      continue; // the reset contradicts another key (a cross-key rule): not a fair comparison
    }
    if (without < o.elements && (!blame || without < blame.without)) blame = { leaf, without };
  }
  const what = `this ${o.family} config has ~${approxCount(o.elements)} parameters (${approxBytes(4 * o.elements)} as float32)`;
  const bound = `more than ${o.limitReason ?? `the ${approxCount(limit)} elements (${approxBytes(4 * limit)}) visionmix builds`}`;
  const key = blame
    ? `; most of them come from '${blame.leaf.path}' = ${blame.leaf.value} (with ${blame.leaf.path} = ${blame.leaf.baseline}: ~${approxCount(blame.without)})`
    : '';
  throw new ConfigError(`${what}, ${bound}${key}`);
}
