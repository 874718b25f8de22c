/**
 * ConvNeXt's `patch_size` builds timm's network (issue 24.5): the key and shape contract against the
 * golden weights, which are timm's own state dicts (../shared/golden/convnext), and against what
 * timm's code builds for other patch sizes. `stem_stride` (a visionmix extension timm does not have)
 * builds the network visionmix built from `patch_size` before; run folders of that time are read so.
 *
 * Expected structures are derived from timm/models/convnext.py (huggingface/pytorch-image-models),
 * `ConvNeXt.__init__` with stem_type 'patch' and output_stride 32:
 *   stem = Conv2d(in_chans, dims[0], kernel_size=patch_size, stride=patch_size) + norm
 *   curr_stride = patch_size; for i in range(4):
 *     stride = 2 if curr_stride == 2 or i > 0 else 1
 *     if curr_stride >= output_stride and stride > 1: dilation *= stride; stride = 1
 *     curr_stride *= stride; first_dilation = 1 if dilation in (1, 2) else 2
 *   and ConvNeXtStage: a downsample Sequential(norm(in_chs), conv(in_chs, out_chs, kernel 2, stride,
 *   dilation=first_dilation, padding 'same' if dilation > 1 else 0)) when in_chs != out_chs, stride > 1
 *   or the dilations differ; the blocks' 7×7 depthwise convs get `dilation`.
 * So patch_size 2 adds stages.0.downsample.{0.weight, 0.bias} [dims[0]] and {1.weight} [dims[0], dims[0], 2, 2],
 * {1.bias} [dims[0]], with feature reductions 4, 8, 16, 32; patch_size 8 keeps the keys, dilates stage 3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, Tensor, WeightsError, createModel, readSafetensors, type VisionModel } from '../../src/index.js';
import { convAttrsFrom } from '../../src/graph/ops/conv.js';
import { ConvNeXt, upgradeConvNeXtConfig } from '../../src/models/convnext.js';
import type { Conv2d, Sequential } from '../../src/nn/layers.js';
import { RUN_FORMAT, readRunFolderConfig, upgradeRunConfig } from '../../src/tasks/train.js';
import { goldenFile } from '../golden.js';
import { goldenSkip, repoRoot } from '../helpers.js';

const skip = goldenSkip('convnext');
/** The golden case convnextv2_tiny_custom: timm's ConvNeXt(depths=(1,1,2,1), dims=(16,32,64,128), num_classes=10, use_grn=True, ls_init_value=None). */
const TINY = { family: 'convnextv2', depths: [1, 1, 2, 1], dims: [16, 32, 64, 128], num_classes: 10 };

type Shapes = Map<string, string>;
const shapesOf = (sd: Map<string, Tensor> | Record<string, Tensor>): Shapes =>
  new Map([...(sd instanceof Map ? sd : Object.entries(sd))].map(([k, t]) => [k, JSON.stringify(t.shape)] as const).sort(([a], [b]) => a.localeCompare(b)));
const modelShapes = (m: VisionModel): Shapes => shapesOf(m.stateDict());

/** Stage i's downsample conv (timm's `stages.i.downsample.1`). */
const downsampleConv = (m: ConvNeXt, i: number): Conv2d => (m.stages.at(i)!.downsample as Sequential).at(1) as Conv2d;

async function golden(file: string): Promise<Shapes> {
  return shapesOf(await readSafetensors(goldenFile('convnext', file)));
}

test('patch_size 4 (the default) has exactly the keys and shapes of timm’s state dicts (golden weights)', { skip }, async () => {
  assert.deepEqual(modelShapes(createModel(TINY)), await golden('convnextv2_tiny_custom.weights.safetensors'));
  assert.deepEqual(modelShapes(createModel({ ...TINY, patch_size: 4 })), await golden('convnextv2_tiny_custom.weights.safetensors'));
  assert.deepEqual(modelShapes(createModel('convnext_atto')), await golden('convnext_atto_224.weights.safetensors'));
  assert.deepEqual(modelShapes(createModel('convnextv2_atto')), await golden('convnextv2_atto_224.weights.safetensors'));
});

test("patch_size 2 is timm's: a 2×2 stem plus a stride-2 downsample in stage 0 (4 keys), total stride 32", { skip }, async () => {
  const expected = new Map(await golden('convnextv2_tiny_custom.weights.safetensors'));
  const d0 = TINY.dims[0]!;
  expected.set('stem.0.weight', JSON.stringify([d0, 3, 2, 2]));
  expected.set('stages.0.downsample.0.weight', JSON.stringify([d0]));
  expected.set('stages.0.downsample.0.bias', JSON.stringify([d0]));
  expected.set('stages.0.downsample.1.weight', JSON.stringify([d0, d0, 2, 2]));
  expected.set('stages.0.downsample.1.bias', JSON.stringify([d0]));
  const m = createModel({ ...TINY, patch_size: 2 }) as ConvNeXt;
  assert.deepEqual(modelShapes(m), new Map([...expected].sort(([a], [b]) => a.localeCompare(b))));
  const ds = downsampleConv(m, 0);
  assert.deepEqual(convAttrsFrom(ds.options).strides, [2, 2]);
  // timm's feature_info reductions (curr_stride after each stage).
  assert.deepEqual(m.featureInfo.map((f) => f.reduction), [4, 8, 16, 32]);
  const out = await m.run(new Tensor(new Float32Array(3 * 64 * 64), [1, 3, 64, 64], 'float32'), { features: true });
  assert.deepEqual(out.features.map((f) => f.shape), [[1, 16, 16, 16], [1, 32, 8, 8], [1, 64, 4, 4], [1, 128, 2, 2]]);
});

test('patch sizes other than 2 add no stage-0 downsample; from 8 on the last stages dilate (output stride 32) as in timm', { skip }, async () => {
  const base = await golden('convnextv2_tiny_custom.weights.safetensors');
  const reductions: Record<number, number[]> = { 1: [1, 2, 4, 8], 4: [4, 8, 16, 32], 8: [8, 16, 32, 32], 16: [16, 32, 32, 32], 32: [32, 32, 32, 32] };
  for (const [p, red] of Object.entries(reductions).map(([p, r]) => [Number(p), r] as const)) {
    const m = createModel({ ...TINY, patch_size: p }) as ConvNeXt;
    const expected = new Map(base);
    expected.set('stem.0.weight', JSON.stringify([16, 3, p, p]));
    assert.deepEqual(modelShapes(m), expected, `patch_size ${p}: the golden keys and shapes, with a ${p}×${p} stem`);
    assert.deepEqual(m.featureInfo.map((f) => f.reduction), red, `patch_size ${p}: reductions`);
  }
  // patch_size 8: stage 3 keeps stage 2's resolution; its downsample is a stride-1 2×2 conv with
  // timm's TF-'same' padding (one extra row and column at the bottom and right), its blocks dilate by 2.
  const m8 = createModel({ ...TINY, patch_size: 8 }) as ConvNeXt;
  const ds = convAttrsFrom(downsampleConv(m8, 3).options);
  assert.deepEqual([ds.strides, ds.dilations, ds.pads], [[1, 1], [1, 1], [0, 0, 1, 1]]);
  const dw = convAttrsFrom((m8.stages.at(3)!.blocks.at(0) as unknown as { conv_dw: Conv2d }).conv_dw.options);
  assert.deepEqual([dw.dilations, dw.pads], [[2, 2], [6, 6, 6, 6]]);
  // patch_size 32: dilation 8 in stage 3, whose downsample conv has first_dilation 2 and symmetric padding 1.
  const m32 = createModel({ ...TINY, patch_size: 32 }) as ConvNeXt;
  const ds32 = convAttrsFrom(downsampleConv(m32, 3).options);
  assert.deepEqual([ds32.strides, ds32.dilations, ds32.pads], [[1, 1], [2, 2], [1, 1, 1, 1]]);
  assert.deepEqual(m32.stagePlans.map((s) => s.dilation), [1, 2, 4, 8]);
  const out = await m8.run(new Tensor(new Float32Array(3 * 64 * 64), [1, 3, 64, 64], 'float32'), { features: true });
  assert.deepEqual(out.features.map((f) => f.shape.slice(2)), [[8, 8], [4, 4], [2, 2], [2, 2]]);
});

test('stem_stride (visionmix extension) builds the former patch_size network: no stage-0 downsample, every later stage halves', { skip }, async () => {
  const m = createModel({ ...TINY, stem_stride: 2 }) as ConvNeXt;
  const expected = new Map(await golden('convnextv2_tiny_custom.weights.safetensors'));
  expected.set('stem.0.weight', JSON.stringify([16, 3, 2, 2]));
  assert.deepEqual(modelShapes(m), expected);
  assert.deepEqual(m.featureInfo.map((f) => f.reduction), [2, 4, 8, 16]);
  const m8 = createModel({ ...TINY, stem_stride: 8 }) as ConvNeXt;
  assert.deepEqual([m8.totalStride, m8.stagePlans.map((s) => s.dilation)], [64, [1, 1, 1, 1]], 'never dilates');
  assert.throws(() => createModel({ ...TINY, stem_stride: 2, patch_size: 2 }), (e: unknown) => e instanceof ConfigError && /stem_stride.*replaces patch_size/.test(e.message));
  assert.throws(() => createModel({ ...TINY, stemStride: 0 }), ConfigError);
});

test('weights of the former patch_size 2 network loaded into a patch_size 2 model: a WeightsError naming stem_stride', async () => {
  const old = createModel({ ...TINY, stem_stride: 2 });
  const timm = createModel({ ...TINY, patch_size: 2 });
  await assert.rejects(timm.loadWeights(old.stateDict()), (e: unknown) => e instanceof WeightsError && /stem_stride: 2 instead of patch_size/.test(e.message) && e.missing.length === 4);
  await createModel({ ...TINY, stem_stride: 2 }).loadWeights(old.stateDict()); // the right key loads them
});

// ---- run folders written before patch_size followed timm ---------------------------------------------

test('run config format 1: patch_size p ≠ 4 is read as stem_stride p (model config or overrides); 4 and other families unchanged', () => {
  assert.deepEqual(upgradeConvNeXtConfig({ depths: [1], patch_size: 2 }, 1), { depths: [1], stem_stride: 2 });
  assert.deepEqual(upgradeConvNeXtConfig({ patchSize: 1 }, 1), { stem_stride: 1 });
  assert.deepEqual(upgradeConvNeXtConfig({ patch_size: 4 }, 1), { patch_size: 4 });
  assert.deepEqual(upgradeConvNeXtConfig({ patch_size: 2 }, 2), { patch_size: 2 }, 'format 2 means what it says');
  const legacy = { model: { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], patch_size: 2 }, modelOverrides: {}, data: 'x', train: {} as never, threads: 1 };
  const up = upgradeRunConfig(legacy);
  assert.equal(up.format, RUN_FORMAT);
  assert.deepEqual(up.model, { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], stem_stride: 2 });
  assert.deepEqual(upgradeRunConfig({ ...legacy, model: 'convnextv2_atto', modelOverrides: { patch_size: 2, num_classes: 3 } }).modelOverrides, { stem_stride: 2, num_classes: 3 });
  const cmt = { ...legacy, model: { family: 'cmt', img_size: 32 } };
  assert.deepEqual(upgradeRunConfig(cmt).model, cmt.model);
  assert.deepEqual(upgradeRunConfig({ ...legacy, format: 2 }).model, legacy.model, 'a format-2 run.json is read as written');
});

test('readRunFolderConfig: a pre-change run.json builds the network it trained; a newer format is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-runformat-'));
  try {
    const raw = {
      model: { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], patch_size: 2 },
      modelOverrides: {},
      data: 'fashion-mnist:bundled',
      train: { epochs: 1, batchSize: 8, lr: 1e-3, seed: 0, inputSize: 32 },
      threads: 1,
    };
    writeFileSync(join(dir, 'run.json'), JSON.stringify(raw));
    const rc = readRunFolderConfig(dir)!;
    assert.equal(rc.format, RUN_FORMAT);
    const m = createModel(rc.model, { num_classes: 10, in_chans: 1 });
    assert.ok(!Object.keys(m.stateDict()).some((k) => k.startsWith('stages.0.downsample.')), 'the former network: no stage-0 downsample');
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...raw, format: RUN_FORMAT + 1 }));
    assert.throws(() => readRunFolderConfig(dir), /written by a newer visionmix \(run format 3/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// When ConvNeXt's patch_size took timm's meaning and the former network became stem_stride (commit 7382b1a).
const STEM_STRIDE_RENAMED_AT = Date.parse('2026-12-07T07:22:54Z');

test("bench records: ConvNeXt configs spell the network they trained (stem_stride where the run said patch_size 2), with a note saying so", () => {
  const dir = join(repoRoot, 'bench', 'records');
  let renamed = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { model?: Record<string, unknown>; command: string; configNote?: string; finishedAt: string };
    // Run records only (others, such as the int8 accuracy ones, name a run instead of a model).
    if (!r.model || !/^convnext/.test(String(r.model.family))) continue;
    // patch_size 1 and 4 build the same network in timm's sense and in the former one (no stage-0 downsample either way).
    assert.ok(r.model.patch_size === undefined || r.model.patch_size === 4 || r.model.patch_size === 1, `${f}: patch_size ${r.model.patch_size} would build timm's network, not the recorded one`);
    if (r.model.stem_stride !== undefined) {
      assert.ok(!r.command.includes('"patch_size":2'), `${f}: the command says stem_stride too`);
      // Runs finished before the rename said patch_size and were renamed in the record: the note must say so.
      // Runs made since said stem_stride themselves and carry no such note.
      const before = Date.parse(r.finishedAt) < STEM_STRIDE_RENAMED_AT;
      if (before) {
        renamed++;
        assert.match(r.configNote ?? '', /stem_stride: 2 where the run said patch_size: 2/, `${f}: the note`);
      } else {
        assert.ok(!/where the run said patch_size/.test(r.configNote ?? ''), `${f}: a run made with stem_stride has no rename note`);
      }
      const m = createModel(r.model as { family: string }, { num_classes: 10, in_chans: 1 });
      assert.ok(!Object.keys(m.stateDict()).some((k) => k.startsWith('stages.0.downsample.')));
    }
  }
  assert.equal(renamed, 5, 'the five ConvNeXt records of Fashion-MNIST runs made before the rename');
});
