/**
 * Model registry: variant names → family + config (+ pretrained config), `createModel` and
 * `listModels`. Families register themselves from their own files.
 */
import { ConfigError } from '../errors.js';
import type { PretrainedConfig, VisionModel } from './base.js';

export type RawConfig = Record<string, unknown>;

export interface FamilyDef {
  family: string;
  /** Accepted config keys in snake_case (camelCase spellings are accepted too). */
  keys: readonly string[];
  build(config: RawConfig): VisionModel;
}

export interface ModelEntry {
  name: string;
  family: string;
  config: RawConfig;
  pretrained?: PretrainedConfig;
  /** Paper / source of the figures, shown by `visionmix models`. */
  notes?: string;
}

const families = new Map<string, FamilyDef>();
const entries = new Map<string, ModelEntry>();

export function registerFamily(def: FamilyDef): void {
  families.set(def.family, def);
}

export function registerModel(entry: ModelEntry): void {
  entries.set(entry.name, entry);
}

export function modelEntries(): ModelEntry[] {
  return [...entries.values()];
}

export function getModelEntry(name: string): ModelEntry {
  const e = entries.get(name);
  if (!e) {
    const close = [...entries.keys()].filter((n) => n.includes(name) || name.includes(n.split('_')[0]!)).slice(0, 6);
    throw new ConfigError(`unknown model '${name}'${close.length ? ` (did you mean: ${close.join(', ')}?)` : ''}; run 'visionmix models' for the list`);
  }
  return e;
}

const camelToSnake = (k: string) => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

/** Normalise user config keys to snake_case and reject unknown ones. */
export function normalizeConfig(family: FamilyDef, raw: RawConfig): RawConfig {
  const out: RawConfig = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'family' || v === undefined) continue;
    const snake = camelToSnake(k);
    if (!family.keys.includes(snake))
      throw new ConfigError(`unknown config key '${k}' for family '${family.family}'; accepted: ${family.keys.join(', ')}`);
    out[snake] = v;
  }
  return out;
}

export type ModelSpec = string | ({ family: string } & RawConfig);

/** Build a model from a registry name (plus overrides) or from `{ family, ...config }`. */
export function createModel(spec: ModelSpec, overrides: RawConfig = {}): VisionModel {
  let familyName: string;
  let config: RawConfig;
  let name: string;
  let pretrained: PretrainedConfig | undefined;
  if (typeof spec === 'string') {
    const e = getModelEntry(spec);
    familyName = e.family;
    config = e.config;
    name = e.name;
    pretrained = e.pretrained;
  } else {
    if (typeof spec.family !== 'string') throw new ConfigError(`model config needs a 'family' (one of: ${[...families.keys()].join(', ')})`);
    familyName = spec.family;
    config = spec;
    name = spec.family;
  }
  const fam = families.get(familyName);
  if (!fam) throw new ConfigError(`unknown model family '${familyName}' (known: ${[...families.keys()].join(', ')})`);
  const model = fam.build({ ...normalizeConfig(fam, config), ...normalizeConfig(fam, overrides) });
  model.name = name;
  if (pretrained) model.pretrainedConfig = pretrained;
  model.namedParameters(); // assign state-dict keys and module scopes
  return model;
}

/** Shell-style pattern: `*` any run, `?` one char. */
export function matchPattern(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('') + '$');
  return re.test(name);
}

export function familyKeys(family: string): readonly string[] {
  const f = families.get(family);
  if (!f) throw new ConfigError(`unknown model family '${family}'`);
  return f.keys;
}

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** Typed reads of a normalised config, with errors naming the key. */
export const cfg = {
  ints(c: RawConfig, key: string, dflt: number[], len?: number): number[] {
    const v = c[key] ?? dflt;
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x > 0) || (len !== undefined && v.length !== len))
      throw new ConfigError(`config '${key}' must be ${len ?? 'a list of'} positive integers, got ${JSON.stringify(v)}`);
    return v as number[];
  },
  int(c: RawConfig, key: string, dflt: number, min = 1): number {
    const v = c[key] ?? dflt;
    if (!Number.isInteger(v) || (v as number) < min) throw new ConfigError(`config '${key}' must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  },
  num(c: RawConfig, key: string, dflt: number, lo = -Infinity, hi = Infinity): number {
    const v = c[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi)
      throw new ConfigError(`config '${key}' must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    return v;
  },
  bool(c: RawConfig, key: string, dflt: boolean): boolean {
    const v = c[key] ?? dflt;
    if (typeof v !== 'boolean') throw new ConfigError(`config '${key}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  },
};
