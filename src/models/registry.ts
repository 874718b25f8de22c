/**
 * Model registry: families (a config schema and a builder), variants (a family + a config, as timm's
 * model names) and pretrained weight tags (a variant + its weights' pretrained config). Families
 * register themselves from their own files.
 */
import { ConfigError } from '../errors.js';
import type { Exactly, VisionModel } from './base.js';
import { parseConfig, type ConfigOf, type ConfigOverrides, type ConfigSchema, type RawConfig } from './config.js';
import { MAX_MODEL_ELEMENTS, checkModelSize, countElements } from './model_size.js';
import { tagArchitecture, type PretrainedConfig } from './pretrained.js';

export type { RawConfig };

export interface FamilyDef<S extends ConfigSchema = ConfigSchema> {
  family: string;
  schema: S;
  build(config: ConfigOf<S>): VisionModel;
  /**
   * A config layer (keys as the user wrote them) saved under an older run format (tasks/train.ts'
   * RUN_FORMAT), spelled as it must be now to build the same network; the family's keys whose meaning
   * changed. Absent: every key still means what it meant.
   */
  upgradeConfig?(layer: RawConfig, format: number): RawConfig;
}

export interface ModelEntry {
  name: string;
  family: string;
  /** The variant's config (snake_case keys of its family's schema). */
  config: RawConfig;
  /** Tag of the weights `createModel(name)` describes by default (timm's default tag). */
  defaultTag?: string;
  /** A remark for the model table (e.g. where the code's counts differ from the paper's). */
  note?: string;
}

const families = new Map<string, FamilyDef>();
const entries = new Map<string, ModelEntry>();
const tags = new Map<string, PretrainedConfig>();

export function registerFamily<S extends ConfigSchema>(def: FamilyDef<S>): void {
  families.set(def.family, def as unknown as FamilyDef);
}

export function registerModel(entry: ModelEntry): void {
  entries.set(entry.name, entry);
}

/** Register weight tags; each tag's architecture must be a registered variant. */
export function registerPretrained(list: readonly PretrainedConfig[]): void {
  for (const p of list) {
    if (!entries.has(tagArchitecture(p.tag))) throw new Error(`pretrained tag ${p.tag}: no variant '${tagArchitecture(p.tag)}' is registered`);
    tags.set(p.tag, p);
  }
}

export function modelEntries(): ModelEntry[] {
  return [...entries.values()];
}

export function familyNames(): string[] {
  return [...families.keys()];
}

export function familySchema(family: string): ConfigSchema {
  return getFamily(family).schema;
}

/** Pretrained tags, optionally of one architecture, in registration order. */
export function pretrainedTags(architecture?: string): PretrainedConfig[] {
  return [...tags.values()].filter((t) => architecture === undefined || tagArchitecture(t.tag) === architecture);
}

/**
 * The pretrained config of a weight tag ('convnext_tiny.fb_in1k'), or of an architecture name's
 * default tag ('convnext_tiny': timm's default_cfg); undefined when there is none.
 */
export function pretrainedConfig(name: string): PretrainedConfig | undefined {
  const tag = tags.get(name);
  if (tag) return tag;
  const defaultTag = entries.get(name)?.defaultTag;
  return defaultTag ? tags.get(defaultTag) : undefined;
}

function getFamily(name: string): FamilyDef {
  const f = families.get(name);
  if (!f) throw new ConfigError(`unknown model family '${name}' (known: ${familyNames().join(', ')})`);
  return f;
}

export function getModelEntry(name: string): ModelEntry {
  const e = entries.get(name);
  if (!e) {
    const close = [...entries.keys()].filter((n) => n.includes(name) || name.includes(n.split('_')[0]!)).slice(0, 6);
    throw new ConfigError(`unknown model '${name}'${close.length ? ` (did you mean: ${close.join(', ')}?)` : ''}; run 'visionmix models' for the list`);
  }
  return e;
}

export type ModelSpec = string | ({ family: string } & RawConfig);

/**
 * The types of a family, for typed `createModel` calls: its variant names, its config (`ConfigOf`
 * its schema) and its model class.
 */
export interface FamilyTypes<Names extends string = string, Config = object, Model extends VisionModel = VisionModel> {
  names: Names;
  config: Config;
  model: Model;
}

/**
 * Every family's `FamilyTypes`, by family name. Each family adds its entry from its own file
 * (declaration merging: `declare module './registry.js' { interface ModelFamilies { cmt: FamilyTypes<…> } }`).
 */
export interface ModelFamilies {}

export type FamilyName = keyof ModelFamilies;

type FamilyType<F extends FamilyName, K extends keyof FamilyTypes> = ModelFamilies[F] extends infer T extends FamilyTypes ? T[K] : never;

/** A variant name of family `F`, or one of its weight tags ('convnext_atto' or 'convnext_atto.d2_in1k'). */
type NameOf<F extends FamilyName> = FamilyType<F, 'names'> | `${FamilyType<F, 'names'>}.${string}`;

/** A registered variant name or a weight tag of one. */
export type ModelName = NameOf<FamilyName>;

/** The family of a variant name or weight tag. */
export type FamilyOf<Name extends string> = { [F in FamilyName]: Name extends NameOf<F> ? F : never }[FamilyName];

/** The model class of family `F`. */
export type FamilyModel<F extends FamilyName> = FamilyType<F, 'model'>;

/** Config overrides of family `F` (its schema's keys, snake_case or camelCase, each of its type). */
export type FamilyOverrides<F extends FamilyName> = ConfigOverrides<FamilyType<F, 'config'>>;

/** A config object of a known family: `{ family: 'convnext', depths: [1, 1, 2, 1], … }`. */
export type FamilySpec<F extends FamilyName> = { family: F } & FamilyOverrides<F>;

/**
 * The family of a spec known when compiling: a registered name's or tag's, or a config's `family`;
 * `never` for a spec whose family is not known until it runs (a `string`, a config from JSON).
 */
export type SpecFamily<S> = S extends ModelName ? FamilyOf<S> : S extends { family: infer F extends FamilyName } ? F : never;

/** A spec as `createModel` checks it: a config of a known family has only that family's keys, each of its type. */
export type CheckedSpec<S> = S extends { family: infer F extends FamilyName } ? Exactly<S, FamilySpec<F>> & FamilySpec<F> : S;

const isPlainObject = (v: unknown): v is RawConfig => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v));

/** A model name, a weight tag, or a config object: what `createModel` was given, resolved. */
interface Resolved {
  family: FamilyDef;
  name: string;
  layers: RawConfig[];
  /** `layers[userFrom…]` are the user's (a variant's own config and its tag's classes come before). */
  userFrom: number;
  pretrained?: PretrainedConfig;
}

function resolve(spec: unknown, overrides: unknown): Resolved {
  if (overrides !== undefined && !isPlainObject(overrides))
    throw new ConfigError(`model config overrides must be an object of config keys, got ${show(overrides)}`);
  const over = (overrides ?? {}) as RawConfig;
  if (typeof spec === 'string') {
    const tag = tags.get(spec);
    const entry = getModelEntry(tag ? tagArchitecture(spec) : spec);
    const family = getFamily(entry.family);
    if ('family' in over && over.family !== entry.family)
      throw new ConfigError(`model '${spec}' is of family '${entry.family}', but the config says family ${show(over.family)}`);
    const pretrained = tag ?? (entry.defaultTag ? tags.get(entry.defaultTag) : undefined);
    // A tag fixes the classifier to its weights' classes (a user override still wins).
    const fromTag: RawConfig = tag ? { num_classes: tag.numClasses } : {};
    return { family, name: spec, layers: [entry.config, fromTag, withoutFamily(over)], userFrom: 2, pretrained };
  }
  if (!isPlainObject(spec))
    throw new ConfigError(
      `a model is a registry name (e.g. 'convnext_tiny'), a weight tag (e.g. 'convnext_atto.d2_in1k') or a config object with a 'family' key; got ${show(spec)}`,
    );
  if (typeof spec.family !== 'string')
    throw new ConfigError(`model config needs a 'family' (one of: ${familyNames().join(', ')}), got ${show(spec.family)}`);
  if ('family' in over && over.family !== spec.family)
    throw new ConfigError(`the config says family '${spec.family}', but the overrides say family ${show(over.family)}`);
  return { family: getFamily(spec.family), name: spec.family, layers: [withoutFamily(spec), withoutFamily(over)], userFrom: 0 };
}

function withoutFamily(c: RawConfig): RawConfig {
  const { family: _family, ...rest } = c;
  return rest;
}

/** A size limit on the model a createModel call may build (the engine passes its machine's memory). */
export interface ModelSizeLimit {
  /** Most parameter and buffer elements (default and upper bound: MAX_MODEL_ELEMENTS). */
  maxElements?: number;
  /** Why, for the message ("this machine's 16 GB of memory"). */
  reason?: string;
}

/**
 * Build a model from a registry name, a weight tag (`convnext_atto.d2_in1k`) or `{ family, ...config }`,
 * plus config overrides (snake_case or camelCase keys of the family's schema), and the seed of its
 * random initialisation (default 0). The model is not attached to an engine: the entry's
 * `createModel` does that. A config whose parameters exceed `opts`' limit (counted from their
 * shapes before any is allocated) is a ConfigError naming the key to blame.
 */
export function createModel(spec: ModelSpec, overrides: RawConfig = {}, opts: ModelSizeLimit & { seed?: number } = {}): VisionModel {
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new ConfigError(`seed must be an integer, got ${show(seed)}`);
  const limit = opts;
  const r = resolve(spec, overrides);
  // Each layer is parsed on its own (so a camelCase override replaces the variant's snake_case key),
  // then the merged result once more, so cross-key rules see the final config.
  const layers = r.layers.map((layer) => snakeKeys(r.family.schema, layer));
  const merged: RawConfig = Object.assign({}, ...layers);
  const { config } = parseConfig(r.family.schema, merged);
  const model = r.family.build(config as never);
  // Parameters are lazy: counting their shapes allocates nothing.
  const maxElements = Math.min(limit.maxElements ?? MAX_MODEL_ELEMENTS, MAX_MODEL_ELEMENTS);
  const elements = countElements(model);
  if (elements > maxElements) {
    const schema = r.family.schema;
    checkModelSize({
      family: schema.family,
      elements,
      config: merged,
      baseline: parseConfig(schema, Object.assign({}, ...layers.slice(0, r.userFrom))).config as RawConfig,
      userKeys: new Set(layers.slice(r.userFrom).flatMap((l) => Object.keys(l))),
      count: (c) => countElements(r.family.build(parseConfig(schema, c).config as never)),
      limit: maxElements,
      limitReason: maxElements < MAX_MODEL_ELEMENTS ? limit.reason : undefined,
    });
  }
  model.name = r.name;
  if (r.pretrained) model.pretrainedConfig = r.pretrained;
  // The random initialisation is the model's own, fixed now: every parameter draws from (seed, key).
  model.initSeed = seed >>> 0;
  model.bindKeys();
  return model;
}

/**
 * A model spec and config overrides saved by an older visionmix (run format `format`), as the same
 * network is spelled now (each family's `upgradeConfig`); unchanged when nothing needs renaming, or
 * when the spec does not resolve (building it reports that).
 */
export function upgradeModelSpec(spec: ModelSpec, overrides: RawConfig, format: number): { spec: ModelSpec; overrides: RawConfig } {
  let family: FamilyDef | undefined;
  if (typeof spec === 'string') {
    const entry = entries.get(tags.has(spec) ? tagArchitecture(spec) : spec);
    family = entry && families.get(entry.family);
  } else if (isPlainObject(spec) && typeof spec.family === 'string') {
    family = families.get(spec.family);
  }
  const up = family?.upgradeConfig;
  if (!up) return { spec, overrides };
  const upgraded = typeof spec === 'string' ? spec : ({ family: spec.family, ...up(withoutFamily(spec), format) } as ModelSpec);
  return { spec: upgraded, overrides: isPlainObject(overrides) ? up(overrides, format) : overrides };
}

/**
 * The registered variant of `family` whose config equals `config` on every key but `ignore` (the
 * class count, input channels, training-time rates): the name other libraries know the network by.
 */
export function matchingVariant(family: string, config: RawConfig, ignore: readonly string[]): string | undefined {
  const schema = getFamily(family).schema;
  const key = (c: RawConfig) => JSON.stringify(Object.keys(schema.fields).filter((k) => !ignore.includes(k)).map((k) => c[k]));
  const want = key(config);
  return [...entries.values()].find((e) => e.family === family && key(parseConfig(schema, e.config).config as RawConfig) === want)?.name;
}

/** A layer's keys in snake_case, checked (unknown keys and bad values are ConfigErrors naming family and key). */
function snakeKeys(schema: ConfigSchema, layer: RawConfig): RawConfig {
  const { given, config } = parseConfig({ family: schema.family, fields: schema.fields }, layer);
  const out: RawConfig = {};
  for (const k of given) out[k] = (config as RawConfig)[k];
  return out;
}

/** Shell-style pattern: `*` any run, `?` one char. */
export function matchPattern(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('') + '$');
  return re.test(name);
}

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
