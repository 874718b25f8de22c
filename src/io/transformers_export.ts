/**
 * `exportTransformers(model, { dir, … })`: a folder that transformers.js (`@huggingface/transformers`)
 * loads offline with `pipeline('image-classification', …)`:
 *
 * - `onnx/model.onnx`: exportOnnx's file (`pixel_values` → `logits`, dynamic batch); with fp16 or int8
 *   weights `onnx/model_fp16.onnx` / `onnx/model_int8.onnx`, transformers.js's names for those dtypes.
 * - `config.json`: Hugging Face's config for the family (`architectures`, `model_type`, the config
 *   class's keywords, `image_size`), `id2label` / `label2id` from the labels (default: ImageNet-1k's
 *   for a 1000-class head, as `classify`; else LABEL_<i>, with a warning), and
 *   `transformers.js_config.dtype` naming the file, so every device (wasm defaults to 'q8') loads it.
 * - `preprocessor_config.json`: the family's image processor, set to reproduce the eval transform.
 *
 * How transformers.js (v4) applies preprocessor_config.json (image_processors_utils.js,
 * models/convnext/image_processing_convnext.js): RGB → resize → centre crop → × rescale_factor →
 * (x − image_mean) / image_std → RGB to BGR when do_flip_channel_order. ConvNextImageProcessor resizes
 * the shorter side to floor(shortest_edge / crop_pct) and crops shortest_edge below 384, and squashes to
 * shortest_edge² from 384: timm's 'center' and 'squash' eval crops. The other two combinations (squash
 * below 384, a centre crop from 384) are written for ViTImageProcessor, the plain processor (`size`,
 * `do_center_crop`, `crop_size`), which MobileViTImageProcessor also is. mean/std are always written
 * (MobileViT's are 0 and 1) and the channel order is our weights' (timm's MobileViT weights take RGB,
 * unlike ml-cvnets' BGR checkpoints that HF's MobileViT configs flip for).
 *
 * What still differs from our eval transform (PIL's resampling, torchvision's crop):
 * - resampling: in Node, transformers.js resizes with sharp's affine transform (the bicubic or bilinear
 *   kernel without antialiasing when it shrinks; PIL widens the kernel over the whole footprint), in
 *   browsers with the canvas (the browser's own filter). Resized pixels differ.
 * - crop offsets: transformers.js floors (difference / 2), torchvision rounds it half to even: for an
 *   odd difference whose half rounds up, its crop is 1 px up or left of ours.
 * - the longer side: floor of the scaled length rounded to 2 decimals vs floor: 1 px longer when the
 *   scaled length is within 0.005 below a whole number.
 * An image already at the resize size (nothing is resampled) with offsets that agree gives exactly our input.
 */
import { join } from 'node:path';
import { imagenetLabels } from '../data/imagenet_labels.js';
import { ConfigError } from '../errors.js';
import type { TransformersArchitecture, VisionModel } from '../models/base.js';
import { ensureFolder, writeTextFile } from './files.js';
import { defaultTransform, exportOnnx, exportSize, type ExportDType, type ExportOnnxOptions, type ExportResult, type ExportTransform } from './onnx_export.js';

export interface ExportTransformersOptions extends Omit<ExportOnnxOptions, 'path' | 'outputs' | 'externalDataFile'> {
  /** The folder to write (created when missing; files of an earlier export are replaced). */
  dir: string;
}

export interface ExportTransformersResult extends ExportResult {
  dir: string;
  /** The files written, relative to `dir`. */
  files: string[];
  /** The model class, `model_type` and image processor written. */
  architecture: string;
  modelType: string;
  imageProcessor: string;
}

/** transformers.js's dtype name and model-file suffix for each weight storage. */
const TRANSFORMERS_DTYPES: Record<ExportDType, { dtype: string; suffix: string }> = {
  float32: { dtype: 'fp32', suffix: '' },
  float16: { dtype: 'fp16', suffix: '_fp16' },
  int8: { dtype: 'int8', suffix: '_int8' },
};

/** PIL's filter numbers, which HF's `resample` uses. */
const RESAMPLE: Record<string, number> = { bilinear: 2, bicubic: 3 };

/** preprocessor_config.json for `processor` reproducing `t` (see the file comment). */
export function imageProcessorConfig(processor: TransformersArchitecture['imageProcessor'], t: ExportTransform): Record<string, unknown> {
  const [channels, h, w] = t.inputSize as [number, number, number];
  if (t.description !== undefined || channels !== 3)
    throw new ConfigError(
      `format 'transformers': this model's input is ${t.description ?? `${channels}-channel`}, but transformers.js's image processors make RGB images resized and centre-cropped; export it with format 'onnx'`,
    );
  if (h !== w) throw new ConfigError(`format 'transformers': the input must be square (size), got ${h}x${w}`);
  const resample = RESAMPLE[t.interpolation ?? ''];
  if (resample === undefined) throw new ConfigError(`format 'transformers': interpolation '${t.interpolation}' has no transformers.js resample (bilinear, bicubic)`);
  const squash = t.cropMode === 'squash';
  if (!squash && t.cropPct === undefined) throw new ConfigError("format 'transformers': the transform has no cropPct (give cropPct, or cropMode 'squash')");
  const cropPct = squash ? 1 : t.cropPct!;
  // HF normalises the RGB image, then flips it: mean/std go in RGB order.
  const bgr = t.channelOrder === 'BGR';
  const rgbOrder = (v: readonly number[]) => (bgr ? [...v].reverse() : [...v]);
  const common = {
    do_convert_rgb: true,
    do_resize: true,
    resample,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: rgbOrder(t.mean),
    image_std: rgbOrder(t.std),
    do_flip_channel_order: bgr,
  };
  if (processor === 'ConvNextImageProcessor' && squash === h >= 384) return { image_processor_type: processor, ...common, size: { shortest_edge: h }, crop_pct: cropPct };
  return {
    image_processor_type: processor === 'ConvNextImageProcessor' ? 'ViTImageProcessor' : processor,
    ...common,
    ...(squash
      ? { size: { height: h, width: w }, do_center_crop: false }
      : { size: { shortest_edge: Math.floor(h / cropPct) }, do_center_crop: true, crop_size: { height: h, width: w } }),
  };
}

/** config.json: HF's config for the network, the labels, and transformers.js's loading options. */
export function transformersConfig(
  arch: TransformersArchitecture,
  o: { labels: readonly string[]; imageSize: number; dtype: ExportDType; externalData: boolean },
): Record<string, unknown> {
  // A label that occurs twice (ImageNet's two 'crane's) maps to its first index.
  const label2id = Object.fromEntries([...o.labels.entries()].reverse().map(([i, label]) => [label, i]));
  return {
    architectures: [arch.architecture],
    model_type: arch.modelType,
    ...arch.config,
    image_size: o.imageSize,
    id2label: Object.fromEntries(o.labels.map((label, i) => [String(i), label])),
    label2id,
    'transformers.js_config': { dtype: TRANSFORMERS_DTYPES[o.dtype].dtype, ...(o.externalData ? { use_external_data_format: true } : {}) },
  };
}

/** Write the transformers.js folder of `model` (its current weights); see the file comment. */
export async function exportTransformers(model: VisionModel, o: ExportTransformersOptions): Promise<ExportTransformersResult> {
  if (typeof o.dir !== 'string' || o.dir === '') throw new ConfigError('exportTransformers: dir must name the folder to write');
  // The family, the classifier and the transform are checked before anything is written.
  const arch = model.transformersArchitecture();
  if (model.numClasses < 1) throw new ConfigError(`format 'transformers': ${model.name || model.family} has no classifier (num_classes 0); image-classification needs logits`);
  const size = exportSize(model, o.size);
  const transform = o.transform ?? defaultTransform(model, size);
  if (!transform)
    throw new ConfigError(
      `format 'transformers': ${model.name || model.family} has no eval transform (no pretrained config): export a training run, a registry model or weight tag, or pass transform`,
    );
  const processor = imageProcessorConfig(arch.imageProcessor, transform);
  // As classify: ImageNet-1k's labels for a 1000-class head unless others are given.
  let labels = o.labels ?? (model.numClasses === 1000 ? imagenetLabels() : undefined);
  if (!labels) {
    labels = Array.from({ length: model.numClasses }, (_, i) => `LABEL_${i}`);
    o.onWarning?.(`no class labels are known for ${model.name || model.family}: config.json names its classes LABEL_0 … LABEL_${model.numClasses - 1}`);
  }

  ensureFolder(join(o.dir, 'onnx'), 'dir');
  const dtype = o.dtype ?? 'float32';
  const file = `model${TRANSFORMERS_DTYPES[dtype].suffix}.onnx`;
  const r = await exportOnnx(model, { ...o, path: join(o.dir, 'onnx', file), outputs: ['logits'], size, transform, labels, externalDataFile: `${file}_data` });
  const config = transformersConfig(arch, { labels, imageSize: size, dtype, externalData: r.dataPath !== undefined });
  writeTextFile(join(o.dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeTextFile(join(o.dir, 'preprocessor_config.json'), `${JSON.stringify(processor, null, 2)}\n`);
  const files = [`onnx/${file}`, ...(r.dataPath ? [`onnx/${file}_data`] : []), 'config.json', 'preprocessor_config.json'];
  return { ...r, dir: o.dir, files, architecture: arch.architecture, modelType: arch.modelType, imageProcessor: String(processor.image_processor_type) };
}
