/**
 * ImageFolder data sets as torchvision builds them, from a folder tree that `io/` lists: one class
 * per sub-folder of the root, classes in sorted order (Python's `sorted`, i.e. by code point) and
 * numbered from 0; each class's images are the files with an image extension anywhere below its
 * folder, directory by directory in sorted path order, files sorted within a directory (torchvision's
 * `sorted(os.walk(...))` then `sorted(fnames)`). A root without class folders, or a class folder
 * without images, is a DataError naming the folder (torchvision raises too).
 *
 * Train/val: either the folders say it (`root/train/<class>/…` and `root/val/<class>/…`, classes
 * taken from train; a val class that train lacks is an error, a class missing from val is fine) or
 * a seeded, stratified fraction of each class goes to val.
 * Pure: the tree comes in as data (no file access here).
 */
import { ConfigError, DataError } from '../errors.js';
import { Rng } from '../util/rng.js';

/**
 * torchvision's IMG_EXTENSIONS (matched case-insensitively) that our decoders read: torchvision's
 * `.ppm`, `.bmp` and `.pgm` are left out, because sharp's libvips build reads none of them.
 */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.tif', '.tiff', '.webp'] as const;

/** Image files torchvision would list but we cannot decode: a folder holding them is refused, not silently shrunk. */
export const UNDECODABLE_IMAGE_EXTENSIONS = ['.bmp', '.ppm', '.pgm'] as const;

export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

export function isUndecodableImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return UNDECODABLE_IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** A folder as listed by io/: its sub-folders and file names (any order). */
export interface FolderTree {
  /** Full path of the folder (joined with '/' or the platform separator; used as given). */
  path: string;
  name: string;
  folders: FolderTree[];
  files: string[];
}

export interface ImageSample {
  path: string;
  label: number;
}

export interface ImageFolderSplit {
  /** The folder the split was read from. */
  root: string;
  /** Class names; label i is classes[i]. */
  classes: readonly string[];
  samples: ImageSample[];
}

export interface ImageFolderDataset {
  /** Class names (the train split's), in label order: what a run stores beside its checkpoints. */
  classes: readonly string[];
  train: ImageFolderSplit;
  val: ImageFolderSplit | null;
  /** How the val split was made. */
  splitBy: 'folders' | 'fraction' | 'none';
}

/** Python's string order (by code point; JS's default compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** The image paths below `folder`: directories in sorted path order, files sorted within each. */
function imagesBelow(folder: FolderTree, join: (dir: string, name: string) => string): string[] {
  const dirs: FolderTree[] = [];
  const walk = (f: FolderTree) => {
    dirs.push(f);
    f.folders.forEach(walk);
  };
  walk(folder);
  dirs.sort((a, b) => compareCodePoints(a.path, b.path));
  const undecodable = dirs.flatMap((d) => d.files.filter(isUndecodableImageFile).map((name) => join(d.path, name)));
  if (undecodable.length > 0)
    throw new DataError(
      `${undecodable[0]}${undecodable.length > 1 ? ` and ${undecodable.length - 1} more file(s) below ${folder.path}` : ''}: ` +
        `BMP, PPM and PGM images cannot be decoded here (sharp's libvips has no reader for them); convert them to PNG first`,
    );
  return dirs.flatMap((d) => d.files.filter(isImageFile).sort(compareCodePoints).map((name) => join(d.path, name)));
}

export interface FromTreeOptions {
  /** Fixed class list (a val split uses train's): folders must be among them. */
  classes?: readonly string[];
  /** Path joiner of the platform (default '/'). */
  join?: (dir: string, name: string) => string;
}

/** One split from a folder whose sub-folders are the classes. */
export function imageFolderFromTree(root: FolderTree, o: FromTreeOptions = {}): ImageFolderSplit {
  const join = o.join ?? ((d: string, n: string) => `${d}/${n}`);
  const folders = [...root.folders].sort((a, b) => compareCodePoints(a.name, b.name));
  if (folders.length === 0)
    throw new DataError(`image folder ${root.path} has no class folders: expected one sub-folder per class (e.g. ${join(root.path, 'cat')}/…)`);
  const classes = o.classes ?? folders.map((f) => f.name);
  const index = new Map(classes.map((c, i) => [c, i] as const));
  const samples: ImageSample[] = [];
  for (const f of folders) {
    const label = index.get(f.name);
    if (label === undefined)
      throw new DataError(`class folder ${f.path} is not one of the training classes (${classes.join(', ')})`);
    const paths = imagesBelow(f, join);
    if (paths.length === 0)
      throw new DataError(`class folder ${f.path} holds no images (extensions: ${IMAGE_EXTENSIONS.join(', ')})`);
    for (const path of paths) samples.push({ path, label });
  }
  // With a fixed class list, samples stay grouped by label order like torchvision's make_dataset.
  samples.sort((a, b) => a.label - b.label);
  return { root: root.path, classes, samples };
}

/**
 * Split off a stratified validation fraction: per class, ⌊fraction · n + ½⌋ samples chosen by a
 * permutation seeded from `seed` (but at least one sample stays in train). Both halves keep the
 * original sample order.
 */
export function splitByFraction(split: ImageFolderSplit, fraction: number, seed: number): { train: ImageFolderSplit; val: ImageFolderSplit } {
  if (!(typeof fraction === 'number' && fraction > 0 && fraction < 1))
    throw new ConfigError(`option \`valFraction\` must be in (0, 1), got ${fraction}`);
  if (!Number.isSafeInteger(seed)) throw new ConfigError(`option \`seed\` must be an integer, got ${seed}`);
  const rng = new Rng(seed);
  const byClass = split.classes.map(() => [] as number[]);
  split.samples.forEach((s, i) => byClass[s.label]!.push(i));
  const isVal = new Uint8Array(split.samples.length);
  for (const members of byClass) {
    const n = members.length;
    const count = Math.min(Math.floor(fraction * n + 0.5), n - 1);
    const perm = rng.permutation(n);
    for (let k = 0; k < count; k++) isVal[members[perm[k]!]!] = 1;
  }
  const pick = (v: number) => split.samples.filter((_, i) => isVal[i] === v);
  return { train: { ...split, samples: pick(0) }, val: { ...split, samples: pick(1) } };
}

export interface ImageFolderOptions {
  /**
   * 'auto' (default): the folders if the root has `train/` (with `val/` optional), else a fraction
   * if `valFraction` is given, else no val split. 'folders' requires `train/` and `val/`.
   */
  split?: 'auto' | 'folders' | 'fraction' | 'none';
  valFraction?: number;
  /** Seed of the fraction split (default 0). */
  seed?: number;
  join?: (dir: string, name: string) => string;
}

/** The data set of a listed root folder, split as asked. */
export function imageFolderDataset(root: FolderTree, o: ImageFolderOptions = {}): ImageFolderDataset {
  const mode = o.split ?? 'auto';
  if (!['auto', 'folders', 'fraction', 'none'].includes(mode))
    throw new ConfigError(`option \`split\` must be auto, folders, fraction or none, got ${JSON.stringify(mode)}`);
  const trainDir = root.folders.find((f) => f.name === 'train');
  const valDir = root.folders.find((f) => f.name === 'val');
  const byFolders = mode === 'folders' || (mode === 'auto' && trainDir !== undefined);
  if (byFolders) {
    if (!trainDir || (mode === 'folders' && !valDir))
      throw new DataError(`image folder ${root.path}: a split by folders needs ${trainDir ? 'a val/' : 'a train/'} sub-folder`);
    if (o.valFraction !== undefined) throw new ConfigError(`option \`valFraction\` conflicts with the train/ and val/ folders of ${root.path}`);
    const train = imageFolderFromTree(trainDir, { join: o.join });
    const val = valDir ? imageFolderFromTree(valDir, { classes: train.classes, join: o.join }) : null;
    return { classes: train.classes, train, val, splitBy: val ? 'folders' : 'none' };
  }
  const all = imageFolderFromTree(root, { join: o.join });
  if (mode === 'fraction' || (mode === 'auto' && o.valFraction !== undefined)) {
    if (o.valFraction === undefined) throw new ConfigError('option `valFraction` is required for a split by fraction');
    const { train, val } = splitByFraction(all, o.valFraction, o.seed ?? 0);
    return { classes: all.classes, train, val, splitBy: 'fraction' };
  }
  return { classes: all.classes, train: all, val: null, splitBy: 'none' };
}
