/**
 * scripts/fashion_mnist_to_folders.ts: Fashion-MNIST (bundled subset) written as PNG class folders
 * that openImageFolder reads back — label-ordered class names, the chosen classes only, the same
 * pixels as the IDX files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseClasses } from '../../scripts/fashion_mnist_to_folders.js';
import { BUNDLED_FASHION_MNIST_DIR, loadFashionMnist } from '../../src/io/fashion_mnist_files.js';
import { loadImage } from '../../src/io/load_image.js';
import { openImageFolder } from '../../src/tasks/image_folder.js';
import { repoRoot } from '../helpers.js';

test('Fashion-MNIST → PNG class folders, a subset of classes, read back as an ImageFolder', async () => {
  const out = mkdtempSync(join(tmpdir(), 'visionmix-fmnist-folders-'));
  try {
    const script = join(repoRoot, 'dist', 'scripts', 'fashion_mnist_to_folders.js');
    const log = execFileSync(process.execPath, [script, '--out', out, '--src', 'bundled', '--classes', '0,3', '--limit', '5'], { encoding: 'utf8' });
    assert.match(log, /train: 10 images in 2 classes/);
    const ds = openImageFolder(out);
    assert.equal(ds.splitBy, 'folders');
    assert.deepEqual(ds.classes, ['0_t_shirt_top', '3_dress']);
    assert.equal(ds.train.samples.length, 10);
    assert.equal(ds.val!.samples.length, 10);

    const fm = await loadFashionMnist(BUNDLED_FASHION_MNIST_DIR);
    const first = ds.train.samples[0]!;
    const index = Number(first.path.match(/(\d+)\.png$/)![1]);
    assert.equal(fm.train.labels[index], 0);
    const img = await loadImage(first.path);
    assert.deepEqual([img.width, img.height], [28, 28]);
    const want = fm.train.images.subarray(index * 784, (index + 1) * 784);
    for (let c = 0; c < 3; c++) assert.deepEqual(img.data.subarray(c * 784, (c + 1) * 784), want, `channel ${c}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('--classes accepts labels and ranges and rejects the rest', () => {
  assert.deepEqual(parseClasses('5-9', 10), [5, 6, 7, 8, 9]);
  assert.deepEqual(parseClasses('3,0-1,3', 10), [0, 1, 3]);
  assert.throws(() => parseClasses('10', 10), /outside the labels 0\.\.9/);
  assert.throws(() => parseClasses('a', 10), /not a label or a range/);
});
