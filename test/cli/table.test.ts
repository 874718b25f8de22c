import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMarkdownTable, renderTable, type TableColumn } from '../../src/cli/table.js';
import { formatCount } from '../../src/cli/progress.js';

interface ModelRow {
  name: string;
  params: number;
  gmacs: number;
  top1?: number;
  note?: string;
}

const rows: ModelRow[] = [
  { name: 'convnextv2_atto', params: 3_708_400, gmacs: 0.55, top1: 76.66 },
  { name: 'mobilevit_xs', params: 2_317_848, gmacs: 1.05, note: 'a|b' },
  { name: 'cmt_ti', params: 9_488_000, gmacs: 1.15, top1: 79.1 },
];

const columns: TableColumn<ModelRow>[] = [
  { key: 'name', header: 'Model' },
  { key: 'params', header: 'Params', format: (v) => formatCount(v) },
  { key: 'gmacs', header: 'GMACs' },
  { key: 'top1', header: 'Top-1' },
  { key: 'note', header: 'Note' },
];

test('renderTable aligns text left and numbers right under a header rule', () => {
  const text = renderTable(columns, rows);
  assert.equal(
    text,
    [
      'Model            Params  GMACs   Top-1  Note',
      '---------------  ------  -----  ------  ----',
      'convnextv2_atto   3.71M  0.550  76.660',
      'mobilevit_xs      2.32M  1.050          a|b',
      'cmt_ti            9.49M  1.150  79.100',
    ].join('\n'),
  );
  for (const line of text.split('\n')) assert.equal(line, line.trimEnd(), 'no trailing spaces');
});

test('renderTable honours explicit align, sanitizes newlines and handles no rows', () => {
  const text = renderTable(
    [
      { key: 'a', header: 'A', align: 'right' },
      { key: 'b', header: 'Bee', align: 'left' },
    ],
    [{ a: 'x', b: 1 }, { a: 'yyy\nz', b: 22 }],
  );
  assert.equal(text, ['    A  Bee', '-----  ---', '    x  1', 'yyy z  22'].join('\n'));
  assert.equal(renderTable([{ key: 'n', header: 'N' }], []), 'N\n-');
  assert.equal(renderTable([], rows), '');
});

test('renderTable counts code points, not UTF-16 units', () => {
  const text = renderTable([{ key: 'u', header: 'unit' }, { key: 'v', header: 'v' }], [{ u: 'µs', v: 1 }, { u: '𝑥', v: 2 }]);
  const lines = text.split('\n');
  assert.equal(lines[2], 'µs    1');
  assert.equal(lines[3], '𝑥     2');
});

test('renderMarkdownTable produces a GitHub table with alignment markers and escaped pipes', () => {
  const md = renderMarkdownTable(columns, rows);
  const lines = md.split('\n');
  assert.equal(lines.length, 2 + rows.length);
  assert.equal(lines[0], '| Model           | Params | GMACs |  Top-1 | Note |');
  assert.equal(lines[1], '| :-------------- | -----: | ----: | -----: | :--- |');
  assert.equal(lines[3], '| mobilevit_xs    |  2.32M | 1.050 |        | a\\|b |');
  // Every row has the same number of unescaped cell separators.
  for (const line of lines) assert.equal(line.replace(/\\\|/g, '').split('|').length, columns.length + 2);
});
