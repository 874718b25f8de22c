/**
 * Safetensors files on disk (Node). Reading goes through a file handle and fetches one tensor's
 * byte range at a time, so a multi-GB checkpoint never has to fit in one Buffer. Writing is atomic:
 * a crash leaves either the previous file or the complete new one. Format logic lives in
 * `safetensors_format.ts`, which the browser build shares.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { SafetensorsError } from '../errors.js';
import { faultPauseWrite } from './fault.js';
import type { DType, Tensor } from '../tensor.js';
import {
  CHECKSUM_KEY,
  checksumPreimage,
  DATA_CHECKSUM_KEY,
  DECODED_DTYPE,
  decodeTensor,
  layoutSafetensors,
  parseSafetensorsHeader,
  readHeaderLength,
  type SafetensorsDType,
  type SafetensorsEntry,
} from './safetensors_format.js';

export {
  CHECKSUM_KEY,
  DATA_CHECKSUM_KEY,
  decodeTensor,
  parseSafetensors,
  parseSafetensorsHeader,
  serializeSafetensors,
  type SafetensorsDType,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors_format.js';

/** Node caps a single read/write at 2 GiB - 1; stay well below it. */
const IO_CHUNK = 1 << 30;

export interface TensorInfo {
  /** The dtype `read()` returns (half precisions are upcast to float32). */
  dtype: DType;
  shape: number[];
  /** The dtype as stored in the file. */
  storedDtype: SafetensorsDType;
}

function fsError(action: string, path: string, err: unknown): SafetensorsError {
  const e = err as NodeJS.ErrnoException;
  const reason =
    e?.code === 'ENOENT'
      ? 'no such file or directory'
      : e?.code
        ? // Node's messages mostly start with the code already ("ENOSPC: no space left on device, write").
          e.message.startsWith(e.code)
          ? e.message
          : `${e.code}: ${e.message}`
        : String(err);
  const wrapped = new SafetensorsError(`safetensors file '${path}': cannot ${action}: ${reason}`, path);
  wrapped.cause = err;
  return wrapped;
}

/** Fill `buf` from `position`, looping over short reads; returns how many bytes the file had. */
async function readFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < buf.length) {
    const want = Math.min(buf.length - done, IO_CHUNK);
    const { bytesRead } = await fh.read(buf, done, want, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

async function writeFully(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, Math.min(buf.length - done, IO_CHUNK));
    done += bytesWritten;
  }
}

export class SafetensorsFile {
  private handle: FileHandle | undefined;

  private constructor(
    readonly path: string,
    handle: FileHandle,
    readonly size: number,
    private readonly dataStart: number,
    private readonly entries: Map<string, SafetensorsEntry>,
    readonly metadata: Record<string, string>,
  ) {
    this.handle = handle;
  }

  /** Open and validate the header; tensor data is only read on demand. */
  static async open(path: string): Promise<SafetensorsFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw fsError('open', path, err);
    }
    try {
      let size: number;
      try {
        size = (await fh.stat()).size;
      } catch (err) {
        throw fsError('stat', path, err);
      }
      // Two reads: the length prefix tells how much header to fetch; the data stays on disk.
      const lengthPrefix = new Uint8Array(Math.min(8, size));
      await readOrFail(fh, lengthPrefix, 0, path);
      const n = readHeaderLength(lengthPrefix, size, path);
      const prefix = new Uint8Array(8 + n);
      prefix.set(lengthPrefix);
      await readOrFail(fh, prefix.subarray(8), 8, path);
      const header = parseSafetensorsHeader(prefix, size, path);
      return new SafetensorsFile(path, fh, size, header.dataStart, header.entries, header.metadata);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** Tensor names in file order. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  info(key: string): TensorInfo {
    const e = this.entry(key);
    return { dtype: DECODED_DTYPE[e.dtype], shape: [...e.shape], storedDtype: e.dtype };
  }

  /**
   * Read one tensor: only its own byte range is read from disk. A single tensor cannot be checked
   * against the file's checksum (it covers all of them); `readAll()` and `verify()` do that.
   */
  async read(key: string): Promise<Tensor> {
    const e = this.entry(key);
    return decodeTensor(e, await this.readBytes(key, e), this.path, key);
  }

  /** The SHA-256 our writer recorded (of the whole file, or of the data area in older files), or undefined for files from other tools. */
  get checksum(): string | undefined {
    return this.metadata[CHECKSUM_KEY] ?? this.metadata[DATA_CHECKSUM_KEY];
  }

  /** True when the recorded checksum covers the metadata too (files of this version), not only the tensor data. */
  get checksumCoversMetadata(): boolean {
    return this.metadata[CHECKSUM_KEY] !== undefined;
  }

  /** A hash primed with what the checksum covers before the data area (nothing for older files), or null without a checksum. */
  private startHash() {
    if (this.checksum === undefined) return null;
    const hash = createHash('sha256');
    if (this.checksumCoversMetadata) hash.update(checksumPreimage(this.entries, this.metadata, [CHECKSUM_KEY, DATA_CHECKSUM_KEY]));
    return hash;
  }

  /**
   * Every tensor, in file order (sequential reads). When the file records a checksum, the bytes are
   * hashed as they are read and a mismatch throws a SafetensorsError naming the file.
   */
  async readAll(): Promise<Map<string, Tensor>> {
    const out = new Map<string, Tensor>();
    const hash = this.startHash();
    for (const [key, e] of this.entries) {
      const bytes = await this.readBytes(key, e);
      hash?.update(bytes);
      out.set(key, decodeTensor(e, bytes, this.path, key));
    }
    if (hash) this.checkDigest(hash.digest('hex'));
    return out;
  }

  /** Check the recorded checksum against the file on disk (reads the whole data area); no-op without one. */
  async verify(): Promise<void> {
    const hash = this.startHash();
    if (!hash) return;
    for (const [key, e] of this.entries) hash.update(await this.readBytes(key, e));
    this.checkDigest(hash.digest('hex'));
  }

  private checkDigest(actual: string): void {
    if (actual !== this.checksum)
      throw new SafetensorsError(
        `safetensors file '${this.path}': checksum mismatch — the ${this.checksumCoversMetadata ? 'header or tensor data' : 'tensor data'} on disk is not what was written ` +
          `(recorded sha256 ${this.checksum?.slice(0, 16)}…, computed ${actual.slice(0, 16)}…); the file is corrupt`,
        this.path,
      );
  }

  private async readBytes(key: string, e: SafetensorsEntry): Promise<Uint8Array> {
    if (!this.handle) throw new SafetensorsError(`safetensors file '${this.path}': read of tensor '${key}' after close()`, this.path, key);
    // A fresh buffer per tensor starts at byte offset 0, so decoding can view it without copying.
    const bytes = new Uint8Array(e.end - e.begin);
    await readOrFail(this.handle, bytes, this.dataStart + e.begin, this.path, key);
    return bytes;
  }

  /** Release the file handle. Safe to call twice. */
  async close(): Promise<void> {
    const fh = this.handle;
    this.handle = undefined;
    await fh?.close();
  }

  private entry(key: string): SafetensorsEntry {
    const e = this.entries.get(key);
    if (!e) {
      const known = this.keys();
      const hint = known.length <= 8 ? known.join(', ') : `${known.slice(0, 8).join(', ')}, … (${known.length} in all)`;
      throw new SafetensorsError(
        `safetensors file '${this.path}': no tensor '${key}' (file has: ${hint || 'no tensors'})`,
        this.path,
        key,
      );
    }
    return e;
  }
}

/**
 * Read exactly buf.length bytes. The header was validated against the size at open time, so a
 * short read here means the file shrank underneath us; say so rather than decode zeros.
 */
async function readOrFail(fh: FileHandle, buf: Uint8Array, position: number, path: string, key?: string): Promise<void> {
  let got: number;
  try {
    got = await readFully(fh, buf, position);
  } catch (err) {
    const e = fsError('read', path, err);
    throw key === undefined ? e : new SafetensorsError(`${e.message} (tensor '${key}')`, path, key);
  }
  if (got < buf.length) {
    const what = key === undefined ? 'header' : `tensor '${key}'`;
    throw new SafetensorsError(
      `safetensors file '${path}'${key === undefined ? '' : `, tensor '${key}'`}: file is truncated: reading ${what} needs bytes [${position}, ${position + buf.length}) but the file ends at ${position + got} (was it modified while open?)`,
      path,
      key,
    );
  }
}

/** Read a whole file into name → Tensor (file order), verifying its checksum when it has one. */
export async function readSafetensors(path: string): Promise<Map<string, Tensor>> {
  const f = await SafetensorsFile.open(path);
  try {
    return await f.readAll();
  } finally {
    await f.close();
  }
}

/**
 * Write atomically: the data goes to a temporary file in the same directory (rename is only atomic
 * within one filesystem), which is fsynced before being renamed over `path`, and the directory is
 * fsynced afterwards so the rename itself survives a power cut. Readers thus see the old file or the
 * complete new one. A hard crash mid-write can leave a stray `.<name>.*.tmp` beside the target, but
 * never a partial target. The SHA-256 of the header and the tensor data is recorded in
 * `__metadata__` under `CHECKSUM_KEY` (replacing any checksum the caller passed).
 */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  // Validate and lay out before touching the disk, so bad input cannot leave a temp file behind.
  // Laying out only plans (no copies): once to hash the header as a reader will parse it and the
  // data, once more with the hash in the header.
  const rest = { ...metadata };
  delete rest[CHECKSUM_KEY];
  delete rest[DATA_CHECKSUM_KEY];
  const plan = layoutSafetensors(tensors, rest, path);
  const parsed = parseSafetensorsHeader(plan.header, plan.byteLength, path);
  const hash = createHash('sha256').update(checksumPreimage(parsed.entries, parsed.metadata, []));
  for (const c of plan.chunks) hash.update(c);
  const { header, chunks } = layoutSafetensors(tensors, { ...rest, [CHECKSUM_KEY]: hash.digest('hex') }, path);
  const dir = dirname(resolve(path));
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
    await writeFully(fh, header);
    for (const [i, c] of chunks.entries()) {
      if (i === chunks.length >> 1) await faultPauseWrite(path); // crash tests only (io/fault.ts)
      await writeFully(fh, c);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err instanceof SafetensorsError ? err : fsError('write', path, err);
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  let d: FileHandle | undefined;
  try {
    d = await open(dir, 'r');
    await d.sync();
  } catch (err) {
    // Windows cannot open directories and some filesystems refuse fsync on them; the new file is
    // already in place, so failing the write now would be misleading. Real I/O errors still surface.
    const code = (err as NodeJS.ErrnoException).code;
    if (!['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'ENOTSUP', 'EBADF'].includes(code ?? '')) throw fsError('sync directory of', dir, err);
  } finally {
    await d?.close().catch(() => {});
  }
}
