/**
 * A thin typed layer over `node:util` parseArgs for the `visionmix` subcommands.
 *
 * parseArgs tokenizes (long and short options, `--x=v`, grouped short flags, `--`); this file adds
 * what a CLI for training jobs needs on top: typed values (numbers, integers, lists), defaults,
 * validation with messages that name the option and the bad value (`--lr must be > 0 (got -1)`),
 * `--no-<flag>` for booleans, and `--help` text generated from the same spec.
 *
 * Options are declared with camelCase keys (`batchSize`); the flag is the kebab-case form
 * (`--batch-size`), and the parsed values come back under the camelCase key, fully typed:
 *
 * ```ts
 * const train = defineCommand({
 *   name: 'train',
 *   summary: 'Train or fine-tune a model',
 *   positionals: [{ name: 'data', description: 'image folder', required: true }],
 *   options: {
 *     lr: { type: 'number', positive: true, default: 1e-3, description: 'peak learning rate' },
 *     epochs: { type: 'int', min: 1, default: 10, description: 'epochs' },
 *     opt: { type: 'string', choices: ['adamw', 'sgd'], default: 'adamw', description: 'optimizer' },
 *   },
 * });
 * const parsed = parseCommand(train, process.argv.slice(3));
 * if (parsed.help) console.log(renderHelp(train));
 * else parsed.values.opt; // 'adamw' | 'sgd'
 * ```
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';

// ---- spec types --------------------------------------------------------------------------------

interface OptionCommon {
  /** One line for `--help`. */
  description: string;
  /** Single-letter alias, e.g. `b` for `-b`. */
  short?: string;
  /** Fail when the option is missing (only meaningful without a default). */
  required?: boolean;
  /** Placeholder in `--help`, e.g. `dir` for `--out <dir>`. */
  placeholder?: string;
}

/** Numeric checks, shared by scalar and list options (applied to each list item). */
interface NumericChecks {
  /** Value must be > 0. */
  positive?: boolean;
  /** Inclusive lower bound. */
  min?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Value must be one of these. */
  choices?: readonly number[];
}

export interface StringOptionSpec extends OptionCommon {
  type: 'string';
  default?: string;
  choices?: readonly string[];
  /** Returns a complaint such as `must name an existing folder`, or undefined when fine. */
  validate?: (value: string) => string | undefined;
}

export interface NumberOptionSpec extends OptionCommon, NumericChecks {
  /** `number`: any finite number; `int`: a safe integer. */
  type: 'number' | 'int';
  default?: number;
  validate?: (value: number) => string | undefined;
}

export interface BooleanOptionSpec extends OptionCommon {
  /** `--flag` sets true, `--no-flag` sets false; default false unless given. */
  type: 'boolean';
  default?: boolean;
}

export interface NumberListOptionSpec extends OptionCommon, NumericChecks {
  /** Comma-separated (`--depths 2,2,6,2`); repeating the option appends. */
  type: 'numbers' | 'ints';
  default?: readonly number[];
  /** Exact number of items required. */
  length?: number;
  validate?: (value: number[]) => string | undefined;
}

export interface StringListOptionSpec extends OptionCommon {
  /** Comma-separated (`--models a,b`); repeating the option appends. */
  type: 'strings';
  default?: readonly string[];
  choices?: readonly string[];
  length?: number;
  validate?: (value: string[]) => string | undefined;
}

export type OptionSpec =
  | StringOptionSpec
  | NumberOptionSpec
  | BooleanOptionSpec
  | NumberListOptionSpec
  | StringListOptionSpec;

export interface PositionalSpec {
  name: string;
  description: string;
  required?: boolean;
  /** Takes all remaining arguments; only the last positional may be variadic. */
  variadic?: boolean;
  /** The values it may take (a subcommand's kind, e.g. `analyze slots`); checked before the options. */
  choices?: readonly string[];
}

export interface CommandSpec {
  /** Subcommand name, e.g. `train`. */
  name: string;
  /** Program name for messages and usage (default `visionmix`). */
  program?: string;
  /** One line shown in usage and in the command list. */
  summary?: string;
  /** Longer text for `--help`. */
  description?: string;
  options: Readonly<Record<string, OptionSpec>>;
  positionals?: readonly PositionalSpec[];
  examples?: readonly string[];
}

// ---- value types -------------------------------------------------------------------------------

/** The parsed type of one option; string choices narrow to their literal union. */
export type OptionValue<O extends OptionSpec> = O extends { type: 'boolean' }
  ? boolean
  : O extends { type: 'string' }
    ? O extends { choices: readonly (infer C extends string)[] }
      ? C
      : string
    : O extends { type: 'number' | 'int' }
      ? number
      : O extends { type: 'strings' }
        ? O extends { choices: readonly (infer C extends string)[] }
          ? C[]
          : string[]
        : number[];

/** Booleans, options with a default and required options always have a value. */
type AlwaysSet<O> = O extends { type: 'boolean' }
  ? true
  : O extends { default: unknown }
    ? true
    : O extends { required: true }
      ? true
      : false;

export type OptionValues<S extends CommandSpec> = {
  -readonly [K in keyof S['options']]: AlwaysSet<S['options'][K]> extends true
    ? OptionValue<S['options'][K]>
    : OptionValue<S['options'][K]> | undefined;
};

/** `--help` short-circuits validation: a user asking for help should get it, not an error. */
export type ParsedCommand<S extends CommandSpec> =
  | { help: true }
  | {
      help: false;
      values: OptionValues<S>;
      positionals: string[];
      /** Keys of the options given on the command line (the others hold their defaults). */
      given: ReadonlySet<keyof S['options'] & string>;
    };

// ---- names -------------------------------------------------------------------------------------

/** `batchSize` → `--batch-size`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function commandName(spec: CommandSpec): string {
  return `${spec.program ?? 'visionmix'} ${spec.name}`;
}

/** True when the spec declares its own `help` option, which then replaces the built-in one. */
function ownsHelp(spec: CommandSpec): boolean {
  return Object.hasOwn(spec.options, 'help');
}

// ---- spec definition ---------------------------------------------------------------------------

/**
 * Checks a spec once, where it is written (duplicate flags, bad short names, a default that fails
 * its own validation), and returns it with literal types preserved for `parseCommand`.
 * Mistakes here are programming errors, so they throw TypeError rather than ConfigError.
 */
export function defineCommand<const S extends CommandSpec>(spec: S): S {
  const flags = new Set<string>(ownsHelp(spec) ? [] : ['--help']);
  const shorts = new Set<string>(ownsHelp(spec) ? [] : ['h']);
  for (const [key, opt] of Object.entries(spec.options)) {
    const flag = flagName(key);
    if (!/^[a-z][a-zA-Z0-9]*$/.test(key)) throw new TypeError(`${commandName(spec)}: option key '${key}' must be camelCase`);
    if (flags.has(flag)) throw new TypeError(`${commandName(spec)}: duplicate option ${flag}`);
    flags.add(flag);
    if (opt.short !== undefined) {
      if (!/^[a-zA-Z]$/.test(opt.short)) throw new TypeError(`${commandName(spec)}: short name of ${flag} must be one letter (got '${opt.short}')`);
      if (shorts.has(opt.short)) throw new TypeError(`${commandName(spec)}: duplicate short option -${opt.short}`);
      shorts.add(opt.short);
    }
    if (opt.default !== undefined && opt.type !== 'boolean') {
      try {
        checkValue(key, opt, opt.default as never);
      } catch (e) {
        throw new TypeError(`${commandName(spec)}: default of ${flag} is invalid: ${(e as Error).message}`);
      }
    }
  }
  // `--no-x` is the negation of a boolean `--x`; an option of that very name would be ambiguous.
  for (const [key, opt] of Object.entries(spec.options)) {
    const negation = `--no-${flagName(key).slice(2)}`;
    if (opt.type === 'boolean' && flags.has(negation)) throw new TypeError(`${commandName(spec)}: ${flagName(key)} clashes with ${negation}`);
  }
  const pos = spec.positionals ?? [];
  pos.forEach((p, i) => {
    if (p.variadic && i !== pos.length - 1) throw new TypeError(`${commandName(spec)}: only the last positional may be variadic`);
    if (p.required && i > 0 && !pos[i - 1]!.required) {
      throw new TypeError(`${commandName(spec)}: required <${p.name}> follows an optional positional`);
    }
  });
  return spec;
}

// ---- parsing -----------------------------------------------------------------------------------

/** Plain decimal numbers only: `Number()` would also accept '', '0x10' and 'Infinity'. */
const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

function parseNumberText(flag: string, text: string, integer: boolean): number {
  const trimmed = text.trim();
  const value = NUMBER_RE.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isFinite(value)) throw new ConfigError(`${flag} must be a number (got ${JSON.stringify(text)})`);
  if (integer && !Number.isSafeInteger(value)) throw new ConfigError(`${flag} must be an integer (got ${trimmed})`);
  return value;
}

/** Splits `2,2,6,2` (spaces allowed around commas); an empty item is an error, not a zero. */
function splitList(flag: string, text: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new ConfigError(`${flag} must be a comma-separated list (got ${JSON.stringify(text)})`);
  return items;
}

function checkNumber(flag: string, checks: NumericChecks, value: number, where = ''): void {
  const fail = (rule: string) => {
    throw new ConfigError(`${flag}${where} must be ${rule} (got ${value})`);
  };
  if (checks.positive && !(value > 0)) fail('> 0');
  if (checks.min !== undefined && value < checks.min) fail(`>= ${checks.min}`);
  if (checks.max !== undefined && value > checks.max) fail(`<= ${checks.max}`);
  if (checks.choices !== undefined && !checks.choices.includes(value)) fail(`one of ${checks.choices.join(', ')}`);
}

function checkChoice(flag: string, choices: readonly string[] | undefined, value: string, where = ''): void {
  if (choices !== undefined && !choices.includes(value)) {
    throw new ConfigError(`${flag}${where} must be one of ${choices.join(', ')} (got ${JSON.stringify(value)})`);
  }
}

function checkLength(flag: string, length: number | undefined, items: readonly unknown[]): void {
  if (length !== undefined && items.length !== length) {
    throw new ConfigError(`${flag} must have ${length} value${length === 1 ? '' : 's'} (got ${items.length}: ${items.join(',')})`);
  }
}

function custom<T>(flag: string, validate: ((v: T) => string | undefined) | undefined, value: T, shown: string): void {
  const complaint = validate?.(value);
  if (complaint !== undefined) throw new ConfigError(`${flag} ${complaint} (got ${shown})`);
}

/** Validates a typed value (parsed from argv, or a default) against its option's rules. */
function checkValue(key: string, opt: OptionSpec, value: never): void {
  const flag = flagName(key);
  switch (opt.type) {
    case 'string': {
      const v = value as string;
      checkChoice(flag, opt.choices, v);
      custom(flag, opt.validate, v, JSON.stringify(v));
      return;
    }
    case 'number':
    case 'int': {
      const v = value as number;
      if (!Number.isFinite(v)) throw new ConfigError(`${flag} must be a number (got ${v})`);
      if (opt.type === 'int' && !Number.isSafeInteger(v)) throw new ConfigError(`${flag} must be an integer (got ${v})`);
      checkNumber(flag, opt, v);
      custom(flag, opt.validate, v, String(v));
      return;
    }
    case 'numbers':
    case 'ints': {
      const v = value as number[];
      checkLength(flag, opt.length, v);
      v.forEach((item, i) => {
        const where = v.length > 1 ? ` item ${i + 1}` : '';
        if (!Number.isFinite(item)) throw new ConfigError(`${flag}${where} must be a number (got ${item})`);
        if (opt.type === 'ints' && !Number.isSafeInteger(item)) throw new ConfigError(`${flag}${where} must be an integer (got ${item})`);
        checkNumber(flag, opt, item, where);
      });
      custom(flag, opt.validate, v, v.join(','));
      return;
    }
    case 'strings': {
      const v = value as string[];
      checkLength(flag, opt.length, v);
      v.forEach((item, i) => checkChoice(flag, opt.choices, item, v.length > 1 ? ` item ${i + 1}` : ''));
      custom(flag, opt.validate, v, v.join(','));
      return;
    }
    case 'boolean':
      return;
  }
}

/** Turns the raw text occurrences of one option into its typed value. */
function convert(key: string, opt: Exclude<OptionSpec, BooleanOptionSpec>, texts: readonly string[]): unknown {
  const flag = flagName(key);
  switch (opt.type) {
    case 'string':
      // Like most CLIs, a repeated scalar option takes its last value (lets wrappers override).
      return texts[texts.length - 1]!;
    case 'number':
    case 'int':
      return parseNumberText(flag, texts[texts.length - 1]!, opt.type === 'int');
    case 'numbers':
    case 'ints':
      return texts.flatMap((t) => splitList(flag, t)).map((s, i, all) => {
        try {
          return parseNumberText(flag, s, opt.type === 'ints');
        } catch (e) {
          // Re-throw naming the item, which matters in a long list such as depths.
          const where = all.length > 1 ? ` item ${i + 1}` : '';
          throw new ConfigError((e as Error).message.replace(flag, `${flag}${where}`));
        }
      });
    case 'strings':
      return texts.flatMap((t) => splitList(flag, t));
  }
}

/** Levenshtein distance, for "did you mean" on unknown options. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function suggestion(raw: string, flags: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const f of flags) {
    const d = editDistance(raw, f);
    if (d < bestD) [best, bestD] = [f, d];
  }
  // Only suggest near misses; a distant "suggestion" is noise.
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? ` (did you mean ${best}?)` : '';
}

/** A value that itself looks like an option (and not like a negative number) was probably forgotten. */
function looksLikeOption(text: string): boolean {
  return text.startsWith('-') && text.length > 1 && !NUMBER_RE.test(text);
}

/**
 * Parses `argv` (the arguments after the subcommand) against `spec`. Returns `{ help: true }` for
 * `-h`/`--help`; otherwise typed values (defaults filled in) and positionals. Throws ConfigError
 * naming the option and the bad value for anything wrong.
 */
export function parseCommand<S extends CommandSpec>(spec: S, argv: readonly string[]): ParsedCommand<S> {
  const cmd = commandName(spec);
  const builtinHelp = !ownsHelp(spec);
  const byFlag = new Map<string, string>(); // 'batch-size' → 'batchSize'
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [key, opt] of Object.entries(spec.options)) {
    const name = flagName(key).slice(2);
    byFlag.set(name, key);
    parseOptions[name] = { type: opt.type === 'boolean' ? 'boolean' : 'string', ...(opt.short ? { short: opt.short } : {}) };
  }
  if (builtinHelp) parseOptions['help'] = { type: 'boolean', short: 'h' };

  // strict: false hands us unknown options as tokens, so that the errors are ours (with the
  // command name and a suggestion) and a value like `-1` after `--lr` is not rejected as ambiguous.
  const { tokens } = parseArgs({ args: [...argv], options: parseOptions, strict: false, allowPositionals: true, tokens: true });

  const texts = new Map<string, string[]>();
  const flagsSet = new Map<string, boolean>();
  const positionals: string[] = [];
  let help = false;

  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind === 'option-terminator') continue;
    const { name, rawName, value, inlineValue } = token;
    if (builtinHelp && name === 'help') {
      help = true;
      continue;
    }
    let key = byFlag.get(name);
    let negated = false;
    if (key === undefined && name.startsWith('no-')) {
      const base = byFlag.get(name.slice(3));
      if (base !== undefined && spec.options[base]!.type === 'boolean') [key, negated] = [base, true];
    }
    if (key === undefined) {
      const known = [...byFlag.keys()].map((n) => `--${n}`);
      throw new ConfigError(`unknown option ${rawName} for '${cmd}'${suggestion(`--${name}`, known)}`);
    }
    const opt = spec.options[key]!;
    const flag = negated ? `--no-${name.slice(3)}` : flagName(key);
    if (opt.type === 'boolean') {
      if (value !== undefined) {
        throw new ConfigError(`${flag} does not take a value (got ${JSON.stringify(value)}); use ${flagName(key)} or --no-${flagName(key).slice(2)}`);
      }
      flagsSet.set(key, !negated);
      continue;
    }
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    if (!inlineValue && looksLikeOption(value)) {
      throw new ConfigError(`${flag} needs a value (got option ${value}); write ${flag}=<value> for a value that starts with '-'`);
    }
    const list = texts.get(key);
    if (list) list.push(value);
    else texts.set(key, [value]);
  }

  if (help) return { help: true };

  // Positionals first: `analyze foo` is an unknown analysis before it is a missing --out.
  const pos = spec.positionals ?? [];
  pos.forEach((p, i) => {
    const value = positionals[i];
    if (p.choices && value !== undefined && !p.choices.includes(value))
      throw new ConfigError(`unknown ${p.name} '${value}' for '${cmd}' (one of: ${p.choices.join(', ')})${suggestion(value, p.choices)}`);
    if (p.required && positionals.length <= i) throw new ConfigError(`missing argument <${p.name}> for '${cmd}'`);
  });

  const values: Record<string, unknown> = {};
  for (const [key, opt] of Object.entries(spec.options)) {
    if (opt.type === 'boolean') {
      values[key] = flagsSet.get(key) ?? opt.default ?? false;
      continue;
    }
    const given = texts.get(key);
    if (given === undefined) {
      if (opt.required && opt.default === undefined) throw new ConfigError(`missing required option ${flagName(key)} for '${cmd}'`);
      // Copy list defaults so that callers mutating their values cannot change the spec.
      values[key] = Array.isArray(opt.default) ? [...opt.default] : opt.default;
      continue;
    }
    const typed = convert(key, opt, given);
    checkValue(key, opt, typed as never);
    values[key] = typed;
  }

  const variadic = pos.length > 0 && pos[pos.length - 1]!.variadic === true;
  if (!variadic && positionals.length > pos.length) {
    throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[pos.length])} for '${cmd}'`);
  }

  const given = new Set<string>([...texts.keys(), ...flagsSet.keys()]);
  return { help: false, values: values as OptionValues<S>, positionals, given: given as ReadonlySet<keyof S['options'] & string> };
}

// ---- help --------------------------------------------------------------------------------------

function placeholderOf(opt: OptionSpec): string {
  if (opt.placeholder !== undefined) return `<${opt.placeholder}>`;
  switch (opt.type) {
    case 'boolean':
      return '';
    case 'string':
      return opt.choices && opt.choices.join('|').length <= 24 ? `<${opt.choices.join('|')}>` : '<value>';
    case 'number':
      return '<number>';
    case 'int':
      return '<int>';
    case 'numbers':
      return '<n,n,...>';
    case 'ints':
      return '<i,i,...>';
    case 'strings':
      return '<a,b,...>';
  }
}

/** Constraint and default notes appended to a description, e.g. `(> 0; default: 0.001)`. */
function notesOf(key: string, opt: OptionSpec): string {
  const notes: string[] = [];
  if (opt.type !== 'boolean' && opt.type !== 'string' && opt.type !== 'strings') {
    if (opt.positive) notes.push('> 0');
    if (opt.min !== undefined && opt.max !== undefined) notes.push(`${opt.min}..${opt.max}`);
    else if (opt.min !== undefined) notes.push(`>= ${opt.min}`);
    else if (opt.max !== undefined) notes.push(`<= ${opt.max}`);
    if (opt.choices) notes.push(`one of ${opt.choices.join(', ')}`);
  }
  if ((opt.type === 'string' || opt.type === 'strings') && opt.choices && placeholderOf(opt) !== `<${opt.choices.join('|')}>`) {
    notes.push(`one of ${opt.choices.join(', ')}`);
  }
  if ((opt.type === 'numbers' || opt.type === 'ints' || opt.type === 'strings') && opt.length !== undefined) {
    notes.push(`${opt.length} values`);
  }
  if (opt.required && opt.default === undefined) notes.push('required');
  if (opt.type === 'boolean') {
    if (opt.default === true) notes.push(`default: on; --no-${flagName(key).slice(2)} turns it off`);
  } else if (opt.default !== undefined) {
    notes.push(`default: ${Array.isArray(opt.default) ? opt.default.join(',') : String(opt.default)}`);
  }
  return notes.length ? ` (${notes.join('; ')})` : '';
}

/** Greedy word wrap; words longer than the width stay whole. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.length ? lines : [''];
}

/** Two-column block: terms padded to a common width, descriptions wrapped beside them. */
function twoColumns(rows: [string, string][], width: number): string[] {
  const termWidth = Math.min(32, Math.max(...rows.map(([t]) => t.length)));
  const out: string[] = [];
  for (const [term, desc] of rows) {
    const descWidth = Math.max(20, width - 2 - termWidth - 2);
    const lines = wrap(desc, descWidth);
    if (term.length > termWidth) {
      // A very long term gets its own line rather than pushing every description to the right.
      out.push(`  ${term}`);
      for (const l of lines) out.push(`  ${' '.repeat(termWidth)}  ${l}`);
    } else {
      out.push(`  ${term.padEnd(termWidth)}  ${lines[0]}`.trimEnd());
      for (const l of lines.slice(1)) out.push(`  ${' '.repeat(termWidth)}  ${l}`);
    }
  }
  return out;
}

/** The `--help` text of a command, wrapped to `width` columns (default 80). Ends without a newline. */
export function renderHelp(spec: CommandSpec, options: { width?: number } = {}): string {
  const width = options.width ?? 80;
  const cmd = commandName(spec);
  const pos = spec.positionals ?? [];
  const posUsage = pos.map((p) => {
    const inner = p.variadic ? `${p.name}...` : p.name;
    return p.required ? `<${inner}>` : `[${inner}]`;
  });
  const out: string[] = [`Usage: ${[cmd, '[options]', ...posUsage].join(' ')}`];
  if (spec.summary) out.push('', ...wrap(spec.summary, width));
  if (spec.description) out.push('', ...wrap(spec.description, width));
  if (pos.length) {
    out.push('', 'Arguments:');
    out.push(...twoColumns(pos.map((p) => [`<${p.name}>`, p.description]), width));
  }
  const rows: [string, string][] = Object.entries(spec.options).map(([key, opt]) => {
    const alias = opt.short ? `-${opt.short}, ` : '    ';
    const placeholder = placeholderOf(opt);
    return [`${alias}${flagName(key)}${placeholder ? ` ${placeholder}` : ''}`, `${opt.description}${notesOf(key, opt)}`];
  });
  if (!ownsHelp(spec)) rows.push(['-h, --help', 'show this help']);
  out.push('', 'Options:', ...twoColumns(rows, width));
  if (spec.examples?.length) {
    out.push('', 'Examples:');
    for (const e of spec.examples) out.push(`  ${e}`);
  }
  return out.join('\n');
}

/** The `--config` option: a JSON object of model config keys (ConfigError naming the option otherwise). */
export function parseConfigJson(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--config is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError(`--config must be a JSON object of config keys, e.g. '{"depths":[2,2,6,2]}'; got ${text}`);
  return parsed as Record<string, unknown>;
}
