/**
 * Config schemas: one table per family lists every key (type, default, one-line doc) and produces
 * the parser, the validation, the camelCase aliases and the `--config-help` listing — so the keys a
 * family accepts and the keys it reads cannot drift apart.
 *
 *   const schema = configSchema('convnext', {
 *     depths: field.ints({ length: 4, min: 1, default: [3, 3, 9, 3], doc: 'blocks per stage' }),
 *     ls_init_value: field.float({ min: 0, default: 1e-6, nullable: true, doc: 'layer-scale init; null: none' }),
 *   });
 *   type ConvNeXtConfig = ConfigOf<typeof schema>;   // { depths: number[]; ls_init_value: number | null }
 *
 * Keys are the reference code's constructor keywords (snake_case); camelCase spellings are accepted.
 */
import { ConfigError } from '../errors.js';

/**
 * Upper bounds of the counts and sizes in every family's schema. Each is generous — several times the
 * largest published variant (ConvNeXt-XXLarge: dims 3072, 30 blocks in a stage; ConvNeXt V2-Huge;
 * GLNet-16G: 64 slots, 5×5 local kernels; CMT-B at 256²) — yet far below what cannot be built: a
 * million blocks exhausts V8's heap while building, a million channels or classes asks for tensors
 * beyond any machine’s memory. Sizes within the bounds can still combine into a model too large to
 * hold; `checkModelSize` (model_size.ts) counts the parameters before any is allocated.
 */
export const LIMITS = {
  /** Blocks in one stage (ConvNeXt-XXLarge's stage 3: 30; CMT-B: 20). */
  blocksPerStage: 256,
  /** Stages of a network whose stage count is a list length (ConvNeXt: 4). */
  stages: 8,
  /** Channels of any layer (ConvNeXt-XXLarge: 3072; CMT's head conv: 1280). */
  channels: 16384,
  /** Classifier outputs (ImageNet-21k: 21841). */
  classes: 1_000_000,
  /** Input channels (RGB: 3; hyperspectral images: a few hundred). */
  inChans: 1024,
  /** Conv kernel sides (GLNet: 5; large-kernel ConvNets: 31). */
  kernel: 31,
  /** Attention heads of a layer (CMT-B: 8 … 16). */
  heads: 1024,
  /** GLNet's slots per block (all variants: 64). */
  slots: 4096,
  /** Width multipliers (MLP and expansion ratios: 2 … 4). */
  ratio: 64,
  /** Strides, patch sides and reduction factors (ConvNeXt's stem: 4; FCMAE's mask patch: 32). */
  stride: 256,
  /** A model's fixed input side (CMT: 224 … 256). */
  imageSide: 1024,
} as const;

/** A value type a field accepts. `T` is the parsed TypeScript type. */
export interface FieldType<T> {
  /** For listings and errors: 'int ≥ 1', 'list of 4 ints', "'glmix' | 'mha'". */
  readonly describe: string;
  /** Parse and validate `v`, or return an error message (what was expected). */
  parse(v: unknown, path: string): T;
}

export interface Field<T> {
  readonly type: FieldType<T>;
  readonly default: T;
  readonly doc: string;
}

type Fields = Record<string, Field<unknown>>;

export interface ConfigSchema<F extends Fields = Fields> {
  readonly family: string;
  readonly fields: F;
  /**
   * Cross-field rules: throw (via `fail`) when keys contradict each other or when a key the user gave
   * would be ignored by the chosen variant. `given` holds the keys the user set explicitly.
   */
  validate?(c: ConfigOf<ConfigSchema<F>>, given: ReadonlySet<string>, fail: (key: string, why: string) => never): void;
}

export type ConfigOf<S> = S extends ConfigSchema<infer F> ? { [K in keyof F]: F[K] extends Field<infer T> ? T : never } : never;

export type RawConfig = Record<string, unknown>;

/** A snake_case key in camelCase, as the parser accepts it ('num_classes' → 'numClasses'). */
type CamelCase<K extends string> = K extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : K;

/** A config value as a caller may write it: lists may be readonly, a table's keys may be left out. */
type Given<T> = T extends readonly (infer E)[] ? readonly Given<E>[] : T extends object ? { [K in keyof T]?: Given<T[K]> } : T;

/**
 * Overrides of a config `C` (`ConfigOf` a schema): any of its keys, snake_case or camelCase, each of
 * its type — so a misspelt key or a mistyped value does not compile.
 */
export type ConfigOverrides<C> = { [K in keyof C & string]?: Given<C[K]> } & { [K in keyof C & string as CamelCase<K>]?: Given<C[K]> };

class FieldError extends Error {
  constructor(readonly path: string, readonly expected: string, readonly got: unknown) {
    super(`${path}: expected ${expected}`);
  }
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + '...' : s;
};

const bounds = (min?: number, max?: number): string =>
  min !== undefined && max !== undefined ? ` in [${min}, ${max}]` : min !== undefined ? ` ≥ ${min}` : max !== undefined ? ` ≤ ${max}` : '';

function intType(o: { min?: number; max?: number } = {}): FieldType<number> {
  const describe = `int${bounds(o.min, o.max)}`;
  return {
    describe,
    parse(v, path) {
      if (typeof v !== 'number' || !Number.isInteger(v) || (o.min !== undefined && v < o.min) || (o.max !== undefined && v > o.max))
        throw new FieldError(path, describe, v);
      return v;
    },
  };
}

function floatType(o: { min?: number; max?: number; below?: number } = {}): FieldType<number> {
  const describe = `number${bounds(o.min, o.max)}${o.below !== undefined ? ` < ${o.below}` : ''}`;
  return {
    describe,
    parse(v, path) {
      if (
        typeof v !== 'number' ||
        !Number.isFinite(v) ||
        (o.min !== undefined && v < o.min) ||
        (o.max !== undefined && v > o.max) ||
        (o.below !== undefined && v >= o.below)
      )
        throw new FieldError(path, describe, v);
      return v;
    },
  };
}

const boolType: FieldType<boolean> = {
  describe: 'true | false',
  parse(v, path) {
    if (typeof v !== 'boolean') throw new FieldError(path, 'true or false', v);
    return v;
  },
};

function enumType<E extends string>(values: readonly E[]): FieldType<E> {
  const describe = values.map((v) => `'${v}'`).join(' | ');
  return {
    describe,
    parse(v, path) {
      if (typeof v !== 'string' || !values.includes(v as E)) throw new FieldError(path, describe, v);
      return v as E;
    },
  };
}

/** A list of exactly `length` items, or of 1 … `maxLength` items (unbounded lists would let a typo build a million stages). */
function listType<T>(of: FieldType<T>, length?: number, maxLength?: number): FieldType<T[]> {
  const count = length !== undefined ? `${length} ` : maxLength !== undefined ? `1…${maxLength} ` : '';
  const describe = `list of ${count}${of.describe.includes(' ') ? `(${of.describe})` : of.describe}`;
  return {
    describe,
    parse(v, path) {
      if (
        !Array.isArray(v) ||
        (length !== undefined && v.length !== length) ||
        (maxLength !== undefined && (v.length < 1 || v.length > maxLength))
      )
        throw new FieldError(path, describe, v);
      return v.map((x, i) => of.parse(x, `${path}[${i}]`));
    },
  };
}

function tableType<F extends Fields>(fields: F): FieldType<{ [K in keyof F]: F[K] extends Field<infer T> ? T : never }> {
  const describe = `{ ${Object.entries(fields)
    .map(([k, f]) => `${k}: ${f.type.describe}`)
    .join(', ')} }`;
  return {
    describe,
    parse(v, path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FieldError(path, describe, v);
      return parseFields(fields, v as RawConfig, path, new Set()) as never;
    },
  };
}

function nullable<T>(t: FieldType<T>): FieldType<T | null> {
  return {
    describe: `${t.describe} | null`,
    parse: (v, path) => (v === null ? null : t.parse(v, path)),
  };
}

interface FieldOptions<T> {
  default: T;
  doc: string;
}

function make<T>(type: FieldType<T>, o: FieldOptions<T> & { nullable?: boolean }): Field<T> {
  return { type: o.nullable ? (nullable(type) as FieldType<T>) : type, default: o.default, doc: o.doc };
}

/** Field constructors. `nullable: true` also accepts null (the reference's None). */
export const field = {
  int: <N extends boolean = false>(o: { min?: number; max?: number; nullable?: N } & FieldOptions<N extends true ? number | null : number>) =>
    make(intType(o), o as never) as Field<N extends true ? number | null : number>,
  float: <N extends boolean = false>(
    o: { min?: number; max?: number; below?: number; nullable?: N } & FieldOptions<N extends true ? number | null : number>,
  ) => make(floatType(o), o as never) as Field<N extends true ? number | null : number>,
  bool: (o: FieldOptions<boolean>) => make(boolType, o),
  enum: <E extends string>(values: readonly E[], o: FieldOptions<E>) => make(enumType(values), o),
  ints: (o: { length?: number; maxLength?: number; min?: number; max?: number } & FieldOptions<number[]>) =>
    make(listType(intType(o), o.length, o.maxLength), o),
  floats: (o: { length?: number; maxLength?: number; min?: number; max?: number } & FieldOptions<number[]>) =>
    make(listType(floatType(o), o.length, o.maxLength), o),
  enums: <E extends string>(values: readonly E[], o: { length?: number; maxLength?: number } & FieldOptions<E[]>) =>
    make(listType(enumType(values), o.length, o.maxLength), o),
  table: <F extends Fields>(fields: F, o: FieldOptions<{ [K in keyof F]: F[K] extends Field<infer T> ? T : never }>) =>
    make(tableType(fields), o),
  tables: <F extends Fields>(
    fields: F,
    o: { length?: number; maxLength?: number } & FieldOptions<{ [K in keyof F]: F[K] extends Field<infer T> ? T : never }[]>,
  ) => make(listType(tableType(fields), o.length, o.maxLength), o),
};

export function configSchema<F extends Fields>(
  family: string,
  fields: F,
  validate?: ConfigSchema<F>['validate'],
): ConfigSchema<F> {
  return { family, fields, validate };
}

/** The same schema under another family name, with other defaults (e.g. convnextv2 = convnext with GRN). */
export function withDefaults<F extends Fields>(
  schema: ConfigSchema<F>,
  family: string,
  defaults: Partial<ConfigOf<ConfigSchema<F>>>,
  validate?: ConfigSchema<F>['validate'],
): ConfigSchema<F> {
  const fields = { ...schema.fields } as Record<string, Field<unknown>>;
  for (const [k, v] of Object.entries(defaults)) fields[k] = { ...fields[k]!, default: v };
  return { family, fields: fields as F, validate: validate ?? schema.validate };
}

const camelToSnake = (k: string): string => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

function parseFields(fields: Fields, raw: RawConfig, path: string, given: Set<string>): RawConfig {
  const known = Object.keys(fields);
  const out: RawConfig = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    const key = known.includes(k) ? k : camelToSnake(k);
    if (!known.includes(key)) throw new FieldError(`${path}${path ? '.' : ''}${k}`, `one of the keys ${known.join(', ')}`, UNKNOWN_KEY);
    if (key in out) throw new FieldError(`${path}${path ? '.' : ''}${k}`, `to be given once (as ${key} or its camelCase spelling)`, v);
    out[key] = fields[key]!.type.parse(v, `${path}${path ? '.' : ''}${key}`);
    given.add(key);
  }
  for (const k of known) if (!(k in out)) out[k] = structuredClone(fields[k]!.default);
  return out;
}

const UNKNOWN_KEY = Symbol('unknown key');

/**
 * Parse a user config against a schema: unknown keys, wrong types and cross-field contradictions are
 * ConfigErrors naming the family and the key. `extra` keys are accepted (and dropped) — `family`.
 */
export function parseConfig<S extends ConfigSchema>(schema: S, raw: RawConfig): { config: ConfigOf<S>; given: Set<string> } {
  const given = new Set<string>();
  const fam = schema.family;
  let config: RawConfig;
  try {
    config = parseFields(schema.fields, raw, '', given);
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    if (err.got === UNKNOWN_KEY)
      throw new ConfigError(`unknown config key '${err.path}' for family '${fam}'; accepted: ${Object.keys(schema.fields).join(', ')} (see 'visionmix models --config-help ${fam}')`);
    throw new ConfigError(`config '${err.path}' of family '${fam}' must be ${err.expected}, got ${show(err.got)}`);
  }
  schema.validate?.(config as never, given, (key, why) => {
    throw new ConfigError(`config '${key}' of family '${fam}': ${why}`);
  });
  return { config: config as ConfigOf<S>, given };
}

/** The schema as rows (key, camelCase alias, type, default, doc) for `--config-help`. */
export function describeSchema(schema: ConfigSchema): { key: string; alias: string; type: string; default: string; doc: string }[] {
  return Object.entries(schema.fields).map(([key, f]) => {
    const alias = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    return { key, alias: alias === key ? '' : alias, type: f.type.describe, default: show(f.default), doc: f.doc };
  });
}
