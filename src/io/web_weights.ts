/**
 * Weights in the browser: a state dict from a URL, an `hf:org/name[@revision][:file]` reference, a
 * `File`/`Blob` (drag and drop) or bytes. Downloads go through `fetch` and are kept in the Cache API
 * (so a page works offline once they are there), each verified by sha256 (crypto.subtle) against the
 * hash that is known — a URL's `#sha256=` fragment, the `sha256` option, or the hub's LFS hash
 * (`X-Linked-Etag`) — and against the hash recorded when it was cached. No `node:` imports: this is
 * the browser entry's `Runtime.readWeights` (Node's is io/weights_source.ts).
 */
import { HubError, WeightsError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { ReadWeightsOptions, WeightsProgress } from '../util/weights_options.js';
import { checkHex, checkRepoFile, checkRepoId, checkRevision, parseHubRef, parseWeightsUrl, shown } from './hub_ref.js';
import { bytesSource, readTorchStateDict, sniffWeightsFormat } from './pytorch_format.js';
import { parseSafetensors } from './safetensors_format.js';
import { concatBytes } from '../util/bytes.js';

/** What the browser reads weights from. */
export type WeightsInput = string | URL | Blob | ArrayBuffer | ArrayBufferView;

export interface WebWeightsOptions extends ReadWeightsOptions {
  /** The file's sha256 when known (64 hex digits): the download must match it. */
  sha256?: string;
  /** Hub endpoint for `hf:` references (default https://huggingface.co). */
  hubUrl?: string;
  /** Hub token for gated or private repositories. */
  accessToken?: string;
  /** Cache API cache to keep downloads in (default 'visionmix-weights'; null: do not cache). */
  cacheName?: string | null;
}

const DEFAULT_CACHE = 'visionmix-weights';
/** The header of a cached response that records the sha256 its bytes had when they were stored. */
const SHA_HEADER = 'x-visionmix-sha256';

/** sha256 of bytes, lowercase hex (Web Crypto). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A state dict (name → Tensor) from any browser weights source; see the module comment. */
export async function readWeightsWeb(source: WeightsInput, o: WebWeightsOptions = {}): Promise<Map<string, Tensor>> {
  const { bytes, name } = await weightsBytes(source, o);
  // PyTorch checkpoints (zip or legacy torch.save) are told apart by their first bytes, as in Node,
  // and read by the same restricted unpickler (nothing in the file is run).
  const format = sniffWeightsFormat(bytes.subarray(0, 16));
  if (format === 'zip' || format === 'legacy') {
    const { tensors, info } = await readTorchStateDict(bytesSource(bytes, name), name, { weightsKey: o.weightsKey });
    o.onCheckpoint?.(info);
    return tensors;
  }
  return parseSafetensors(bytes, name).tensors;
}

/** The bytes of a weights source and a name for messages. */
export async function weightsBytes(source: WeightsInput, o: WebWeightsOptions = {}): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = (source as File).name || `<${source.size}-byte Blob>`;
    return { bytes: await verified(new Uint8Array(await source.arrayBuffer()), o.sha256, name), name };
  }
  if (source instanceof ArrayBuffer) return { bytes: await verified(new Uint8Array(source), o.sha256, '<ArrayBuffer>'), name: '<ArrayBuffer>' };
  if (ArrayBuffer.isView(source)) {
    const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    return { bytes: await verified(bytes, o.sha256, '<bytes>'), name: '<bytes>' };
  }
  if (source instanceof URL) source = source.href;
  if (typeof source !== 'string' || source === '')
    throw new WeightsError(`weights source must be a URL, hf:org/name, a File/Blob or an ArrayBuffer, got ${source === null ? 'null' : typeof source}`);
  const hub = parseHubRef(source);
  if (hub) {
    const repo = checkRepoId(hub.repo);
    const revision = checkRevision(hub.revision);
    const file = checkRepoFile(hub.file);
    const base = (o.hubUrl ?? 'https://huggingface.co').replace(/\/+$/, '');
    const url = `${base}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
    const sha = o.sha256 === undefined ? null : checkHex(o.sha256.toLowerCase(), 64, `${source}: the recorded sha256`);
    return { bytes: await download(url, sha, { ...o, label: source, repo, file }), name: source };
  }
  if (source.startsWith('hf:')) throw new WeightsError(`weights source ${shown(source)}: a hub reference is hf:org/name[@revision][:file]`);
  const { url, sha256 } = resolveUrl(source, o.sha256);
  return { bytes: await download(url, sha256, { ...o, label: source, file: url.split('/').pop() || url }), name: source };
}

/**
 * An absolute URL and its expected hash. Relative URLs resolve against the page; a URL of the page's
 * own origin may be http (a local server), others must be https as in Node.
 */
function resolveUrl(source: string, sha256: string | undefined): { url: string; sha256: string | null } {
  const page = (globalThis as { location?: { href: string; origin: string } }).location;
  let u: URL;
  try {
    u = new URL(source, page?.href);
  } catch {
    throw new WeightsError(`weights source ${shown(source)} is not a URL, an hf:org/name reference, a File or bytes`);
  }
  if (page && u.origin === page.origin && u.protocol === 'http:') {
    // parseWeightsUrl's https rule is for the open internet; the page's own server is trusted as the page is.
    const asHttps = new URL(u.href);
    asHttps.protocol = 'https:';
    const parsed = parseWeightsUrl(asHttps.href, sha256);
    u.hash = '';
    return { url: u.href, sha256: parsed.sha256 };
  }
  const parsed = parseWeightsUrl(u.href, sha256);
  return { url: parsed.url, sha256: parsed.sha256 };
}

async function verified(bytes: Uint8Array, expected: string | undefined | null, name: string): Promise<Uint8Array> {
  if (expected === undefined || expected === null) return bytes;
  const want = checkHex(expected.toLowerCase(), 64, `${name}: the expected sha256`);
  const got = await sha256Hex(bytes);
  if (got !== want) throw new HubError(`${name}: sha256 ${got} does not match the expected ${want} (a corrupt or different file)`);
  return bytes;
}

interface DownloadContext extends WebWeightsOptions {
  label: string;
  repo?: string;
  file: string;
}

async function openCache(name: string | null | undefined): Promise<Cache | null> {
  if (name === null || typeof caches === 'undefined') return null;
  try {
    return await caches.open(name ?? DEFAULT_CACHE);
  } catch {
    // Opaque origins and some private modes have no Cache API: download every time.
    return null;
  }
}

/** A cached copy, verified against the hash recorded with it and the expected one; null when there is none usable. */
async function fromCache(cache: Cache, url: string, expected: string | null, label: string, offline: boolean): Promise<Uint8Array | null> {
  const hit = await cache.match(url);
  if (!hit) return null;
  const bytes = new Uint8Array(await hit.arrayBuffer());
  const recorded = hit.headers.get(SHA_HEADER);
  const got = await sha256Hex(bytes);
  if (got === recorded && (expected === null || got === expected)) return bytes;
  if (offline) throw new HubError(`${label}: the cached copy is damaged or out of date (sha256 ${got}); connect once to download it again`);
  await cache.delete(url);
  return null;
}

async function download(url: string, expected: string | null, c: DownloadContext): Promise<Uint8Array> {
  const progress = (e: WeightsProgress) => c.onProgress?.({ ...e, repo: c.repo, file: c.file });
  progress({ status: 'initiate', file: c.file });
  const cache = await openCache(c.cacheName);
  const cached = cache ? await fromCache(cache, url, expected, c.label, c.offline === true) : null;
  if (cached) {
    progress({ status: 'done', file: c.file, path: url, cached: true });
    return cached;
  }
  if (c.offline) throw new HubError(`${c.label}: offline, and not in the browser's cache (${cache ? `no entry for ${url}` : 'no Cache API here'}); load it once online`);
  let res: Response;
  try {
    res = await fetch(url, c.accessToken ? { headers: { Authorization: `Bearer ${c.accessToken}` } } : undefined);
  } catch (err) {
    throw new HubError(`${c.label}: could not fetch ${url}: ${(err as Error).message}`);
  }
  if (!res.ok) {
    const hint = res.status === 401 || res.status === 403 ? ' (a gated or private repository needs accessToken)' : res.status === 404 ? ' (no such file)' : '';
    throw new HubError(`${c.label}: ${url} answered ${res.status} ${res.statusText}${hint}`);
  }
  // A compressed transfer's Content-Length counts the compressed bytes: no total then.
  const total = res.headers.get('content-encoding') ? 0 : Number(res.headers.get('content-length')) || 0;
  progress({ status: 'download', file: c.file, total });
  const auth: Record<string, string> = c.accessToken ? { Authorization: `Bearer ${c.accessToken}` } : {};
  const bytes = await readResumable(url, res, total, auth, c.label, (loaded) => progress({ status: 'progress', file: c.file, loaded, total, progress: total ? (100 * loaded) / total : 0 }));
  // The hub names an LFS file's sha256 in X-Linked-Etag (exposed to pages by its CORS headers).
  const linked = (res.headers.get('x-linked-etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  const want = expected ?? (/^[0-9a-f]{64}$/.test(linked) ? linked : null);
  const got = await sha256Hex(bytes);
  if (want !== null && got !== want) throw new HubError(`${c.label}: the download from ${url} has sha256 ${got}, not the expected ${want} (corrupt or changed file)`);
  if (cache) {
    try {
      await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { [SHA_HEADER]: got, 'content-type': 'application/octet-stream' } }));
    } catch {
      // A full quota is not an error of the load: the next one downloads again.
    }
  }
  progress({ status: 'done', file: c.file, path: url, cached: false });
  return bytes;
}

/** Attempts to continue a download that broke off (each from where it stopped). */
const RESUME_ATTEMPTS = 3;

/**
 * The body, read in chunks so that progress can be told. A download that breaks off is continued
 * with `Range: bytes=<received>-` where the server allows ranges (Accept-Ranges: bytes) and the
 * length is known, up to RESUME_ATTEMPTS times; a server that answers a range with the whole file
 * (200) starts it over. Otherwise a typed error says how much arrived.
 */
async function readResumable(url: string, first: Response, total: number, auth: Record<string, string>, label: string, onChunk: (loaded: number) => void): Promise<Uint8Array> {
  const ranges = total > 0 && (first.headers.get('accept-ranges') ?? '').toLowerCase().includes('bytes');
  let chunks: Uint8Array[] = [];
  let loaded = 0;
  let res = first;
  for (let attempt = 0; ; attempt++) {
    let broke: unknown = null;
    try {
      if (!res.body) {
        const all = new Uint8Array(await res.arrayBuffer());
        chunks.push(all);
        loaded += all.length;
        onChunk(loaded);
      } else {
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          loaded += value.length;
          onChunk(loaded);
        }
      }
    } catch (err) {
      broke = err;
    }
    if (broke === null && (!total || loaded === total)) break;
    const what = broke !== null ? `the connection broke off (${(broke as Error).message})` : `it ended early`;
    if (!ranges || attempt >= RESUME_ATTEMPTS)
      throw new HubError(`${label}: download truncated: ${loaded} of ${total || '?'} bytes from ${url} — ${what}${ranges ? ` ${RESUME_ATTEMPTS} times` : '; the server does not take ranges, so it cannot be continued'}`);
    try {
      res = await fetch(url, { headers: { ...auth, Range: `bytes=${loaded}-` } });
    } catch (err) {
      throw new HubError(`${label}: could not continue the download of ${url}: ${(err as Error).message}`);
    }
    if (res.status === 200) [chunks, loaded] = [[], 0]; // the whole file again
    else if (res.status !== 206) throw new HubError(`${label}: continuing the download of ${url} answered ${res.status} ${res.statusText}`);
  }
  return concatBytes(chunks);
}
