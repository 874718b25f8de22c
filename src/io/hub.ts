/**
 * Weights from the Hugging Face hub, cached on disk: `hf:timm/convnext_atto.d2_in1k` resolves to the
 * repository's `model.safetensors`.
 *
 * @huggingface/hub speaks the hub's API (paths-info: size, LFS sha256, commit) and names cache
 * folders as huggingface_hub does (`models--org--name/{blobs,snapshots,refs}`). The download itself
 * is ours, because the client has no progress events, no resume and no verification: we fetch the
 * `resolve` URL with HTTP Range requests into `blobs/<sha>.incomplete` (a dropped transfer resumes
 * where it stopped), report progress (initiate → download → progress{loaded,total} → done, as
 * transformers.js does), check the size and the sha256 (LFS) or git blob sha1, then rename the
 * blob into place and link it from `snapshots/<commit>/<file>`; `refs/<revision>` records the
 * commit so the file is found offline. A cached blob is re-hashed when its size or modification
 * time changed since it was last verified, so a damaged cache is detected and fetched again.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, closeSync, writeSync, lstatSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathsInfo } from '@huggingface/hub';
import { WeightsError } from '../errors.js';

export type HubProgress =
  | { status: 'initiate'; repo: string; file: string }
  | { status: 'download'; repo: string; file: string; total: number; resumedFrom: number }
  | { status: 'progress'; repo: string; file: string; loaded: number; total: number; progress: number }
  | { status: 'done'; repo: string; file: string; path: string; cached: boolean };

export interface HubOptions {
  /** Hub endpoint (default: $VISIONMIX_HUB_URL, $HF_ENDPOINT, then https://huggingface.co). */
  hubUrl?: string;
  /** Cache folder (default: $VISIONMIX_CACHE, $XDG_CACHE_HOME/visionmix, ~/.cache/visionmix). */
  cacheDir?: string;
  /** Use the cache only (default: $VISIONMIX_OFFLINE or $HF_HUB_OFFLINE set to 1). */
  offline?: boolean;
  /** Hub token for gated/private repositories (default: $HF_TOKEN). */
  accessToken?: string;
  onProgress?: (e: HubProgress) => void;
  /** Injected fetch (tests). */
  fetch?: typeof fetch;
}

export interface HubRef {
  repo: string;
  revision: string;
  file: string;
}

/** `hf:org/name[@revision][:file]` → parts (file default model.safetensors), or null if not a hub reference. */
export function parseHubRef(source: string): HubRef | null {
  const m = /^hf:([\w.-]+\/[\w.-]+)(?:@([\w./-]+?))?(?::(.+))?$/.exec(source);
  if (!m) return null;
  return { repo: m[1]!, revision: m[2] ?? 'main', file: m[3] ?? 'model.safetensors' };
}

export function defaultCacheDir(): string {
  const env = process.env;
  if (env.VISIONMIX_CACHE) return env.VISIONMIX_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'visionmix');
}

function defaultHubUrl(): string {
  return (process.env.VISIONMIX_HUB_URL || process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

/** The cache folder of a repository, named as huggingface_hub names it. */
function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

/** The cached file for a revision, via refs/<revision> → snapshots/<commit>/<file>, if present. */
function cachedSnapshot(folder: string, ref: HubRef): string | null {
  const refFile = join(folder, 'refs', ref.revision);
  const commit = existsSync(refFile) ? readFileSync(refFile, 'utf8').trim() : /^[0-9a-f]{40}$/.test(ref.revision) ? ref.revision : null;
  if (!commit) return null;
  const p = join(folder, 'snapshots', commit, ref.file);
  return existsSync(p) ? p : null;
}

interface Expected {
  size: number;
  /** sha256 for LFS files, git blob sha1 for small ones (when the hub gives one). */
  hash: { algorithm: 'sha256' | 'git-sha1'; hex: string } | null;
}

async function hashFile(path: string, algorithm: 'sha256' | 'git-sha1', size: number): Promise<string> {
  const h = createHash(algorithm === 'sha256' ? 'sha256' : 'sha1');
  if (algorithm === 'git-sha1') h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** "size:mtime" of a blob when it was last verified, kept beside it. */
const stamp = (path: string) => {
  const s = statSync(path);
  return `${s.size}:${s.mtimeMs}`;
};

async function verify(path: string, want: Expected): Promise<string | null> {
  const size = statSync(path).size;
  if (size !== want.size) return `size ${size} bytes, expected ${want.size}`;
  if (!want.hash) return null;
  const got = await hashFile(path, want.hash.algorithm, size);
  if (got !== want.hash.hex) return `${want.hash.algorithm} ${got}, expected ${want.hash.hex}`;
  return null;
}

/** Is the blob as it was when verified? (otherwise re-hash it: it may have been damaged) */
async function stillVerified(blob: string, want: Expected | null): Promise<boolean> {
  const marker = `${blob}.verified`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === stamp(blob)) return true;
  if (!want) return false;
  if ((await verify(blob, want)) !== null) return false;
  writeFileSync(marker, stamp(blob));
  return true;
}

function link(pointer: string, blob: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  try {
    lstatSync(pointer);
    rmSync(pointer);
  } catch {
    // no previous pointer
  }
  try {
    symlinkSync(relative(dirname(pointer), blob), pointer);
  } catch {
    // File systems without symlinks: a copy does too (as huggingface_hub falls back).
    writeFileSync(pointer, readFileSync(blob));
  }
}

/** Download `url` into `partial`, resuming from its current size, with progress. */
async function download(url: string, partial: string, total: number, ref: HubRef, o: HubOptions, doFetch: typeof fetch): Promise<void> {
  let have = existsSync(partial) ? statSync(partial).size : 0;
  if (have > total) {
    rmSync(partial);
    have = 0;
  }
  o.onProgress?.({ status: 'download', repo: ref.repo, file: ref.file, total, resumedFrom: have });
  const headers: Record<string, string> = {};
  if (have > 0) headers.Range = `bytes=${have}-`;
  if (o.accessToken ?? process.env.HF_TOKEN) headers.Authorization = `Bearer ${o.accessToken ?? process.env.HF_TOKEN}`;
  const resp = await doFetch(url, { headers });
  if (!resp.ok) throw new WeightsError(`hub: ${url} answered ${resp.status} ${resp.statusText}`);
  if (have > 0 && resp.status !== 206) have = 0; // the server ignored the range: start over
  const fd = openSync(partial, have > 0 ? 'a' : 'w');
  let loaded = have;
  let lastReport = 0;
  try {
    if (!resp.body) throw new WeightsError(`hub: ${url} sent no body`);
    for await (const chunk of resp.body as unknown as AsyncIterable<Uint8Array>) {
      writeSync(fd, chunk);
      loaded += chunk.length;
      const now = Date.now();
      if (now - lastReport > 100 || loaded === total) {
        lastReport = now;
        o.onProgress?.({ status: 'progress', repo: ref.repo, file: ref.file, loaded, total, progress: total ? (100 * loaded) / total : 100 });
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The local path of a hub file, downloading it into the cache when needed. Offline (by option,
 * environment, or because the hub cannot be reached) the cached copy is used; without one, a
 * WeightsError says what to do.
 */
export async function hubFile(ref: HubRef, o: HubOptions = {}): Promise<string> {
  const cacheDir = o.cacheDir ?? defaultCacheDir();
  const hubUrl = (o.hubUrl ?? defaultHubUrl()).replace(/\/+$/, '');
  const folder = repoFolder(cacheDir, ref.repo);
  const offline = o.offline ?? (truthy(process.env.VISIONMIX_OFFLINE) || truthy(process.env.HF_HUB_OFFLINE));
  const doFetch = o.fetch ?? fetch;
  const name = `hf:${ref.repo}${ref.revision !== 'main' ? `@${ref.revision}` : ''}:${ref.file}`;
  o.onProgress?.({ status: 'initiate', repo: ref.repo, file: ref.file });

  const fromCache = async (why: string): Promise<string> => {
    const p = cachedSnapshot(folder, ref);
    if (!p) throw new WeightsError(`${name}: ${why}, and it is not in the cache (${cacheDir}); connect once to download it, or set VISIONMIX_CACHE to a cache that has it`);
    o.onProgress?.({ status: 'done', repo: ref.repo, file: ref.file, path: p, cached: true });
    return p;
  };
  if (offline) return fromCache('offline mode (VISIONMIX_OFFLINE / HF_HUB_OFFLINE)');

  let info: Awaited<ReturnType<typeof pathsInfo>>;
  try {
    info = await pathsInfo({ repo: ref.repo, paths: [ref.file], revision: ref.revision, expand: true, hubUrl, fetch: doFetch, accessToken: o.accessToken ?? process.env.HF_TOKEN });
  } catch (err) {
    const msg = (err as Error).message;
    const unreachable = /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|network/i.test(msg + String((err as { cause?: unknown }).cause ?? ''));
    if (unreachable) return fromCache(`the hub (${hubUrl}) cannot be reached`);
    throw new WeightsError(`${name}: the hub (${hubUrl}) refused the request: ${msg}`);
  }
  const entry = info.find((e) => e.path === ref.file && e.type === 'file');
  if (!entry) throw new WeightsError(`${name}: the repository has no file '${ref.file}' at revision '${ref.revision}'`);
  const want: Expected = entry.lfs
    ? { size: entry.lfs.size, hash: { algorithm: 'sha256', hex: entry.lfs.oid } }
    : { size: entry.size, hash: entry.oid ? { algorithm: 'git-sha1', hex: entry.oid } : null };
  // Blobs are named by their hash (as huggingface_hub's etags); without one, by size and revision.
  const blobName = want.hash?.hex ?? `${ref.revision}-${want.size}`;
  const commit = entry.lastCommit?.id ?? blobName;
  const blob = join(folder, 'blobs', blobName);
  const pointer = join(folder, 'snapshots', commit, ref.file);
  mkdirSync(dirname(blob), { recursive: true });
  mkdirSync(join(folder, 'refs'), { recursive: true });
  writeFileSync(join(folder, 'refs', ref.revision), commit);

  if (existsSync(blob) && (await stillVerified(blob, want))) {
    link(pointer, blob);
    o.onProgress?.({ status: 'done', repo: ref.repo, file: ref.file, path: pointer, cached: true });
    return pointer;
  }
  if (existsSync(blob)) rmSync(blob); // damaged: fetch it again
  const partial = `${blob}.incomplete`;
  const url = `${hubUrl}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${ref.file}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await download(url, partial, want.size, ref, o, doFetch);
    } catch (err) {
      // A dropped connection leaves the partial file: the next attempt resumes from it.
      if (attempt < 2 && !(err instanceof WeightsError)) continue;
      throw err instanceof WeightsError ? err : new WeightsError(`${name}: download interrupted (${(err as Error).message}); run again to resume`);
    }
    if (statSync(partial).size < want.size && attempt < 2) continue;
    break;
  }
  const bad = await verify(partial, want);
  if (bad) {
    rmSync(partial);
    throw new WeightsError(`${name}: the downloaded file does not match the hub's record (${bad}); it was deleted, run again`);
  }
  renameSync(partial, blob);
  writeFileSync(`${blob}.verified`, stamp(blob));
  link(pointer, blob);
  o.onProgress?.({ status: 'done', repo: ref.repo, file: ref.file, path: pointer, cached: false });
  return pointer;
}
