/**
 * Text tables for the terminal (`visionmix models`, `bench`) and GitHub Markdown tables for reports
 * (BENCHMARKS.md). Both take the same column list, so a report and its console echo cannot drift.
 */
import { formatMetric } from './progress.js';

/**
 * One column. The `key` names a property of the row; `format` turns its value into text (default:
 * numbers via `formatMetric`, missing values as an empty cell). Columns whose values are all
 * numbers are right-aligned unless `align` says otherwise, so that digits line up.
 */
export type TableColumn<Row extends object> = {
  [K in keyof Row & string]: {
    key: K;
    header: string;
    align?: 'left' | 'right';
    format?: (value: Row[K], row: Row) => string;
  };
}[keyof Row & string];

type Align = 'left' | 'right';

/** Text of one cell before alignment; newlines and tabs would break the grid, so they become spaces. */
function defaultFormat(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') return formatMetric(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map(defaultFormat).join(', ');
  return JSON.stringify(value);
}

function sanitize(text: string): string {
  return text.replace(/\r\n|[\r\n\t]/g, ' ');
}

/** Width in terminal columns, counting code points (so `µs` is 2 wide, not 3 UTF-16 units). */
function widthOf(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function pad(text: string, width: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, width - widthOf(text)));
  return align === 'right' ? fill + text : text + fill;
}

/** Formats every cell once and decides each column's alignment; shared by both renderers. */
function layout<Row extends object>(
  columns: readonly TableColumn<Row>[],
  rows: readonly Row[],
): { headers: string[]; cells: string[][]; aligns: Align[]; widths: number[] } {
  const headers = columns.map((c) => sanitize(c.header));
  const cells = rows.map((row) =>
    columns.map((c) => {
      const value = (row as Record<string, unknown>)[c.key];
      // The mapped column type ties `format` to its own key's value type; inside this loop the
      // union of columns cannot express that, hence the widening cast.
      const format = c.format as ((v: unknown, r: Row) => string) | undefined;
      return sanitize(format ? format(value, row) : defaultFormat(value));
    }),
  );
  const aligns = columns.map((c): Align => {
    if (c.align) return c.align;
    let sawNumber = false;
    for (const row of rows) {
      const value = (row as Record<string, unknown>)[c.key];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'number' && typeof value !== 'bigint') return 'left';
      sawNumber = true;
    }
    return sawNumber ? 'right' : 'left';
  });
  const widths = columns.map((_, j) => Math.max(widthOf(headers[j]!), ...cells.map((r) => widthOf(r[j]!))));
  return { headers, cells, aligns, widths };
}

/**
 * An aligned monospace table with a header rule, columns two spaces apart. No trailing newline and
 * no trailing spaces on any line.
 *
 * ```
 * Model            Params  Top-1
 * ---------------  ------  -----
 * convnextv2_atto    3.7M  76.66
 * ```
 */
export function renderTable<Row extends object>(columns: readonly TableColumn<Row>[], rows: readonly Row[]): string {
  if (columns.length === 0) return '';
  const { headers, cells, aligns, widths } = layout(columns, rows);
  const line = (texts: string[]) =>
    texts
      .map((t, j) => pad(t, widths[j]!, aligns[j]!))
      .join('  ')
      .trimEnd();
  const out = [line(headers), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const row of cells) out.push(line(row));
  return out.join('\n');
}

/** Markdown treats `|` as a cell boundary and a leading `\` may combine with it; escape both. */
function escapeMarkdown(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
}

/**
 * The same table as GitHub-flavoured Markdown, with alignment markers (`---:` for right-aligned
 * columns). Cells are padded so that the source reads as a table too. No trailing newline.
 */
export function renderMarkdownTable<Row extends object>(
  columns: readonly TableColumn<Row>[],
  rows: readonly Row[],
): string {
  if (columns.length === 0) return '';
  const laid = layout(columns, rows);
  const headers = laid.headers.map(escapeMarkdown);
  const cells = laid.cells.map((r) => r.map(escapeMarkdown));
  // Markdown needs at least three dashes per column, plus room for the alignment colon.
  const widths = laid.widths.map((_, j) => Math.max(4, widthOf(headers[j]!), ...cells.map((r) => widthOf(r[j]!))));
  const line = (texts: string[]) => `| ${texts.map((t, j) => pad(t, widths[j]!, laid.aligns[j]!)).join(' | ')} |`;
  const rule = widths.map((w, j) => (laid.aligns[j] === 'right' ? `${'-'.repeat(w - 1)}:` : `:${'-'.repeat(w - 1)}`));
  const out = [line(headers), `| ${rule.join(' | ')} |`];
  for (const row of cells) out.push(line(row));
  return out.join('\n');
}
