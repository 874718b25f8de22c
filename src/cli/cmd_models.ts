/**
 * `visionmix models [pattern]`: the registered models with parameters and GMACs counted from their
 * traced graphs (not copied from papers), input size and hub id.
 */
import { listModels, type ModelInfo } from '../models/index.js';
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { renderTable, type TableColumn } from './table.js';

export const spec = defineCommand({
  name: 'models',
  summary: 'List the registered models (params, GMACs, input size, hub id)',
  description:
    "PATTERN selects names shell-style: '*' matches any run of characters, '?' one character. " +
    'Params count every weight at the registered number of classes; GMACs are multiply-accumulates ' +
    'of one image at the default input size. Exits with status 1 when nothing matches.',
  positionals: [{ name: 'pattern', description: "model names to show, e.g. 'convnextv2_*' (default: all)" }],
  options: {
    json: { type: 'boolean', description: 'print JSON (exact counts) instead of a table' },
  },
  examples: ["visionmix models 'convnext*'", 'visionmix models convnextv2_tiny --json'],
});

/** `28589128` → `28.59M`: two decimals in millions, the precision model cards use. */
export function formatParams(n: number): string {
  return `${(n / 1e6).toFixed(2)}M`;
}

/** Three significant digits: `4.46`, `0.547`, `15.4`, `115`. */
export function formatGmacs(g: number): string {
  return g >= 1000 ? String(Math.round(g)) : g.toPrecision(3);
}

const COLUMNS: TableColumn<ModelInfo>[] = [
  { key: 'name', header: 'name' },
  { key: 'family', header: 'family' },
  { key: 'params', header: 'params', format: formatParams },
  { key: 'gmacs', header: 'GMACs', format: formatGmacs },
  { key: 'inputSize', header: 'input', format: (s) => s.join('x') },
  { key: 'hubId', header: 'hub id', format: (h) => h ?? '' },
];

export async function run({ values, positionals }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const pattern = positionals[0] ?? '*';
  const found = listModels(pattern);
  if (found.length === 0) {
    // Status 1, so that scripts can tell "nothing matched" from a listing; JSON mode still prints
    // a valid (empty) document on stdout for consumers that parse it unconditionally.
    if (values.json) io.stdout.write('[]\n');
    io.stderr.write(`no models match '${pattern}'; run 'visionmix models' for the full list\n`);
    return 1;
  }
  if (values.json) io.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
  else io.stdout.write(`${renderTable(COLUMNS, found)}\n`);
  return 0;
}
