/**
 * The few plain file operations that jobs in `tasks/` need, behind names that say what they do.
 * They wrap `node:fs`/`node:path` so that `tasks/` itself imports no Node-only module (DESIGN.md
 * layers; a browser entry can follow).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, DataError } from '../errors.js';

/** Node's error code (`EACCES`, `ENOSPC`, …) or message, for the end of a typed error. */
export function errorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? (e instanceof Error ? e.message : String(err));
}

/** A text file's contents, or null when it does not exist; any other failure is a DataError naming it. */
export function readTextIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DataError(`cannot read ${path} (${errorReason(err)})`);
  }
}

/** True when `path` is an existing folder. */
export function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Check, before a long job, that an output file can be written at `path` (`flag` names the option):
 * not a folder, and its folder accepts new files (a probe file is created and removed). A job that
 * would run every image and then fail to write its result fails here instead, as a ConfigError.
 */
export function checkWritableOutput(path: string, flag: string): void {
  if (isFolder(path)) throw new ConfigError(`${flag} ${path} is a folder; give a file name`);
  const probe = join(dirname(path), `.${basename(path)}.${process.pid}.probe`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'the folder does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (code ?? (err as Error).message);
    throw new ConfigError(`${flag} ${path}: cannot write a file in ${dirname(path)} (${why})`);
  }
  try {
    unlinkSync(probe);
  } catch {
    /* removed already */
  }
}

/** True when a file or folder exists at `path`. */
export function pathExists(path: string): boolean {
  return existsSync(path);
}

/** Create or overwrite a UTF-8 text file (reports, SVG plots); a failure is a DataError naming it. */
export function writeTextFile(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new DataError(`cannot write ${path} (${errorReason(err)})`);
  }
}

/** Append one JSON record as a line (small logs such as compiles.jsonl); a failure is a DataError naming the file. */
export function appendJsonLine(path: string, record: unknown): void {
  try {
    appendFileSync(path, JSON.stringify(record) + '\n');
  } catch (err) {
    throw new DataError(`cannot write ${path} (${errorReason(err)})`);
  }
}

/** The last component of a path (`a/b/shirt.png` → `shirt.png`), with this platform's separators. */
export function fileName(path: string): string {
  return basename(path);
}

/** SHA-256 (hex) of a file, read as a stream (a multi-GB checkpoint is never held whole). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new DataError(`cannot read ${path} (${errorReason(err)})`);
  }
  return hash.digest('hex');
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
    throw new ConfigError(`${flag} ${dir}: cannot create the folder (${errorReason(err)})`);
  }
}
