/**
 * Node adapter of ImageFolder data sets: lists a folder tree (following symbolic links, as
 * torchvision's `os.walk(followlinks=True)`, each real folder once) for data/image_folder.ts to turn
 * into classes and samples.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { DataError } from '../errors.js';
import type { FolderTree } from '../data/image_folder.js';

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
      entries = readdirSync(path, { withFileTypes: true });
    } catch (err) {
      throw new DataError(`cannot list folder ${path}: ${(err as Error).message}`);
    }
    if (visited.has(real)) return node; // a link back up the tree: list each real folder once
    visited.add(real);
    for (const e of entries) {
      const full = join(path, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const s = statSync(full);
          isDir = s.isDirectory();
          isFile = s.isFile();
        } catch {
          continue; // a dangling link is not a file
        }
      }
      if (isDir) node.folders.push(walk(full));
      else if (isFile) node.files.push(e.name);
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
