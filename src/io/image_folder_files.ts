/**
 * Node adapter of ImageFolder data sets: lists a folder tree (following symbolic links, as
 * torchvision's `os.walk(followlinks=True)`, each real folder once) for data/image_folder.ts to turn
 * into classes and samples.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { DataError } from '../errors.js';
import { isImageFile, isUndecodableImageFile, type FolderTree } from '../data/image_folder.js';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes of a name as text, printable ASCII kept and every other byte as `\xNN`. */
export function escapeNameBytes(name: Uint8Array): string {
  let out = '';
  for (const b of name) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/**
 * A directory entry's name (listed as bytes) as a string, or a DataError when it is not valid
 * UTF-8: Node turns such bytes into U+FFFD, and the path built from that names no file (ENOENT for
 * a file that exists). Paths here are strings all the way to the decoder workers, so such names are
 * refused, with their bytes, rather than carried.
 */
export function entryName(name: Uint8Array, dir: string): string {
  try {
    return UTF8.decode(name);
  } catch {
    throw new DataError(
      `${join(dir, escapeNameBytes(name))}: the name is not valid UTF-8 (bytes "${escapeNameBytes(name)}"); visionmix reads file and folder ` +
        `names as UTF-8 — rename it (for example with convmv -f latin1 -t utf-8 --notest)`,
    );
  }
}

/** A hint for a path that cannot be opened because it came in through a lossy UTF-8 decoding (U+FFFD). */
export function replacementCharHint(path: string): string {
  return path.includes('\uFFFD')
    ? ' (the name holds U+FFFD: its bytes on disk are probably not valid UTF-8, which visionmix cannot open by name — rename the file)'
    : '';
}

/** This platform's path join, for data/ to name the files of a listed tree. */
export function joinPath(dir: string, name: string): string {
  return join(dir, name);
}

/** The tree below `root`: sub-folders and file names. A missing or unreadable root is a DataError naming it. */
export function readFolderTree(root: string): FolderTree {
  if (!existsSync(root)) throw new DataError(`data folder not found: ${root}`);
  if (!statSync(root).isDirectory()) throw new DataError(`${root} is a file; an image folder data set is a folder with one sub-folder per class`);
  const visited = new Set<string>();
  const walk = (path: string): FolderTree => {
    const node: FolderTree = { path, name: basename(path), folders: [], files: [] };
    let real: string;
    let entries;
    try {
      real = realpathSync(path);
      // As bytes: a name that is not UTF-8 would otherwise come back with U+FFFD and not be found.
      entries = readdirSync(path, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      throw new DataError(`cannot list folder ${path}: ${(err as Error).message}`);
    }
    if (visited.has(real)) return node; // a link back up the tree: list each real folder once
    visited.add(real);
    for (const e of entries) {
      // Only folders and image files matter; another file with an odd name is no reason to stop.
      const lossy = e.name.toString('utf8');
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const s = statSync(Buffer.concat([Buffer.from(path + sep), e.name]));
          isDir = s.isDirectory();
          isFile = s.isFile();
        } catch {
          continue; // a dangling link is not a file
        }
      }
      if (!isDir && !(isFile && (isImageFile(lossy) || isUndecodableImageFile(lossy)))) continue;
      const name = entryName(e.name, path);
      const full = join(path, name);
      if (isDir) node.folders.push(walk(full));
      else node.files.push(name);
    }
    return node;
  };
  return walk(root);
}

/** How many files a set holds, their total size, and a digest of their names (relative to a root) and sizes. */
export interface FileSetSummary {
  files: number;
  bytes: number;
  digest: string;
}

/**
 * Summarise `paths` (in the given order) below `root`: a run records this per class and split, so
 * that resuming on a folder whose files were added, removed, renamed or replaced is noticed. Only
 * names and sizes are read (one stat per file), not the images.
 */
export function summariseFiles(root: string, paths: readonly string[]): FileSetSummary {
  const hash = createHash('sha256');
  let bytes = 0;
  for (const p of paths) {
    let size = -1; // gone since the listing: still a difference to report
    try {
      size = statSync(p).size;
    } catch {
      /* counted as size -1 */
    }
    bytes += Math.max(size, 0);
    hash.update(`${relative(root, p)}\0${size}\n`);
  }
  return { files: paths.length, bytes, digest: hash.digest('hex').slice(0, 32) };
}
