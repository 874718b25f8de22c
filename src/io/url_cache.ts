/**
 * Weights from a plain URL (`https://…/model.safetensors`, optionally `#sha256=<64 hex>`), kept in
 * the same cache as hub files: `<cache>/urls/<key>/`, where the key is the sha256 of the URL (the
 * fragment left out), holds `blobs/<sha256>` (the bytes, named by their hash), `<name>` (a link to
 * the blob named as the URL's last path segment, so the file keeps its extension) and `url` (the
 * URL, for people reading the cache).
 *
 * A URL is taken to name fixed content (a release file): once cached it is used without asking the
 * server, and — as hub files — verified before every use, offline included. The download resumes with
 * Range requests and is checked against the sha256 of the `#sha256=` fragment or the caller's
 * `sha256`; without one, the first download's hash names the blob (trust on first use), and later
 * uses check the bytes against it. `http://` is accepted only for this machine (127.0.0.1, ::1,
 * localhost: tests and local mirrors); everything else must be `https://`.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { HubError } from '../errors.js';
import { checkBlob, discardBlob, fetchBlob, hashFile, hashFromName, linkAtomic, makeDir, writeAtomic } from './blob_cache.js';
import { checkHex, inside, shown } from './cache_paths.js';
import { defaultCacheDir, defaultOffline, type HubProgress } from './hub.js';

export interface UrlOptions {
  /** Cache folder (default as for the hub: $VISIONMIX_CACHE, …). */
  cacheDir?: string;
  /** Use the cache only (default: $VISIONMIX_OFFLINE or $HF_HUB_OFFLINE set to 1). */
  offline?: boolean;
  /** The file's sha256 when known (a pretrained tag's record); a `#sha256=` fragment must agree. */
  sha256?: string;
  /** Progress, as for the hub (`repo` is the URL up to its last '/', `file` the entry's file name). */
  onProgress?: (e: HubProgress) => void;
  /** Injected fetch (tests). */
  fetch?: typeof fetch;
}

/** `http://…` or `https://…`: a source for urlFile. */
export { isWeightsUrl, parseWeightsUrl, type WeightsUrl } from './hub_ref.js';
import { parseWeightsUrl } from './hub_ref.js';

/**
 * The verified cached file of an entry, or null when there is none usable (online, a damaged one
 * is removed so it is fetched again; offline it is a HubError naming the file to delete).
 */
async function cachedEntry(entry: string, pointer: string, sha256: string | null, label: string, offline: boolean): Promise<string | null> {
  let link;
  try {
    link = lstatSync(pointer);
  } catch {
    return null;
  }
  const blobs = join(entry, 'blobs');
  if (!link.isSymbolicLink()) {
    // A copy (a file system without symlinks): intact when its hash names a verified blob.
    const sha = await hashFile(pointer, 'sha256', link.size);
    if ((sha256 === null || sha === sha256) && existsSync(join(blobs, sha))) return pointer;
    if (offline) throw new HubError(`${label}: the cached file ${pointer} is damaged or out of date (sha256 ${sha}); delete it (rm '${pointer}') and run once online`);
    return null;
  }
  const blob = resolve(dirname(pointer), readlinkSync(pointer));
  const hash = hashFromName(basename(blob));
  if (dirname(blob) !== blobs || hash?.algorithm !== 'sha256')
    throw new HubError(`${label}: the cache entry ${pointer} does not point at a blob of ${blobs} (but at ${blob}); delete ${pointer}`);
  if (!existsSync(blob)) return null;
  if (sha256 !== null && hash.hex !== sha256) {
    if (offline) throw new HubError(`${label}: the cached file has sha256 ${hash.hex}, not the expected ${sha256}; run once online to download it again`);
    return null;
  }
  const bad = await checkBlob(blob, { size: statSync(blob).size, hash });
  if (bad === null) return pointer;
  if (offline) throw new HubError(`${label}: the cached file ${blob} is damaged (${bad}); delete it (rm '${blob}') and run once online to download it again`);
  discardBlob(blob);
  return null;
}

/**
 * The local path of the file at a weights URL, downloading it into the cache when it is not there
 * (or is damaged). Offline without a cached copy: a HubError saying what to do.
 */
export async function urlFile(source: string, o: UrlOptions = {}): Promise<string> {
  const { url, sha256, name } = parseWeightsUrl(source, o.sha256);
  const cacheDir = resolve(o.cacheDir ?? defaultCacheDir());
  const entry = inside(cacheDir, join(cacheDir, 'urls', createHash('sha256').update(url).digest('hex')));
  const pointer = inside(entry, join(entry, name));
  const offline = o.offline ?? defaultOffline();
  const repo = url.slice(0, url.lastIndexOf('/')); // `${repo}/${file}` reads as the URL
  o.onProgress?.({ status: 'initiate', repo, file: name });

  const cached = await cachedEntry(entry, pointer, sha256, url, offline);
  if (cached) {
    o.onProgress?.({ status: 'done', repo, file: name, path: cached, cached: true });
    return cached;
  }
  if (offline)
    throw new HubError(`${url}: offline mode (VISIONMIX_OFFLINE / HF_HUB_OFFLINE), and it is not in the cache (${cacheDir}); connect once to download it, or set VISIONMIX_CACHE to a cache that has it`);
  makeDir(entry);
  writeAtomic(join(entry, 'url'), `${url}\n`);
  const blob = await fetchBlob({
    url,
    blob: join(entry, 'blobs', sha256 ?? 'download'),
    want: { size: null, hash: sha256 ? { algorithm: 'sha256', hex: sha256 } : null },
    nameBySha256: true,
    name: url,
    record: 'its sha256',
    fetch: o.fetch ?? fetch,
    onStart: (total, resumedFrom) => o.onProgress?.({ status: 'download', repo, file: name, total, resumedFrom }),
    onProgress: (loaded, total) => o.onProgress?.({ status: 'progress', repo, file: name, loaded, total, progress: total ? (100 * loaded) / total : 0 }),
  });
  linkAtomic(pointer, blob);
  o.onProgress?.({ status: 'done', repo, file: name, path: pointer, cached: false });
  return pointer;
}
