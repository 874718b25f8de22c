/**
 * Weights from the Hugging Face hub, cached on disk: `hf:timm/convnext_atto.d2_in1k` resolves to the
 * repository's `model.safetensors`.
 *
 * @huggingface/hub speaks the hub's API (paths-info: size, LFS sha256, commit) and names cache
 * folders as huggingface_hub does (`models--org--name/{blobs,snapshots,refs}`). The download itself
 * is ours (io/blob_cache.ts), because the client has no progress events, no resume and no
 * verification: we fetch the `resolve` URL with HTTP Range requests (a dropped transfer resumes where
 * it stopped), report progress (initiate → download → progress{loaded,total} → done, as
 * transformers.js does), check the size and the sha256 (LFS) or git blob sha1, rename the blob into
 * `blobs/<hash>` and link it from `snapshots/<commit>/<file>`; only then does `refs/<revision>`
 * record the commit, so a failed download of a newer revision leaves the cached one usable offline.
 *
 * Nothing from outside is trusted as a path: the repo id, revision and file path of the reference
 * and the hash, size and commit in the hub's answer are validated (io/cache_paths.ts), and every
 * path is checked to stay inside the cache. A cached blob is verified before every use, offline too.
 */
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathsInfo } from '@huggingface/hub';
import { HubError } from '../errors.js';
import { checkBlob, discardBlob, fetchBlob, hashFile, hashFromName, isRedirectLoop, linkAtomic, makeDir, writeAtomic, type Expected } from './blob_cache.js';
import { checkHex, checkRepoFile, checkRepoId, checkRevision, checkSize, inside, shown } from './cache_paths.js';

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

export { parseHubRef, type HubRef } from './hub_ref.js';
import type { HubRef } from './hub_ref.js';

export function defaultCacheDir(): string {
  const env = process.env;
  if (env.VISIONMIX_CACHE) return env.VISIONMIX_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'visionmix');
}

function defaultHubUrl(): string {
  return (process.env.VISIONMIX_HUB_URL || process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

/** Whether the cache alone is used when the caller does not say: $VISIONMIX_OFFLINE or $HF_HUB_OFFLINE set. */
export function defaultOffline(): boolean {
  return truthy(process.env.VISIONMIX_OFFLINE) || truthy(process.env.HF_HUB_OFFLINE);
}

/** The cache folder of a repository, named as huggingface_hub names it. */
function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

/** A snapshot folder name read back from `refs/`: a commit id, or a blob name where the hub gave no commit. */
const SNAPSHOT_NAME = /^[A-Za-z0-9_][\w.-]{0,199}$/;

/**
 * The cached file for a revision (refs/<revision> → snapshots/<commit>/<file>), or null if it is not
 * there. Its blob is verified first (by its stamp, or by re-hashing it against its name); a damaged
 * one is a HubError naming the path to delete.
 */
async function cachedFile(folder: string, ref: HubRef, name: string): Promise<string | null> {
  const refFile = inside(folder, join(folder, 'refs', ref.revision));
  const commit = existsSync(refFile) ? readFileSync(refFile, 'utf8').trim() : /^[0-9a-f]{40}$/.test(ref.revision) ? ref.revision : null;
  if (commit === null) return null;
  if (!SNAPSHOT_NAME.test(commit) || commit.includes('..'))
    throw new HubError(`${name}: the cache entry ${refFile} holds ${shown(commit)}, not a commit id; delete ${refFile}`);
  const pointer = inside(folder, join(folder, 'snapshots', commit, ref.file));
  let link;
  try {
    link = lstatSync(pointer);
  } catch {
    return null;
  }
  const blobs = join(folder, 'blobs');
  if (link.isSymbolicLink()) {
    const blob = resolve(dirname(pointer), readlinkSync(pointer));
    if (dirname(blob) !== blobs) throw new HubError(`${name}: the cache entry ${pointer} points outside ${blobs} (to ${blob}); delete ${pointer}`);
    if (!existsSync(blob)) return null;
    const size = statSync(blob).size;
    const hash = hashFromName(basename(blob));
    // Without a hash in its name the blob is `<revision>-<size>`: its size is known, its bytes only by its stamp.
    const named = /-(\d+)$/.exec(basename(blob));
    const bad = await checkBlob(blob, { size: hash || !named ? size : Number(named[1]), hash });
    if (bad) throw new HubError(`${name}: the cached file ${blob} is damaged (${bad}); delete it (rm '${blob}') and run once online to download it again`);
  } else {
    // A copy (a file system without symlinks): intact when its hash names a blob that was verified on download.
    const sha = await hashFile(pointer, 'sha256', link.size);
    const git = await hashFile(pointer, 'git-sha1', link.size);
    if (!existsSync(join(blobs, sha)) && !existsSync(join(blobs, git)))
      throw new HubError(`${name}: the cached file ${pointer} is damaged (its hash matches no downloaded blob); delete it (rm '${pointer}') and run once online to download it again`);
  }
  return pointer;
}

/** Size and hash of a hub file from its paths-info entry, each validated (a HubError names a bad one). */
function expected(entry: Awaited<ReturnType<typeof pathsInfo>>[number], name: string): Expected {
  if (entry.lfs)
    return {
      size: checkSize(entry.lfs.size, `${name}: the hub's LFS size`),
      hash: { algorithm: 'sha256', hex: checkHex(entry.lfs.oid, 64, `${name}: the hub's LFS sha256`) },
    };
  return {
    size: checkSize(entry.size, `${name}: the hub's file size`),
    hash: entry.oid === undefined || entry.oid === null ? null : { algorithm: 'git-sha1', hex: checkHex(entry.oid, 40, `${name}: the hub's git blob id`) },
  };
}

/**
 * The local path of a hub file, downloading it into the cache when needed. Offline (by option,
 * environment, or because the hub cannot be reached) the cached copy is used, verified; without one,
 * a HubError says what to do.
 */
export async function hubFile(ref: HubRef, o: HubOptions = {}): Promise<string> {
  const repo = checkRepoId(ref.repo);
  const revision = checkRevision(ref.revision);
  const file = checkRepoFile(ref.file);
  const cacheDir = resolve(o.cacheDir ?? defaultCacheDir());
  const folder = inside(cacheDir, repoFolder(cacheDir, repo));
  const hubUrl = (o.hubUrl ?? defaultHubUrl()).replace(/\/+$/, '');
  const offline = o.offline ?? defaultOffline();
  const doFetch = o.fetch ?? fetch;
  const token = o.accessToken ?? process.env.HF_TOKEN;
  const name = `hf:${repo}${revision !== 'main' ? `@${revision}` : ''}:${file}`;
  o.onProgress?.({ status: 'initiate', repo, file });

  const fromCache = async (why: string): Promise<string> => {
    const p = await cachedFile(folder, { repo, revision, file }, name);
    if (!p) throw new HubError(`${name}: ${why}, and it is not in the cache (${cacheDir}); connect once to download it, or set VISIONMIX_CACHE to a cache that has it`);
    o.onProgress?.({ status: 'done', repo, file, path: p, cached: true });
    return p;
  };
  if (offline) return fromCache('offline mode (VISIONMIX_OFFLINE / HF_HUB_OFFLINE)');

  let info: Awaited<ReturnType<typeof pathsInfo>>;
  try {
    info = await pathsInfo({ repo, paths: [file], revision, expand: true, hubUrl, fetch: doFetch, accessToken: token });
  } catch (err) {
    if (isRedirectLoop(err)) throw new HubError(`${name}: the hub (${hubUrl}) redirects in a loop (fetch gave up after 20 redirects)`);
    const msg = (err as Error).message;
    const unreachable = /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|network/i.test(msg + String((err as { cause?: unknown }).cause ?? ''));
    if (unreachable) return fromCache(`the hub (${hubUrl}) cannot be reached`);
    throw new HubError(`${name}: the hub (${hubUrl}) refused the request: ${msg}`);
  }
  const entry = info.find((e) => e.path === file && e.type === 'file');
  if (!entry) throw new HubError(`${name}: the repository has no file '${file}' at revision '${revision}'`);
  const want = expected(entry, name);
  // Blobs are named by their hash (as huggingface_hub's etags); without one, by revision and size.
  const blobName = want.hash?.hex ?? `${revision}-${want.size}`;
  const commit = entry.lastCommit ? checkHex(entry.lastCommit.id, 40, `${name}: the hub's commit id`) : blobName;
  const blob = inside(folder, join(folder, 'blobs', blobName));
  const pointer = inside(folder, join(folder, 'snapshots', commit, file));
  const refFile = inside(folder, join(folder, 'refs', revision));
  const finish = (cached: boolean) => {
    linkAtomic(pointer, blob);
    // Only now, with the snapshot complete, does the revision point at the new commit.
    makeDir(dirname(refFile));
    writeAtomic(refFile, commit);
    o.onProgress?.({ status: 'done', repo, file, path: pointer, cached });
    return pointer;
  };

  if (existsSync(blob)) {
    if ((await checkBlob(blob, want)) === null) return finish(true);
    discardBlob(blob); // damaged: fetch it again
  }
  await fetchBlob({
    url: `${hubUrl}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`,
    blob,
    want,
    name,
    record: "the hub's record",
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    fetch: doFetch,
    onStart: (total, resumedFrom) => o.onProgress?.({ status: 'download', repo, file, total, resumedFrom }),
    onProgress: (loaded, total) => o.onProgress?.({ status: 'progress', repo, file, loaded, total, progress: total ? (100 * loaded) / total : 100 }),
  });
  return finish(false);
}
