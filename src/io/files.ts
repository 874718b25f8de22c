/**
 * The few plain file operations that jobs in `tasks/` need, behind names that say what they do.
 * They wrap `node:fs`/`node:path` so that `tasks/` itself imports no Node-only module (DESIGN.md
 * layers; a browser entry can follow). Errors are Node's own, unchanged, as before the move.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

/** True when a file or folder exists at `path`. */
export function pathExists(path: string): boolean {
  return existsSync(path);
}

/** Parse a UTF-8 JSON file. The caller states the shape it expects; nothing is validated here. */
export function readJsonFile<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Create or overwrite a UTF-8 text file (reports, SVG plots). */
export function writeTextFile(path: string, text: string): void {
  writeFileSync(path, text);
}

/** The last component of a path (`a/b/shirt.png` → `shirt.png`), with this platform's separators. */
export function fileName(path: string): string {
  return basename(path);
}
