/**
 * `visionmix <command> [options]`: subcommand dispatch, `--help`, `--version`, and the one place
 * that turns errors into exit codes.
 *
 * Adding a command: write `src/cli/cmd_<name>.ts` exporting `spec` (from `defineCommand`) and
 * `run(args, io)`, then add its module to `COMMANDS` below. Parsing, `--help` and error reporting
 * are done here, so a command's `run` receives typed, validated values and only does its job.
 *
 * Exit codes: 0 success; 1 a failure (typed errors print `error: <message>` without a stack, since
 * their text is written to be acted on; anything else is a bug and prints its stack); 2 a usage
 * error (unknown command, bad option), as is conventional for command-line tools.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, VisionmixError } from '../errors.js';
import { findPackageRoot } from '../io/package_root.js';
import { setWarningSink } from './warnings.js';
import { parseCommand, renderHelp, type CommandSpec, type OptionValues, type ParsedCommand } from './args.js';
import type { ProgressStream } from './progress.js';
import * as analyze from './cmd_analyze.js';
import * as bench from './cmd_bench.js';
import * as convert from './cmd_convert.js';
import * as demo from './cmd_demo.js';
import * as evaluate from './cmd_eval.js';
import * as exportCmd from './cmd_export.js';
import * as exportTimm from './cmd_export_timm.js';
import * as features from './cmd_features.js';
import * as models from './cmd_models.js';
import * as predict from './cmd_predict.js';
import * as pretrain from './cmd_pretrain.js';
import * as finetune from './cmd_finetune.js';
import * as train from './cmd_train.js';

/** Where a command writes: real streams in the binary, fakes in tests. */
export interface CliIO {
  stdout: ProgressStream;
  stderr: ProgressStream;
}

export interface CommandArgs<S extends CommandSpec> {
  values: OptionValues<S>;
  positionals: string[];
  /** The options given on the command line; the others hold their defaults. */
  given: ReadonlySet<string>;
}

/**
 * A subcommand. `run` is declared with method syntax on purpose: methods are checked bivariantly,
 * which lets commands with different specs share the `COMMANDS` table.
 */
export interface Command<S extends CommandSpec = CommandSpec> {
  readonly spec: S;
  /** Returns the exit code (default 0). Throws typed errors for failures a user can fix. */
  run(args: CommandArgs<S>, io: CliIO): Promise<number | void>;
}

/** Every subcommand, in the order `--help` lists them. Add new commands here. */
export const COMMANDS: readonly Command[] = [demo, models, train, finetune, pretrain, evaluate, predict, features, exportCmd, exportTimm, analyze, convert, bench];

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const PROGRAM = 'visionmix';

/** Thrown for command-line mistakes: reported like other typed errors, but with exit code 2. */
class UsageError extends VisionmixError {}

/** package.json of this package: the nearest one above this file (dist/src/cli or src/cli). */
function packageJson(): { version?: string; description?: string } {
  const path = join(findPackageRoot(), 'package.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { version?: string; description?: string }) : {};
}

export function version(): string {
  return packageJson().version ?? '0.0.0';
}

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.spec.name === name);
}

/** The top-level help: usage, the command list (from each spec's summary) and global options. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length));
  return [
    `${PROGRAM} ${version()} — vision backbones traced to ONNX and run with ONNX Runtime`,
    '',
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.summary ?? ''}`.trimEnd()),
    '',
    'Options:',
    '  -h, --help     show this help',
    '  -V, --version  print the version',
    '',
    `Run '${PROGRAM} <command> --help' for the options of a command.`,
  ].join('\n');
}

function unknownCommand(name: string): UsageError {
  return new UsageError(`unknown command '${name}'; commands: ${COMMANDS.map((c) => c.spec.name).join(', ')} (see '${PROGRAM} --help')`);
}

function write(stream: ProgressStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

async function dispatch(argv: readonly string[], io: CliIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    // No command is a usage error, but the most useful reply to it is the help text.
    write(io.stderr, mainHelp());
    return EXIT_USAGE;
  }
  if (first === '-h' || first === '--help') {
    write(io.stdout, mainHelp());
    return EXIT_OK;
  }
  if (first === '-V' || first === '--version') {
    write(io.stdout, version());
    return EXIT_OK;
  }
  if (first === 'help') {
    // `visionmix help bench` is the same as `visionmix bench --help`.
    if (rest[0] === undefined) {
      write(io.stdout, mainHelp());
      return EXIT_OK;
    }
    const cmd = findCommand(rest[0]);
    if (!cmd) throw unknownCommand(rest[0]);
    write(io.stdout, renderHelp(cmd.spec, { width: helpWidth(io.stdout) }));
    return EXIT_OK;
  }
  if (first.startsWith('-')) throw new UsageError(`expected a command before '${first}' (see '${PROGRAM} --help')`);

  const cmd = findCommand(first);
  if (!cmd) throw unknownCommand(first);
  let parsed: ParsedCommand<CommandSpec>;
  try {
    parsed = parseCommand(cmd.spec, rest);
  } catch (err) {
    // Option errors are the user's typing, not a failed job: usage exit code and a pointer to help.
    if (err instanceof ConfigError) throw new UsageError(`${err.message} (see '${PROGRAM} ${cmd.spec.name} --help')`);
    throw err;
  }
  if (parsed.help) {
    write(io.stdout, renderHelp(cmd.spec, { width: helpWidth(io.stdout) }));
    return EXIT_OK;
  }
  // Warnings (a non-commercial weights licence, …) as plain lines, not Node's "(node:pid) [CODE] Warning:".
  setWarningSink((message) => write(io.stderr, `warning: ${message}`));
  const code = await cmd.run({ values: parsed.values, positionals: parsed.positionals, given: parsed.given }, io);
  return code ?? EXIT_OK;
}

function helpWidth(stream: ProgressStream): number {
  return stream.isTTY && stream.columns ? Math.min(100, stream.columns) : 80;
}

/**
 * Runs the CLI on `argv` (without `node` and the script) and returns the exit code. Never throws:
 * every error is reported on `io.stderr` here.
 */
export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      write(io.stderr, `error: ${err.message}`);
      return EXIT_USAGE;
    }
    if (err instanceof VisionmixError) {
      // ConfigError, ShapeError, WeightsError, DataError, SafetensorsError, RuntimeError: their
      // messages name the file, key, shape or option at fault; a stack would only bury that.
      write(io.stderr, `error: ${err.message}`);
      return EXIT_FAILURE;
    }
    // Anything else is a bug in visionmix (or a dependency): the stack is what a report needs.
    const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
    write(io.stderr, `${PROGRAM}: unexpected error\n${text}`);
    return EXIT_FAILURE;
  }
}
