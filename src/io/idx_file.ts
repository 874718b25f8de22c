/**
 * Node adapter for IDX files: read the bytes, gunzip them when they are gzip-compressed, and hand
 * them to the pure parser in `data/idx.ts`.
 */
import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { DataError } from '../errors.js';
import { parseIdx, type IdxArray } from '../data/idx.js';

const gunzipAsync = promisify(gunzip);

/** True when the bytes start with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * The contents of a file, decompressed if it is gzip. Compression is detected from the magic
 * bytes, not the name, so a `.gz` that was already unpacked (or a renamed file) still reads.
 * A missing/unreadable file or corrupt gzip data → `DataError` naming the path.
 */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  let raw: Uint8Array;
  try {
    raw = await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new DataError(`${path}: file not found`);
    throw new DataError(`${path}: cannot read file (${e.code ?? e.message})`);
  }
  if (!isGzip(raw)) return raw;
  try {
    return await gunzipAsync(raw);
  } catch (err) {
    throw new DataError(`${path}: gzip data is corrupt or truncated (${(err as Error).message})`);
  }
}

/** Read and parse an IDX file, raw or gzip-compressed. Every problem → `DataError` naming `path`. */
export async function readIdxFile(path: string): Promise<IdxArray> {
  return parseIdx(await readMaybeGzip(path), path);
}
