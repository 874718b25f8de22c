/**
 * Checks for every value from outside (the user's `hf:` reference, the hub's answer, a URL) before it
 * becomes part of a path in the download cache. A hostile or broken server must not be able to name a
 * file outside the cache: a blob name `../../x` would delete or overwrite the user's files.
 *
 * The rules follow huggingface_hub's: a repo id is `namespace/name`, each part of letters, digits,
 * `_`, `-`, `.`, not starting or ending with `-` or `.`, without `--` or `..`, at most 96 characters;
 * an LFS oid is a sha256 (64 hex digits), a commit id a git sha1 (40 hex digits). A revision becomes
 * one file name under `refs/`, so it may not hold path separators (the hub's `refs/pr/1` is refused
 * rather than nested). On top of the value checks, every final path is checked to lie inside its
 * folder (`inside`), so a rule missed here still cannot reach outside the cache.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
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
    isAbsolute(file) ||
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

/** `path` resolved, after checking that it lies strictly inside `root` (a HubError naming both otherwise). */
export function inside(root: string, path: string): string {
  const r = resolve(root);
  const p = resolve(path);
  const rel = relative(r, p);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw new HubError(`refusing the cache path ${shown(p)}: it is not inside the cache folder ${r}`);
  return p;
}
