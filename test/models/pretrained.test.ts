/** Pretrained weight tags: the registry's data equals timm's pretrained configs (../shared/data/pretrained). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, listModels } from '../../src/index.js';
import { pretrainedConfig, pretrainedTags } from '../../src/models/registry.js';
import { isNonCommercial, pretrainedWeights } from '../../src/models/pretrained.js';
import { sharedDir, sharedSkip } from '../helpers.js';

interface TimmCfg {
  hf_hub_id: string;
  num_classes: number;
  input_size: number[];
  test_input_size?: number[];
  crop_pct: number;
  test_crop_pct?: number;
  crop_mode: string;
  interpolation: string;
  mean: number[];
  std: number[];
  license: string;
}

const FILE = join(sharedDir, 'data', 'pretrained', 'timm_pretrained_cfgs.json');
const skip = sharedSkip(join('data', 'pretrained', 'timm_pretrained_cfgs.json'));
const missing = !existsSync(FILE);
const timm: Record<string, TimmCfg> = missing ? {} : JSON.parse(readFileSync(FILE, 'utf8'));

/** The ConvNeXt V1/V2 tags timm publishes (MobileViT's are tested with that family). */
const convnextTags = Object.keys(timm).filter((t) => t.startsWith('convnext'));

test("every ConvNeXt V1/V2 tag timm publishes is registered with timm's values", { skip }, () => {
  assert.ok(convnextTags.length >= 70, `${convnextTags.length} tags`);
  for (const tag of convnextTags) {
    const want = timm[tag]!;
    const got = pretrainedConfig(tag);
    assert.ok(got, `${tag} is registered`);
    assert.deepEqual(
      {
        hubId: got.hubId,
        numClasses: got.numClasses,
        inputSize: got.inputSize,
        testInputSize: got.testInputSize,
        cropPct: got.cropPct,
        testCropPct: got.testCropPct,
        cropMode: got.cropMode,
        interpolation: got.interpolation,
        mean: got.mean,
        std: got.std,
        license: got.license,
      },
      {
        hubId: want.hf_hub_id,
        numClasses: want.num_classes,
        inputSize: want.input_size,
        testInputSize: want.test_input_size ?? undefined,
        cropPct: want.crop_pct,
        testCropPct: want.test_crop_pct ?? undefined,
        cropMode: want.crop_mode,
        interpolation: want.interpolation,
        mean: want.mean,
        std: want.std,
        license: want.license,
      },
      tag,
    );
  }
  // And nothing registered that timm does not publish.
  for (const t of pretrainedTags().filter((p) => p.tag.startsWith('convnext'))) assert.ok(t.tag in timm, `${t.tag} is a timm tag`);
});

test('crop_pct is data, not a rule: atto/femto/pico d*_in1k use 0.875 (test 0.95), nano d1h 0.95', { skip }, () => {
  for (const tag of ['convnext_atto.d2_in1k', 'convnext_femto.d1_in1k', 'convnext_pico.d1_in1k']) {
    assert.equal(pretrainedConfig(tag)!.cropPct, 0.875, tag);
    assert.equal(pretrainedConfig(tag)!.testCropPct, 0.95, tag);
  }
  assert.equal(pretrainedConfig('convnext_nano.d1h_in1k')!.cropPct, 0.95);
});

test('createModel(tag): the architecture with the classes and pretrained config of those weights', () => {
  const m = createModel('convnext_tiny.fb_in22k');
  assert.equal(m.name, 'convnext_tiny.fb_in22k');
  assert.equal(m.numClasses, 21841);
  assert.equal(m.pretrainedConfig!.tag, 'convnext_tiny.fb_in22k');
  // A registry name describes its default tag's weights.
  const d = createModel('convnext_atto');
  assert.equal(d.pretrainedConfig!.tag, 'convnext_atto.d2_in1k');
  assert.equal(d.pretrainedConfig!.interpolation, 'bicubic');
  // An override still wins over the tag's classes (fine-tuning a head).
  assert.equal(createModel('convnext_tiny.fb_in22k', { num_classes: 10 }).numClasses, 10);
});

test("listModels(pattern, { pretrained: true }) lists weight tags with licences; V2's are non-commercial", () => {
  const tags = listModels('convnextv2_atto.*', { pretrained: true });
  assert.deepEqual(tags.map((t) => t.name).sort(), ['convnextv2_atto.fcmae', 'convnextv2_atto.fcmae_ft_in1k']);
  const ft = tags.find((t) => t.name === 'convnextv2_atto.fcmae_ft_in1k')!;
  assert.equal(ft.license, 'cc-by-nc-4.0');
  assert.ok(isNonCommercial(ft.license!));
  assert.ok(!isNonCommercial('apache-2.0'));
  // The FCMAE encoder tag has no classifier: its params exclude the head's Linear.
  const enc = tags.find((t) => t.name === 'convnextv2_atto.fcmae')!;
  assert.equal(ft.params - enc.params, 320 * 1000 + 1000);
});

test('CMT and GLNet tags name the authors\' release (URL, file name, checkpoint entry); pretrained: true fetches from it', async () => {
  for (const t of [...pretrainedTags().filter((p) => /^(cmt|glnet)_/.test(p.tag))]) {
    assert.match(t.url ?? '', /^https:\/\/(github\.com\/ggjy\/CMT\.pytorch\/releases\/download\/release-v1\/cmt_\w+\.pth|api\.onedrive\.com\/v1\.0\/shares\/u![\w-]+\/root\/content)$/, t.tag);
    assert.ok(t.fileName?.endsWith('.pth'), t.tag);
    assert.equal(t.hubId, undefined, t.tag);
  }
  assert.equal(pretrainedConfig('cmt_s.in1k')!.fileName, 'cmt_small.pth');
  assert.equal(pretrainedConfig('glnet_16g.in1k')!.weightsKey, 'model_ema', "16G's published accuracy is its EMA weights'");
  assert.deepEqual(pretrainedWeights(pretrainedConfig('glnet_4g.in1k')), { source: pretrainedConfig('glnet_4g.in1k')!.url, weightsKey: 'model' });
  assert.deepEqual(pretrainedWeights(pretrainedConfig('convnext_atto.d2_in1k')), { source: 'hf:timm/convnext_atto.d2_in1k' });
  // Offline with an empty cache, the release URL is what is looked for (the download itself: test/io/hub_url.test.ts).
  const saved = { off: process.env.VISIONMIX_OFFLINE, cache: process.env.VISIONMIX_CACHE };
  process.env.VISIONMIX_OFFLINE = '1';
  process.env.VISIONMIX_CACHE = mkdtempSync(join(tmpdir(), 'vm-cache-'));
  try {
    const m = createModel('cmt_ti.in1k', { pretrained: true, num_classes: 10 });
    await assert.rejects(m.ready(), (e: unknown) => e instanceof Error && /github\.com\/ggjy\/CMT\.pytorch\/releases\/download\/release-v1\/cmt_tiny\.pth/.test(e.message));
  } finally {
    for (const [k, v] of [['VISIONMIX_OFFLINE', saved.off], ['VISIONMIX_CACHE', saved.cache]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
