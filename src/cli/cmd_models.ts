/**
 * `visionmix models [pattern]`: the registered models with parameters and GMACs counted from their
 * traced graphs (not copied from papers), input size and hub id; `--pretrained` lists weight tags;
 * `--config-help FAMILY` lists a family's config keys.
 */
import { ConfigError } from '../errors.js';
import { describeSchema } from '../models/config.js';
import { listModels, type ModelInfo } from '../models/index.js';
import { familyNames, familySchema } from '../models/registry.js';
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
    pretrained: { type: 'boolean', description: "list pretrained weight tags ('convnext_atto.d2_in1k') with their licences" },
    configHelp: { type: 'string', placeholder: 'family', description: "list the config keys of a family (type, default, meaning) and exit" },
  },
  examples: [
    "visionmix models 'convnext*'",
    'visionmix models convnextv2_tiny --json',
    "visionmix models 'convnextv2_atto.*' --pretrained",
    'visionmix models --config-help convnext',
  ],
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

const NOTE_COLUMN: TableColumn<ModelInfo> = { key: 'note', header: 'note', format: (n) => n ?? '' };

const TAG_COLUMNS: TableColumn<ModelInfo>[] = [...COLUMNS.filter((c) => c.key !== 'hubId'), { key: 'license', header: 'licence', format: (l) => l ?? '' }];

/** The config keys of a family, from its schema (the same table that parses and validates them). */
function configHelp(family: string): string {
  if (!familyNames().includes(family)) throw new ConfigError(`--config-help: unknown family '${family}' (known: ${familyNames().join(', ')})`);
  const rows = describeSchema(familySchema(family));
  const table = renderTable(
    [
      { key: 'key', header: 'key' },
      { key: 'alias', header: 'camelCase' },
      { key: 'type', header: 'type' },
      { key: 'default', header: 'default' },
      { key: 'doc', header: 'meaning' },
    ],
    rows,
  );
  return `config keys of family '${family}' (createModel({ family: '${family}', ... }) or --model ${family} --config '{...}'):\n${table}\n`;
}

export async function run({ values, positionals }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  if (values.configHelp !== undefined) {
    io.stdout.write(configHelp(values.configHelp));
    return 0;
  }
  const pattern = positionals[0] ?? '*';
  const found = listModels(pattern, { pretrained: values.pretrained });
  if (found.length === 0) {
    // Status 1, so that scripts can tell "nothing matched" from a listing; JSON mode still prints
    // a valid (empty) document on stdout for consumers that parse it unconditionally.
    if (values.json) io.stdout.write('[]\n');
    io.stderr.write(`no models match '${pattern}'; run 'visionmix models' for the full list\n`);
    return 1;
  }
  if (values.json) io.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
  else {
    const columns = values.pretrained ? TAG_COLUMNS : COLUMNS;
    // The note column only when a listed model has one (CMT-S: code vs paper params).
    const withNotes = found.some((m) => m.note) ? [...columns, NOTE_COLUMN] : columns;
    io.stdout.write(`${renderTable(withNotes, found)}\n`);
  }
  return 0;
}
