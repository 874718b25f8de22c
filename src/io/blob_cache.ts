/**
 * Blobs of the download cache (hub files and plain URLs): files named by their hash, fetched with
 * resumable HTTP Range requests, and verified before every use — offline included.
 *
 * Verification: a blob is checked against its expected size and hash (sha256, or the git blob sha1
 * of a small hub file). Re-hashing a large file on every load is slow, so a successful check leaves
 * a stamp `<blob>.verified` holding the blob's size and modification time; the stamp is trusted only
 * while both are unchanged and the stamp is strictly newer than the blob (a change within the same
 * clock tick as the stamp could keep the same mtime: such a "racy" stamp is re-checked, as git does).
 *
 * Concurrency: each download writes its own temp file `<blob>.incomplete.<host>.<pid>.<random>` and
 * renames it into place, so two processes (or two calls) fetching the same blob at once both succeed
 * and a reader never sees a half-written blob. To resume, a download first claims (by an atomic
 * rename; only one claimant wins) the partial file a failed run left at `<blob>.incomplete`, or one
 * whose process died (same host, pid gone: a killed run); an unfinished download hands its partial
 * back to `<blob>.incomplete`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, createReadStream, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { HubError } from '../errors.js';
import { errorReason } from './files.js';
import { alive } from './run_lock.js';

export interface Expected {
  size: number;
  /** sha256, or the git blob sha1 of a small hub file; null when the source gives no hash. */
  hash: { algorithm: 'sha256' | 'git-sha1'; hex: string } | null;
}

export async function hashFile(path: string, algorithm: 'sha256' | 'git-sha1', size: number): Promise<string> {
  const h = createHash(algorithm === 'sha256' ? 'sha256' : 'sha1');
  if (algorithm === 'git-sha1') h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** What a blob's own name says about its content: a sha256 (64 hex) or git sha1 (40 hex) name is its hash. */
export function hashFromName(name: string): Expected['hash'] {
  if (/^[0-9a-f]{64}$/.test(name)) return { algorithm: 'sha256', hex: name };
  if (/^[0-9a-f]{40}$/.test(name)) return { algorithm: 'git-sha1', hex: name };
  return null;
}

async function verify(path: string, want: Expected): Promise<string | null> {
  const size = statSync(path).size;
  if (size !== want.size) return `size ${size} bytes, expected ${want.size}`;
  if (!want.hash) return null;
  const got = await hashFile(path, want.hash.algorithm, size);
  if (got !== want.hash.hex) return `${want.hash.algorithm} ${got}, expected ${want.hash.hex}`;
  return null;
}

/** Create a cache folder (and its parents); a failure is a HubError naming it. */
export function makeDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    throw new HubError(`cannot create the cache folder ${path} (${errorReason(err)})`);
  }
}

/** Write a small file in one step (temp file + rename): a reader sees the old or the new content. */
export function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new HubError(`cannot write the cache file ${path} (${errorReason(err)})`);
  }
}

const stampOf = (blob: string) => `${blob}.verified`;

function stampTrusted(blob: string): boolean {
  try {
    const b = statSync(blob);
    const s = statSync(stampOf(blob));
    return s.mtimeMs > b.mtimeMs && readFileSync(stampOf(blob), 'utf8') === `${b.size}:${b.mtimeMs}`;
  } catch {
    return false;
  }
}

/** Record that `blob` was verified as it is now. Only saves later re-hashing: a read-only cache goes without. */
function writeStamp(blob: string): void {
  try {
    const b = statSync(blob);
    writeAtomic(stampOf(blob), `${b.size}:${b.mtimeMs}`);
  } catch {
    // not writable: the blob is hashed again on its next use
  }
}

/** Remove a damaged blob and its stamp (online: it is fetched again). */
export function discardBlob(blob: string): void {
  rmSync(blob, { force: true });
  rmSync(stampOf(blob), { force: true });
}

/**
 * null when the cached `blob` is intact (its stamp is current, or its bytes match `want`), else what
 * is wrong with it. A blob without a known hash is intact only by its stamp.
 */
export async function checkBlob(blob: string, want: Expected): Promise<string | null> {
  const size = statSync(blob).size;
  if (size !== want.size) return `size ${size} bytes, expected ${want.size}`;
  if (stampTrusted(blob)) return null;
  if (!want.hash) return 'changed since it was downloaded, and there is no hash to check it against';
  const bad = await verify(blob, want);
  if (!bad) writeStamp(blob);
  return bad;
}

/**
 * Point `pointer` at `blob` with a relative symlink, replacing what was there in one step (a file
 * system without symlinks gets a copy, as huggingface_hub falls back).
 */
export function linkAtomic(pointer: string, blob: string): void {
  makeDir(dirname(pointer));
  const tmp = `${pointer}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    try {
      symlinkSync(relative(dirname(pointer), blob), tmp);
    } catch {
      copyFileSync(blob, tmp);
    }
    renameSync(tmp, pointer);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new HubError(`cannot create the cache entry ${pointer} (${errorReason(err)})`);
  }
}

const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '_') || 'host';

/** The partial file of a download by a process that is gone (this host only: elsewhere we cannot know). */
function orphaned(suffix: string): boolean {
  const m = /^\.([A-Za-z0-9_-]+)\.(\d+)\.[0-9a-f]+$/.exec(suffix);
  return !!m && m[1] === HOST && !alive(Number(m[2]));
}

const sizeOf = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
};

/** A temp file of our own for `blob`, holding the largest partial download left to resume, if any. */
function claimPartial(blob: string): string {
  const mine = `${blob}.incomplete.${HOST}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const dir = dirname(blob);
  const prefix = `${basename(blob)}.incomplete`;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return mine;
  }
  const left = names
    .filter((n) => n === prefix || (n.startsWith(`${prefix}.`) && orphaned(n.slice(prefix.length))))
    .map((n) => ({ path: join(dir, n), size: sizeOf(join(dir, n)) }))
    .sort((a, b) => b.size - a.size);
  let claimed = false;
  for (const c of left) {
    try {
      if (!claimed) {
        renameSync(c.path, mine); // atomic: of two claimants, one gets it
        claimed = true;
      } else if (c.path !== join(dir, prefix)) rmSync(c.path); // a smaller leftover of a dead process
    } catch {
      // claimed or removed by someone else meanwhile
    }
  }
  return mine;
}

export interface Transfer {
  url: string;
  /**
   * Final path of the blob. With `nameBySha256` (a URL without a known hash) its folder only: the
   * blob is named by the sha256 of what was downloaded.
   */
  blob: string;
  /** Size and hash to check; a null size is learnt from the response (Content-Length / Content-Range). */
  want: { size: number | null; hash: Expected['hash'] };
  nameBySha256?: boolean;
  /** What is being fetched, for messages (`hf:org/name:file`, the URL). */
  name: string;
  /** Where `want` comes from, for messages ("the hub's record"). */
  record: string;
  headers?: Record<string, string>;
  fetch: typeof fetch;
  onStart?: (total: number, resumedFrom: number) => void;
  onProgress?: (loaded: number, total: number) => void;
}

/** fetch gave up following redirects (undici's "redirect count exceeded"). */
export function isRedirectLoop(err: unknown): boolean {
  return /redirect count exceeded/i.test(String((err as { cause?: { message?: string } })?.cause?.message ?? ''));
}

/** The total size a response announces: Content-Range's total for a 206, Content-Length otherwise (not when compressed). */
function announcedSize(resp: Response, ranged: boolean): number | null {
  if (ranged) {
    const m = /\/(\d+)$/.exec(resp.headers.get('content-range') ?? '');
    return m ? Number(m[1]) : null;
  }
  const enc = resp.headers.get('content-encoding');
  const len = resp.headers.get('content-length');
  return len !== null && /^\d+$/.test(len) && (!enc || enc === 'identity') ? Number(len) : null;
}

/**
 * Append the bytes of `t.url` to `partial` from its current size on (HTTP Range), with progress.
 * Returns the file's total size when known (from `t.want` or the response).
 */
async function downloadInto(t: Transfer, partial: string, known: number | null): Promise<number | null> {
  let total = known;
  let have = Math.max(0, sizeOf(partial));
  if (total !== null && have > total) have = 0; // not a prefix of this blob: start over
  if (total !== null && have === total && total > 0) {
    t.onStart?.(total, have);
    return total; // complete already: only the check is left
  }
  const headers: Record<string, string> = { ...t.headers };
  if (have > 0) headers.Range = `bytes=${have}-`;
  const resp = await t.fetch(t.url, { headers });
  if (resp.status === 416 && have > 0) {
    // Nothing left from `have` on: the partial file is complete when the server's total says so.
    if (announcedSize(resp, true) === have) {
      t.onStart?.(have, have);
      return have;
    }
    rmSync(partial, { force: true });
    throw new Error(`${t.url} refused to resume at byte ${have} (416): starting over`);
  }
  if (!resp.ok) throw new HubError(`${t.name}: ${t.url} answered ${resp.status} ${resp.statusText}`);
  // The server ignored the range, or answered another one: start over.
  if (have > 0 && (resp.status !== 206 || !(resp.headers.get('content-range') ?? '').startsWith(`bytes ${have}-`))) have = 0;
  total ??= announcedSize(resp, have > 0);
  t.onStart?.(total ?? 0, have);
  let fd: number;
  try {
    fd = openSync(partial, have > 0 ? 'a' : 'w');
  } catch (err) {
    throw new HubError(`${t.name}: cannot write ${partial} (${errorReason(err)})`);
  }
  let loaded = have;
  let lastReport = 0;
  try {
    if (!resp.body) throw new HubError(`${t.name}: ${t.url} sent no body`);
    for await (const chunk of resp.body as unknown as AsyncIterable<Uint8Array>) {
      if (total !== null && loaded + chunk.length > total) throw new HubError(`${t.name}: ${t.url} sent more than the expected ${total} bytes`);
      try {
        writeSync(fd, chunk);
      } catch (err) {
        throw new HubError(`${t.name}: cannot write ${partial} (${errorReason(err)}); the partial file is kept, free space and run again to resume`);
      }
      loaded += chunk.length;
      const now = Date.now();
      if (now - lastReport > 100 || loaded === total) {
        lastReport = now;
        t.onProgress?.(loaded, total ?? 0);
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

/**
 * Fetch `t.url` into the cache: resume a partial download if one is left, retry a dropped
 * connection twice, check size and hash, then rename into place and stamp it as verified; returns
 * the blob's path. A short download keeps its partial file for the next run; a wrong one (too long,
 * wrong hash) is deleted.
 */
export async function fetchBlob(t: Transfer): Promise<string> {
  makeDir(dirname(t.blob));
  const mine = claimPartial(t.blob);
  let total = t.want.size;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        total = await downloadInto(t, mine, total);
      } catch (err) {
        if (err instanceof HubError) {
          if (/sent more than/.test(err.message)) rmSync(mine, { force: true });
          throw err;
        }
        if (isRedirectLoop(err)) throw new HubError(`${t.name}: ${t.url} redirects in a loop (fetch gave up after 20 redirects)`);
        // A dropped connection leaves the partial file: the next attempt resumes from it.
        if (attempt < 2) continue;
        const cause = (err as { cause?: { message?: string } }).cause?.message;
        const kept = sizeOf(mine) > 0 ? 'the partial file is kept, run again to resume' : 'run again';
        throw new HubError(`${t.name}: download interrupted (${(err as Error).message}${cause ? `: ${cause}` : ''}); ${kept}`);
      }
      if (total !== null && sizeOf(mine) < total && attempt < 2) continue;
      break;
    }
    const size = sizeOf(mine);
    if (total !== null && size < total)
      throw new HubError(`${t.name}: the download stopped at ${size} of ${total} bytes; the partial file is kept, run again to resume`);
    const bad = await verify(mine, { size: total ?? size, hash: t.want.hash });
    if (bad) {
      rmSync(mine, { force: true });
      throw new HubError(`${t.name}: the downloaded file does not match ${t.record} (${bad}); it was deleted, run again`);
    }
    const blob = t.nameBySha256 && !t.want.hash ? join(dirname(t.blob), await hashFile(mine, 'sha256', size)) : t.blob;
    try {
      renameSync(mine, blob); // atomic; a blob another download put there meanwhile has the same bytes
    } catch (err) {
      throw new HubError(`${t.name}: cannot move the download into the cache as ${blob} (${errorReason(err)})`);
    }
    writeStamp(blob);
    return blob;
  } finally {
    // Unfinished: hand the partial file to the next run (one left by another failed run is replaced).
    const left = sizeOf(mine);
    if (left > 0) {
      try {
        renameSync(mine, `${t.blob}.incomplete`);
      } catch {
        // keep it under our name: a later run claims it once this process is gone
      }
    } else if (left === 0) rmSync(mine, { force: true });
  }
}
