/** visionmix/web-train's classFolders: picked files grouped by their class folder (runs in Node: Blob is global). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../../src/errors.js';
import { classFolders, type PickedFile } from '../../src/web_train.js';

const file = (path: string): PickedFile => Object.assign(new Blob([new Uint8Array(4)]), { name: path.split('/').pop()!, webkitRelativePath: path });

test('files are labelled by their class folder, classes sorted, non-images left out', () => {
  const { items, classes } = classFolders([file('pets/dog/a.jpg'), file('pets/cat/b.PNG'), file('pets/cat/c.webp'), file('pets/cat/notes.txt'), file('pets/dog/d.jpeg')]);
  assert.deepEqual(classes, ['cat', 'dog']);
  assert.deepEqual(items.map((i) => [i.image.name, i.label]), [['b.PNG', 0], ['c.webp', 0], ['a.jpg', 1], ['d.jpeg', 1]]);
});

test('a file outside a class folder, or a single class, is a DataError naming it', () => {
  assert.throws(() => classFolders([file('a.png'), file('x/b.png')]), (e: unknown) => e instanceof DataError && /'a\.png' is not in a class folder/.test((e as Error).message));
  assert.throws(() => classFolders([file('r/cat/a.png'), file('r/cat/b.png')]), (e: unknown) => e instanceof DataError && /found 1 class folder \(cat\); a classifier needs at least 2/.test((e as Error).message));
});
