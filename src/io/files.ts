/**
 * The few plain file operations that jobs in `tasks/` need, behind names that say what they do.
 * They wrap `node:fs`/`node:path` so that `tasks/` itself imports no Node-only module (DESIGN.md
 * layers; a browser entry can follow).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, createReadStream, existsSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DataError } from '../errors.js';

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

/** SHA-256 (hex) of a file, read as a stream (a multi-GB checkpoint is never held whole). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new DataError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return hash.digest('hex');
}
