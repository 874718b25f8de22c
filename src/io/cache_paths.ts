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

export { shown, checkRepoId, checkRevision, checkRepoFile, checkHex, checkSize } from './hub_ref.js';
import { shown } from './hub_ref.js';

/** `path` resolved, after checking that it lies strictly inside `root` (a HubError naming both otherwise). */
export function inside(root: string, path: string): string {
  const r = resolve(root);
  const p = resolve(path);
  const rel = relative(r, p);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw new HubError(`refusing the cache path ${shown(p)}: it is not inside the cache folder ${r}`);
  return p;
}
