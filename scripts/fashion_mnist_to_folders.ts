/**
 * Write Fashion-MNIST out as an ImageFolder data set of PNG files, for fine-tuning experiments:
 *
 *   node dist/scripts/fashion_mnist_to_folders.js --out DIR [--src DIR | --src bundled]
 *        [--classes 0,1,2,3,4] [--limit N]
 *
 *   DIR/train/<label>_<name>/<index>.png   from the training split
 *   DIR/val/<label>_<name>/<index>.png     from the test split
 * Folder names start with the original label (`0_t_shirt_top`, …, `9_ankle_boot`), so that the
 * sorted class order of an ImageFolder is the label order. Images are the original 28×28 grayscale
 * bytes, losslessly. `--classes` keeps only those labels (e.g. `0,1,2,3,4` and `5,6,7,8,9` for a
 * 5 + 5 fine-tuning experiment; ranges such as `5-9` work too); `--limit` keeps the first N images
 * of each class in each split. The source defaults to /usr/share/datasets/fashion-mnist (Debian
 * package dataset-fashion-mnist); `bundled` is the 6000 + 1000 image subset shipped in data/.
 * Existing files are overwritten; nothing else in DIR is touched.
 */
import { realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { FashionMnistSplit } from '../src/data/fashion_mnist.js';
import { BUNDLED_FASHION_MNIST_DIR, DEFAULT_FASHION_MNIST_DIR, loadFashionMnist } from '../src/io/fashion_mnist_files.js';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
  return value;
}

/** "T-shirt/top" → "t_shirt_top". */
function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
}

/** "0,1,2" or "5-9" or "0-2,7" → sorted labels; every label must exist. */
export function parseClasses(spec: string, count: number): number[] {
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`--classes: '${part}' is not a label or a range (e.g. 0,1,2 or 5-9)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi >= count) throw new Error(`--classes: '${part}' is outside the labels 0..${count - 1}`);
    for (let l = lo; l <= hi; l++) out.add(l);
  }
  return [...out].sort((a, b) => a - b);
}

/** Write one split's images of the chosen classes (at most `limit` each) as DIR/<label>_<name>/<index>.png; returns the count per class. */
export async function writeSplit(split: FashionMnistSplit, dir: string, classes: number[], limit: number): Promise<Map<number, number>> {
  const counts = new Map<number, number>(classes.map((c) => [c, 0]));
  const folder = (label: number) => join(dir, `${label}_${slug(split.classes[label]!)}`);
  for (const c of classes) await mkdir(folder(c), { recursive: true });
  const px = split.height * split.width;
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < split.count; i++) {
    const label = split.labels[i]!;
    const n = counts.get(label);
    if (n === undefined || n >= limit) continue;
    counts.set(label, n + 1);
    const pixels = split.images.subarray(i * px, (i + 1) * px);
    jobs.push(
      sharp(pixels, { raw: { width: split.width, height: split.height, channels: 1 } })
        .toColourspace('b-w')
        .png()
        .toFile(join(folder(label), `${String(i).padStart(5, '0')}.png`)),
    );
    // Bounded concurrency: libvips works on its own threads; a few dozen files in flight suffice.
    if (jobs.length >= 32) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
  return counts;
}

async function main(): Promise<void> {
  const out = option('--out');
  if (!out) throw new Error('usage: node dist/scripts/fashion_mnist_to_folders.js --out DIR [--src DIR|bundled] [--classes 0,1,2,3,4] [--limit N]');
  const srcOpt = option('--src') ?? DEFAULT_FASHION_MNIST_DIR;
  const src = srcOpt === 'bundled' ? BUNDLED_FASHION_MNIST_DIR : srcOpt;
  const data = await loadFashionMnist(src);
  const classes = parseClasses(option('--classes') ?? `0-${data.train.classes.length - 1}`, data.train.classes.length);
  const limitOpt = option('--limit');
  const limit = limitOpt === undefined ? Infinity : Number(limitOpt);
  if (!(limit >= 1 && (limit === Infinity || Number.isInteger(limit)))) throw new Error(`--limit must be a positive integer, got ${limitOpt}`);

  for (const [name, split] of [['train', data.train], ['val', data.test]] as const) {
    const counts = await writeSplit(split, join(out, name), classes, limit);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(`${join(out, name)}: ${total} images in ${counts.size} classes (${[...counts].map(([c, n]) => `${c}: ${n}`).join(', ')})`);
  }
}

// Run only as a script: importing this module (for parseClasses) must not start it. Node loads
// the main module by its real path, so a path through a symlink is resolved before comparing.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(resolve(process.argv[1]))).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
