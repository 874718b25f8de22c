/**
 * The few plain file operations that jobs in `tasks/` need, behind names that say what they do.
 * They wrap `node:fs`/`node:path` so that `tasks/` itself imports no Node-only module (DESIGN.md
 * layers; a browser entry can follow).
 */
import { appendFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ConfigError, DataError } from '../errors.js';

/** True when a file or folder exists at `path`. */
export function pathExists(path: string): boolean {
  return existsSync(path);
}

/** Create or overwrite a UTF-8 text file (reports, SVG plots); a failure is a DataError naming it. */
export function writeTextFile(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new DataError(`cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Append one JSON record as a line (small logs such as compiles.jsonl); a failure is a DataError naming the file. */
export function appendJsonLine(path: string, record: unknown): void {
  try {
    appendFileSync(path, JSON.stringify(record) + '\n');
  } catch (err) {
    throw new DataError(`cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The last component of a path (`a/b/shirt.png` → `shirt.png`), with this platform's separators. */
export function fileName(path: string): string {
  return basename(path);
}

/** `name` inside the folder `dir`. */
export function resolvePath(dir: string, name: string): string {
  return join(dir, name);
}

/** Do two paths name the same place (after resolving them against the working directory)? */
export function samePath(a: string, b: string): boolean {
  return resolve(a) === resolve(b);
}

/** Create the folder `dir` (and its parents) unless it exists; a file in the way or a failure is a ConfigError naming `flag`. */
export function ensureFolder(dir: string, flag: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new ConfigError(`${flag} ${dir} is a file, not a folder`);
    return;
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new ConfigError(`${flag} ${dir}: cannot create the folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
