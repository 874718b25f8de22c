import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imagenetLabels } from '../../src/data/imagenet_labels.js';
import { readBundledImageNetClasses } from '../../src/io/package_root.js';

test('imagenetLabels: the short labels of data/imagenet-1k/classes.tsv, in index order', () => {
  assert.deepEqual([...imagenetLabels()], readBundledImageNetClasses().map((c) => c.label));
});
