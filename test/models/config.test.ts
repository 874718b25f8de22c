/** Config schemas: parsing, validation, camelCase aliases, cross-key rules and the --config-help listing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, createModel, describeSchema, familySchema } from '../../src/index.js';
import { runCli } from '../helpers.js';
import { configSchema, field, parseConfig, type ConfigOf } from '../../src/models/config.js';


const TINY = { depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 5 };

function configError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('schema: typed fields with defaults; ConfigOf gives the parsed type', () => {
  const schema = configSchema('demo', {
    widths: field.ints({ length: 2, min: 1, default: [4, 8], doc: 'widths' }),
    ratios: field.floats({ min: 0, default: [1.5], doc: 'ratios' }),
    mode: field.enum(['a', 'b'] as const, { default: 'a', doc: 'mode' }),
    stages: field.tables({ out: field.int({ min: 1, default: 1, doc: 'out' }), exp: field.float({ min: 0, default: 2, doc: 'exp' }) }, { default: [], doc: 'per stage' }),
    scale: field.float({ min: 0, default: null, nullable: true, doc: 'optional scale' }),
  });
  const { config, given } = parseConfig(schema, { ratios: [0.5, 2.25], mode: 'b', stages: [{ out: 3 }], scale: null });
  const typed: ConfigOf<typeof schema> = config;
  assert.deepEqual(typed, { widths: [4, 8], ratios: [0.5, 2.25], mode: 'b', stages: [{ out: 3, exp: 2 }], scale: null });
  assert.deepEqual([...given].sort(), ['mode', 'ratios', 'scale', 'stages']);
  // Defaults are copies: changing one parse's list does not change the next one's default.
  typed.widths.push(99);
  assert.deepEqual(parseConfig(schema, {}).config.widths, [4, 8]);
  configError(() => parseConfig(schema, { mode: 'c' }), /config 'mode' of family 'demo' must be 'a' \| 'b', got "c"/);
  configError(() => parseConfig(schema, { stages: [{ out: 0 }] }), /config 'stages\[0\]\.out' of family 'demo' must be int ≥ 1, got 0/);
  configError(() => parseConfig(schema, { stages: [{ outs: 1 }] }), /unknown config key 'stages\[0\]\.outs'/);
  configError(() => parseConfig(schema, { widths: [1, 2, 3] }), /config 'widths' of family 'demo' must be list of 2 \(int ≥ 1\), got \[1,2,3\]/);
  configError(() => parseConfig(schema, { ratios: [1, Infinity] }), /ratios\[1\]/);
});

test('createModel: snake_case and camelCase keys are the same key; giving both is an error', () => {
  const a = createModel({ family: 'convnextv2', ...TINY, drop_path_rate: 0.1 });
  const b = createModel({ family: 'convnextv2', depths: TINY.depths, dims: TINY.dims, numClasses: 5, dropPathRate: 0.1 });
  assert.equal(a.numClasses, 5);
  assert.equal(b.numClasses, 5);
  assert.deepEqual(Object.keys(a.stateDict()), Object.keys(b.stateDict()));
  configError(() => createModel({ family: 'convnextv2', ...TINY, numClasses: 3 }), /num_classes.*given once|numClasses.*given once/);
  // A registry variant's snake_case key is replaced by a camelCase override.
  assert.equal(createModel('convnext_atto', { numClasses: 7 }).numClasses, 7);
});

test('createModel: unknown keys, wrong types and ignored keys are ConfigErrors naming family and key', () => {
  // Compile errors in TypeScript (test/types.test.ts); a JavaScript caller gets these ConfigErrors.
  // @ts-expect-error no such key
  configError(() => createModel({ family: 'convnext', depthz: [1, 1, 1, 1] }), /unknown config key 'depthz' for family 'convnext'/);
  // @ts-expect-error not a number
  configError(() => createModel({ family: 'convnext', ...TINY, dims: [8, 16, 'x', 64] }), /config 'dims\[2\]' of family 'convnext' must be int in \[1, 16384\], got "x"/);
  configError(() => createModel({ family: 'convnext', ...TINY, drop_path_rate: 1 }), /drop_path_rate' of family 'convnext' must be number ≥ 0 < 1, got 1/);
  // ConvNeXt V2 has GRN and no layer scale: a layer-scale value or use_grn false would be ignored.
  configError(() => createModel({ family: 'convnextv2', ...TINY, ls_init_value: 0.5 }), /config 'ls_init_value' of family 'convnextv2': ConvNeXt V2 has no layer scale/);
  configError(() => createModel({ family: 'convnextv2', ...TINY, use_grn: false }), /config 'use_grn' of family 'convnextv2': ConvNeXt V2 always has GRN/);
  configError(() => createModel('convnextv2_atto', { lsInitValue: 1e-6 }), /ls_init_value/);
});

test("timm's keywords: ConvNeXt(use_grn=True, ls_init_value=None) is ConvNeXt V2", () => {
  const v2 = createModel({ family: 'convnextv2', ...TINY });
  const timm = createModel({ family: 'convnext', ...TINY, conv_mlp: false, use_grn: true, ls_init_value: null });
  assert.deepEqual(Object.keys(timm.stateDict()), Object.keys(v2.stateDict()));
  assert.ok(Object.keys(timm.stateDict()).includes('stages.0.blocks.0.mlp.grn.weight'));
  assert.ok(!Object.keys(timm.stateDict()).some((k) => k.endsWith('.gamma')), 'no layer scale');
  // GRN plus layer scale (both given) is a valid timm ConvNeXt too.
  const both = createModel({ family: 'convnext', ...TINY, use_grn: true, ls_init_value: 1e-6 });
  const keys = Object.keys(both.stateDict());
  assert.ok(keys.includes('stages.0.blocks.0.gamma') && keys.includes('stages.0.blocks.0.mlp.grn.weight'));
});

test('createModel: specs that are not a name or a config object are ConfigErrors, not TypeErrors', () => {
  for (const bad of [undefined, null, 123, [1, 2], 'x"y', true]) {
    assert.throws(
      () => createModel(bad as never),
      (e: unknown) => e instanceof ConfigError,
      `createModel(${JSON.stringify(bad)})`,
    );
  }
  configError(() => createModel({ family: 'convnext', ...TINY }, [1, 2] as never), /overrides must be an object/);
  configError(() => createModel({ family: 'convnext', ...TINY }, null as never), /overrides must be an object/);
  configError(() => createModel({ family: 3 } as never), /needs a 'family'/);
  // @ts-expect-error another family (a compile error in TypeScript)
  configError(() => createModel('convnext_atto', { family: 'convnextv2' }), /model 'convnext_atto' is of family 'convnext', but the config says family "convnextv2"/);
  // @ts-expect-error another family
  configError(() => createModel({ family: 'convnext', ...TINY }, { family: 'convnextv2' }), /family 'convnext', but the overrides say family "convnextv2"/);
  // The same family repeated is fine.
  assert.equal(createModel('convnext_atto', { family: 'convnext' }).family, 'convnext');
});

test('describeSchema lists every key the family accepts, with type, default and doc', () => {
  const rows = describeSchema(familySchema('convnext'));
  const keys = rows.map((r) => r.key);
  for (const k of ['depths', 'dims', 'num_classes', 'in_chans', 'patch_size', 'ls_init_value', 'use_grn', 'conv_mlp', 'drop_rate', 'drop_path_rate', 'head_init_scale', 'norm_eps'])
    assert.ok(keys.includes(k), `${k} listed`);
  const ls = rows.find((r) => r.key === 'ls_init_value')!;
  assert.equal(ls.alias, 'lsInitValue');
  assert.equal(ls.type, 'number ≥ 0 | null');
  assert.equal(ls.default, '0.000001');
  assert.equal(describeSchema(familySchema('convnextv2')).find((r) => r.key === 'use_grn')!.default, 'true');
  // Every key listed is accepted by createModel (the listing and the parser are one table).
  for (const r of rows) assert.doesNotThrow(() => createModel({ family: 'convnext', ...TINY, [r.key]: JSON.parse(r.default) }), r.key);
});

test('visionmix models --config-help FAMILY prints the schema; an unknown family is a usage error', async () => {
  const ok = runCli(['models', '--config-help', 'convnextv2']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /config keys of family 'convnextv2'/);
  assert.match(ok.stdout, /ls_init_value\s+lsInitValue\s+number ≥ 0 \| null\s+null/);
  const bad = runCli(['models', '--config-help', 'resnet']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown family 'resnet'/);
});

test("visionmix train --config: non-objects and a family contradicting --model are usage errors", async () => {
  for (const cfg of ['"x"', 'null', '[1,2]', '3']) {
    const r = runCli(['train', '--model', 'convnextv2', '--config', cfg, '--data', 'fashion-mnist:bundled', '--out', '/tmp/visionmix-never-created']);
    assert.notEqual(r.status, 0, cfg);
    assert.match(r.stderr, /--config must be a JSON object/, cfg);
  }
  const r = runCli(['train', '--model', 'convnextv2', '--config', '{"family":"convnext"}', '--data', 'fashion-mnist:bundled', '--out', '/tmp/visionmix-never-created']);
  assert.match(r.stderr, /--config says family "convnext" but --model is 'convnextv2'/);
});
