/**
 * `openImageFolder(root, options)`: an ImageFolder data set on disk — the folder tree listed by
 * io/ and turned into classes, samples and a train/val split by data/ (see data/image_folder.ts for
 * the rules).
 */
import { imageFolderDataset, type ImageFolderDataset, type ImageFolderOptions } from '../data/image_folder.js';
import { joinPath, readFolderTree, summariseFiles, type FileSetSummary } from '../io/image_folder_files.js';

export type { ImageFolderDataset, ImageFolderOptions, FileSetSummary };

/** An image folder's files as a run records them: split → class → count, bytes and digest of names and sizes. */
export type DataFiles = Record<string, Record<string, FileSetSummary>>;

/** The files of each split and class of `dataset` (read from `root`). */
export function summariseDataFiles(root: string, dataset: ImageFolderDataset): DataFiles {
  const out: DataFiles = {};
  for (const [split, s] of [['train', dataset.train], ['val', dataset.val]] as const) {
    if (!s) continue;
    const byClass = new Map<string, string[]>();
    for (const x of s.samples) {
      const name = s.classes[x.label]!;
      const paths = byClass.get(name);
      if (paths) paths.push(x.path);
      else byClass.set(name, [x.path]);
    }
    out[split] = Object.fromEntries([...byClass].map(([name, paths]) => [name, summariseFiles(root, paths)]));
  }
  return out;
}

/**
 * What changed between two `DataFiles` of one folder, one line per split and class
 * (`train/shirt: 8 files added (100 → 108)`); empty when nothing did.
 */
export function dataFileChanges(before: DataFiles, now: DataFiles): string[] {
  const out: string[] = [];
  const keys = (a: object | undefined, b: object | undefined) => [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].sort();
  for (const split of keys(before, now))
    for (const name of keys(before[split], now[split])) {
      const a = before[split]?.[name];
      const b = now[split]?.[name];
      if (a && b && a.files === b.files && a.digest === b.digest) continue;
      const [na, nb] = [a?.files ?? 0, b?.files ?? 0];
      const plural = (n: number) => `${n} file${n === 1 ? '' : 's'}`;
      out.push(
        nb > na
          ? `${split}/${name}: ${plural(nb - na)} added (${na} → ${nb})`
          : nb < na
            ? `${split}/${name}: ${plural(na - nb)} removed (${na} → ${nb})`
            : `${split}/${name}: same number of files (${na}) but files renamed, replaced or changed in size`,
      );
    }
  return out;
}

export function openImageFolder(root: string, options: Omit<ImageFolderOptions, 'join'> = {}): ImageFolderDataset {
  return imageFolderDataset(readFolderTree(root), { ...options, join: joinPath });
}
