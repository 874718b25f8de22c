/**
 * `visionmix export --format transformers` / `exportTransformers` (issue 24, point 2): the folder loads
 * in transformers.js (`@huggingface/transformers`, a dev dependency) offline, and its
 * `pipeline('image-classification', …)` agrees with our `classify` on a bundled photo, for a ConvNeXt
 * (through the CLI), a ConvNeXt V2 and a MobileViT (through the library), all with golden weights
 * (timm's state dicts, random values: 1000 ImageNet classes, top-1 probability ~0.015).
 *
 * Two comparisons per model:
 * - an image already at the resize size (our own resize of the photo, whose crop offsets torchvision
 *   and transformers.js compute alike): nothing is resampled, so transformers.js's input is ours up to
 *   float32 rounding of the normalisation; the top 5 labels and probabilities agree to 1e-6.
 * - the photo itself (451×300, resized by both): transformers.js resizes with sharp's affine transform,
 *   not PIL's resampling (no antialiasing when it shrinks); its normalised input differs from ours by
 *   0.02 on average (0.4 at most). Measured, the top-1 probability moves by 1.0% (ConvNeXt), 0.5%
 *   (ConvNeXt V2) and 0.8% (MobileViT) of itself; the test allows 5% and asks for the same top-1 label.
 * The image processors are also checked on their own for the transforms that take another branch
 * (squash at 384, a centre crop at 384, BGR input).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classify, ConfigError, createModel, createTransform, loadImage, type VisionModel } from '../../src/index.js';
import { roundHalfEven, type EvalTransformConfig } from '../../src/data/image_transform.js';
import { imagenetLabels } from '../../src/data/imagenet_labels.js';
import type { PlanarImage } from '../../src/data/resample.js';
import { exportTransformers, imageProcessorConfig } from '../../src/io/transformers_export.js';
import { transformConfigFromPretrained } from '../../src/tasks/transform.js';
import { TINY_G } from '../models/glnet_configs.js';
import { goldenDir, runCli, sharedDir, sharedSkip, STACK_FRAME } from '../helpers.js';

const root = mkdtempSync(join(tmpdir(), 'visionmix-transformers-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const PHOTO_REL = join('golden', 'transforms', 'chelsea.png');
const PHOTO = join(sharedDir, PHOTO_REL);
const skip = sharedSkip(PHOTO_REL) || sharedSkip(join('golden', 'convnext', 'cases.json')) || sharedSkip(join('golden', 'mobilevit', 'cases.json'));

type TransformersJs = typeof import('@huggingface/transformers');

/** transformers.js, offline, reading model folders from `root`. */
async function transformersJs(): Promise<TransformersJs> {
  const t = await import('@huggingface/transformers');
  t.env.allowRemoteModels = false;
  t.env.localModelPath = `${root}/`;
  return t;
}

/** Our planar RGB image as transformers.js's RawImage (interleaved). */
function rawImage(t: TransformersJs, img: PlanarImage): InstanceType<TransformersJs['RawImage']> {
  const plane = img.width * img.height;
  const hwc = new Uint8ClampedArray(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) hwc[3 * i + c] = img.data[c * plane + i]!;
  return new t.RawImage(hwc, img.width, img.height, 3);
}

/** Does torchvision's centre crop of `size` start where transformers.js's does in `img` (see the file comment)? */
function cropOffsetsAgree(img: PlanarImage, size: number): boolean {
  return [img.width, img.height].every((side) => roundHalfEven((side - size) / 2) === Math.floor((side - size) / 2));
}

interface Prediction {
  label: string;
  score: number;
}

async function pipelineTop5(t: TransformersJs, name: string, image: string | InstanceType<TransformersJs['RawImage']>): Promise<Prediction[]> {
  const clf = await t.pipeline('image-classification', name);
  try {
    return (await clf(image, { top_k: 5 })) as Prediction[];
  } finally {
    await clf.dispose();
  }
}

const CASES = [
  { name: 'convnext', via: 'cli', model: 'convnext_atto', weights: join(goldenDir('convnext'), 'convnext_atto_224.weights.safetensors'), modelType: 'convnext', architecture: 'ConvNextForImageClassification', processor: 'ConvNextImageProcessor' },
  { name: 'convnextv2', via: 'library', model: 'convnextv2_atto', weights: join(goldenDir('convnext'), 'convnextv2_atto_224.weights.safetensors'), modelType: 'convnextv2', architecture: 'ConvNextV2ForImageClassification', processor: 'ConvNextImageProcessor' },
  { name: 'mobilevit', via: 'library', model: 'mobilevit_xxs', weights: join(goldenDir('mobilevit'), 'mobilevit_xxs_256_eval.weights.safetensors'), modelType: 'mobilevit', architecture: 'MobileViTForImageClassification', processor: 'MobileViTImageProcessor' },
];
const MOBILEVIT = CASES[2]!;

async function exportCase(c: (typeof CASES)[number], model: VisionModel): Promise<void> {
  const dir = join(root, c.name);
  if (c.via === 'cli') {
    const r = runCli(['export', '-m', c.model, '--weights', c.weights, '--format', 'transformers', '-o', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /onnx\/model\.onnx, config\.json, preprocessor_config\.json; ConvNextForImageClassification, ConvNextImageProcessor/);
  } else {
    const r = await exportTransformers(model, { dir });
    assert.deepEqual(r.files, ['onnx/model.onnx', 'config.json', 'preprocessor_config.json']);
    assert.equal(r.batch, 'dynamic');
  }
}

for (const c of CASES) {
  test(`${c.name}: the transformers.js folder classifies the photo as classify() does, with our labels`, { skip }, async () => {
    const model = createModel(c.model);
    await model.loadWeights(c.weights);
    await exportCase(c, model);
    const dir = join(root, c.name);
    assert.ok(existsSync(join(dir, 'onnx', 'model.onnx')));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.model_type, c.modelType);
    assert.deepEqual(config.architectures, [c.architecture]);
    assert.deepEqual(Object.values(config.id2label as Record<string, string>), [...imagenetLabels()]);
    assert.equal((config.label2id as Record<string, number>).crane, 134, "a label that occurs twice maps to its first index");
    assert.equal(JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8')).image_processor_type, c.processor);

    const t = await transformersJs();
    const img = await loadImage(PHOTO);
    const ours = await classify(model, img, { topk: 5 });

    // The photo, resized by each side's own resampling.
    const got = await pipelineTop5(t, c.name, PHOTO);
    assert.equal(got[0]!.label, ours[0]!.label);
    assert.ok(Math.abs(got[0]!.score - ours[0]!.score) <= 0.05 * ours[0]!.score, `top-1 probability ${got[0]!.score} vs ours ${ours[0]!.score}`);

    // The photo already at the resize size: the same input, the same top 5.
    const tf = createTransform(transformConfigFromPretrained(model.pretrainedConfig!));
    const resized = await tf.resize(img);
    assert.ok(cropOffsetsAgree(resized, tf.config.inputSize[1]), `${resized.width}x${resized.height}: crop offsets differ by design`);
    const exact = await pipelineTop5(t, c.name, rawImage(t, resized));
    const oursExact = await classify(model, resized, { topk: 5 });
    assert.deepEqual(exact.map((p) => p.label), oursExact.map((p) => p.label));
    for (let i = 0; i < 5; i++) assert.ok(Math.abs(exact[i]!.score - oursExact[i]!.score) <= 1e-6, `${exact[i]!.label}: ${exact[i]!.score} vs ${oursExact[i]!.score}`);
  });
}

test('fp16 weights in an external data file: transformers.js finds model_fp16.onnx and model_fp16.onnx_data from config.json alone', { skip }, async () => {
  const model = createModel('mobilevit_xxs');
  await model.loadWeights(MOBILEVIT.weights);
  const r = await exportTransformers(model, { dir: join(root, 'mobilevit_fp16'), dtype: 'float16', externalDataThreshold: 0 });
  assert.deepEqual(r.files, ['onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data', 'config.json', 'preprocessor_config.json']);
  const config = JSON.parse(readFileSync(join(root, 'mobilevit_fp16', 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(config['transformers.js_config'], { dtype: 'fp16', use_external_data_format: true });
  const t = await transformersJs();
  const got = await pipelineTop5(t, 'mobilevit_fp16', PHOTO);
  const ours = await classify(model, await loadImage(PHOTO), { topk: 1 });
  assert.equal(got[0]!.label, ours[0]!.label);
});

/** Our transform config at `size` with `over`, and the image processor config written for it. */
function processorCase(over: Partial<EvalTransformConfig>, size: number): EvalTransformConfig {
  return { inputSize: [3, size, size], cropPct: 0.875, interpolation: 'bicubic', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], cropMode: 'center', ...over };
}

test('the image processors written for the other branches give our transform of an image at the resize size', { skip: sharedSkip(PHOTO_REL) }, async () => {
  const t = await transformersJs();
  const img = await loadImage(PHOTO);
  const cases: [string, 'ConvNextImageProcessor' | 'MobileViTImageProcessor', EvalTransformConfig, string][] = [
    ['squash384', 'ConvNextImageProcessor', processorCase({ cropMode: 'squash', cropPct: 1 }, 384), 'ConvNextImageProcessor'],
    ['center384', 'ConvNextImageProcessor', processorCase({ cropPct: 1 }, 384), 'ViTImageProcessor'],
    ['squash224', 'ConvNextImageProcessor', processorCase({ cropMode: 'squash' }, 224), 'ViTImageProcessor'],
    ['bgr', 'MobileViTImageProcessor', processorCase({ cropPct: 0.9, mean: [0.1, 0.2, 0.3], std: [0.5, 0.6, 0.7], channelOrder: 'BGR', interpolation: 'bilinear' }, 256), 'MobileViTImageProcessor'],
  ];
  for (const [name, processor, config, written] of cases) {
    const pc = imageProcessorConfig(processor, config);
    assert.equal(pc.image_processor_type, written, name);
    assert.equal(pc.resample, config.interpolation === 'bilinear' ? 2 : 3, `${name}: PIL's filter numbers`);
    mkdirSync(join(root, name), { recursive: true });
    writeFileSync(join(root, name, 'preprocessor_config.json'), JSON.stringify(pc));
    const tf = createTransform(config);
    const resized = await tf.resize(img);
    assert.ok(cropOffsetsAgree(resized, config.inputSize[1]), name);
    const p = await t.AutoImageProcessor.from_pretrained(name);
    const theirs = (await p(rawImage(t, resized))).pixel_values as { dims: number[]; data: Float32Array };
    const ours = (await tf(resized)).data as Float32Array;
    assert.deepEqual(theirs.dims, [1, ...config.inputSize], name);
    let d = 0;
    for (let i = 0; i < ours.length; i++) d = Math.max(d, Math.abs(ours[i]! - theirs.data[i]!));
    assert.ok(d <= 1e-6, `${name}: max |difference| ${d}`);
  }
});

test('CMT and GLNet are refused with the formats that work; inputs no image processor makes are refused', async () => {
  const cmt = '{"embed_dims":[16,32,48,64],"stem_channel":8,"fc_dim":128,"mlp_ratios":[3.6,3.6,3.6,3.6],"depths":[1,1,1,1],"num_classes":10,"img_size":64}';
  const out = join(root, 'cmt');
  const r = runCli(['export', '-m', 'cmt', '--config', cmt, '--format', 'transformers', '-o', out]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /transformers\.js has no cmt model .*'onnx'.*export-timm/);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
  assert.ok(!existsSync(out), 'nothing written');

  await assert.rejects(exportTransformers(createModel(TINY_G), { dir: join(root, 'glnet') }), (e: unknown) => e instanceof ConfigError && /no glnet model/.test(e.message));

  const features = runCli(['export', '-m', 'convnext_atto', '--format', 'transformers', '--outputs', 'logits,features', '-o', out]);
  assert.match(features.stderr, /--outputs: --format transformers exports logits only/);
  const file = runCli(['export', '-m', 'convnext_atto', '--format', 'transformers', '-o', 'x.onnx']);
  assert.match(file.stderr, /--out must name a folder with --format transformers/);

  const fashionMnist = { inputSize: [1, 32, 32], mean: [0.286], std: [0.353], description: '28x28 grayscale, centred and zero-padded to 32x32' };
  assert.throws(() => imageProcessorConfig('ConvNextImageProcessor', fashionMnist), /28x28 grayscale.*export it with format 'onnx'/);
});
