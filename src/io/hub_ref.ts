/**
 * Names from outside, checked — pure functions (no `node:` imports), shared by the Node download cache
 * (io/hub.ts, io/url_cache.ts, io/cache_paths.ts) and the browser's weights reader (io/web_weights.ts):
 * `hf:org/name[@revision][:file]` references, repository ids, revisions, file paths inside a
 * repository, hex digests, sizes, and weights URLs with an optional `#sha256=` fragment.
 */
import { HubError } from '../errors.js';

/** A value for a message: quoted, control characters visible, an overlong one shortened. */
export function shown(value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value) ?? String(value);
  return value.length > 80 ? `${JSON.stringify(value.slice(0, 60))}… (${value.length} characters)` : JSON.stringify(value);
}

const REPO_PART = /^[A-Za-z0-9_](?:[\w.-]*[A-Za-z0-9_])?$/;

/** `org/name` as huggingface_hub accepts it (validate_repo_id), or a HubError naming the value. */
export function checkRepoId(repo: unknown): string {
  const parts = typeof repo === 'string' ? repo.split('/') : [];
  if (
    typeof repo !== 'string' ||
    repo.length > 96 ||
    parts.length !== 2 ||
    !parts.every((p) => REPO_PART.test(p)) ||
    repo.includes('--') ||
    repo.includes('..')
  )
    throw new HubError(
      `hub repository id ${shown(repo)} is not valid: it is 'org/name', each of letters, digits, '_', '-', '.' (not first or last; no '--' or '..'), at most 96 characters`,
    );
  return repo;
}

/** A branch, tag or commit name usable as one file name under `refs/`, or a HubError naming it. */
export function checkRevision(revision: unknown): string {
  if (typeof revision !== 'string' || revision.length > 128 || !/^[A-Za-z0-9_][\w.-]*$/.test(revision) || revision.includes('..'))
    throw new HubError(
      `hub revision ${shown(revision)} is not valid: a branch, tag or commit name of letters, digits, '_', '-', '.' (no '/', no '..'), at most 128 characters`,
    );
  return revision;
}

/** A file path inside a repository: relative, '/'-separated, no empty, '.' or '..' segment, no '\\' or control characters. */
export function checkRepoFile(file: unknown): string {
  const segments = typeof file === 'string' ? file.split('/') : [];
  if (
    typeof file !== 'string' ||
    file.length > 1024 ||
    file.startsWith('/') ||
    /^[A-Za-z]:/.test(file) ||
    /[\\\x00-\x1f\x7f]/.test(file) ||
    segments.some((s) => s === '' || s === '.' || s === '..' || s.length > 255)
  )
    throw new HubError(
      `hub file path ${shown(file)} is not valid: a relative path inside the repository ('/'-separated, no '..', '.' or empty parts, no '\\' or control characters), at most 1024 characters`,
    );
  return file;
}

/** A lowercase hex digest of `digits` digits from the hub (sha256: 64, git sha1 / commit: 40), or a HubError naming it. */
export function checkHex(value: unknown, digits: 40 | 64, what: string): string {
  if (typeof value !== 'string' || value.length !== digits || !/^[0-9a-f]+$/.test(value))
    throw new HubError(`${what} ${shown(value)} is not valid: expected ${digits} lowercase hex digits`);
  return value;
}

/** A byte count from a server: a non-negative safe integer, or a HubError naming it. */
export function checkSize(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new HubError(`${what} ${shown(value)} is not a valid size in bytes`);
  return value;
}

export interface HubRef {
  repo: string;
  revision: string;
  file: string;
}

/**
 * `hf:org/name[@revision][:file]` → parts (file default model.safetensors), or null if not a hub
 * reference. The parts are not validated here: hubFile refuses unsafe ones with a HubError naming them.
 */
export function parseHubRef(source: string): HubRef | null {
  const m = /^hf:([^/@:]+\/[^/@:]+)(?:@([^:]*))?(?::(.*))?$/.exec(source);
  if (!m) return null;
  return { repo: m[1]!, revision: m[2] ?? 'main', file: m[3] ?? 'model.safetensors' };
}

export function isWeightsUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface WeightsUrl {
  /** The URL without its fragment: what is fetched, and what keys the cache entry. */
  url: string;
  sha256: string | null;
  /** The file name of the cache entry: the URL's last path segment, made safe. */
  name: string;
}

/** Split and check a weights URL; anything unusable is a HubError naming it. */
export function parseWeightsUrl(source: string, sha256?: string): WeightsUrl {
  if (source.length > 4096) throw new HubError(`weights URL ${shown(source)} is too long (at most 4096 characters)`);
  let u: URL;
  try {
    u = new URL(source);
  } catch {
    throw new HubError(`weights URL ${shown(source)} is not a valid URL`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOCAL_HOSTS.has(u.hostname)))
    throw new HubError(`weights URL ${shown(source)}: only https:// is accepted (http:// only for 127.0.0.1 or localhost)`);
  let fromFragment: string | null = null;
  if (u.hash) {
    const m = /^#sha256=(.*)$/.exec(u.hash);
    if (!m) throw new HubError(`weights URL ${shown(source)}: the only fragment understood is #sha256=<64 hex digits>`);
    fromFragment = checkHex(m[1]!.toLowerCase(), 64, `weights URL ${shown(source)}: the sha256 fragment`);
  }
  const given = sha256 === undefined ? null : checkHex(sha256.toLowerCase(), 64, `weights URL ${shown(source)}: the recorded sha256`);
  if (fromFragment && given && fromFragment !== given)
    throw new HubError(`weights URL ${shown(source)}: the #sha256 fragment (${fromFragment}) disagrees with the recorded sha256 (${given})`);
  u.hash = '';
  let last = '';
  try {
    last = decodeURIComponent(u.pathname.split('/').pop() ?? '');
  } catch {
    // not decodable: a safe default name below
  }
  const name = last.replace(/[^\w.-]/g, '_').replace(/^[.-]+/, '').slice(0, 128) || 'download';
  return { url: u.href, sha256: fromFragment ?? given, name };
}

