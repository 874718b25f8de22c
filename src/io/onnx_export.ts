/**
 * `exportOnnx(model, opts)`: a model's eval graph as an ONNX file other runtimes load — opset 17,
 * weights as initializers (an external data file beside it when they pass 2 GB, the protobuf
 * limit), a symbolic batch dimension by default, input `pixel_values` and outputs `logits` /
 * `features.<stage>`, and `metadata_props` saying how to prepare images and read the outputs.
 *
 * The graph is the one `run` executes (same tracer, same emission), traced at a stand-in batch size
 * that the emitter turns into the dimension 'batch' (graph/emit.ts). A model whose graph bakes the
 * batch size somewhere is exported with a static batch instead, and the caller is told why.
 */
import { closeSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError, DataError } from '../errors.js';
import { emitModel, serializeModel, StaticBatchError, SYMBOLIC_BATCH, type OnnxModel, type OnnxValueInfo } from '../graph/emit.js';
import { storeWeightsAsFloat16 } from '../graph/fp16.js';
import { foldLayerScales, quantizeDynamicInt8 } from '../graph/quantize.js';
import { findStaticLayers } from '../graph/quantize_static.js';
import { quantizeStaticInt8, type CalibrationOptions, type StaticQuantReport } from './static_int8.js';
import type { VisionModel } from '../models/base.js';
import { traceModel } from '../models/trace.js';
import { errorReason, sha256File } from './files.js';

/** How images become the model's input, as recorded in the file's metadata. */
export interface ExportTransform {
  /** [C, H, W] of the input. */
  inputSize: readonly number[];
  /** Resize the shorter side to size / cropPct, then centre-crop (timm's eval transform). */
  cropPct?: number;
  interpolation?: string;
  mean: readonly number[];
  std: readonly number[];
  cropMode?: string;
  channelOrder?: string;
  /** Said in words when the preparation is not timm's resize + centre crop (Fashion-MNIST: pad 28×28 to the size). */
  description?: string;
}

export type ExportOutput = 'logits' | 'features';
export type ExportDType = 'float32' | 'float16' | 'int8';

export interface ExportOnnxOptions {
  /** The .onnx file to write (an external data file `<path>.data` goes beside it when needed). */
  path: string;
  /** Square input side (default: the model's pretrained input size, else its default input size). */
  size?: number;
  /** 'dynamic' (default): a symbolic batch dimension; a number: that static batch. */
  batch?: number | 'dynamic';
  /** Outputs (default ['logits']): `features` adds one `features.<i>` map per stage. */
  outputs?: readonly ExportOutput[];
  /**
   * Weight storage: 'float32' (default), 'float16' (half the file; compute stays float32) or 'int8'
   * (dynamic quantization, graph/quantize.ts: per-channel symmetric int8 weights, MatMuls as integer
   * GEMMs on activations quantized at run time; the first conv and the classifier stay float32), or
   * with `quantization: 'static'` and `calibration` QDQ int8 Conv/MatMul/Gemm layers (io/static_int8.ts).
   */
  dtype?: ExportDType;
  /** int8 only: 'dynamic' (default; weights only, no calibration) or 'static' (needs `calibration`). */
  quantization?: 'dynamic' | 'static';
  /** Static int8: the calibration images and how ranges are taken from them. */
  calibration?: CalibrationOptions;
  /** The eval transform to record (default: from the model's pretrained config, when it has one). */
  transform?: ExportTransform;
  /** Class names in logit order (recorded as `labels`). */
  labels?: readonly string[];
  /** sha256 (hex) of the source weights; or `weightsFile`, hashed here. */
  weightsSha256?: string;
  weightsFile?: string;
  /** Extra metadata_props entries. */
  metadata?: Readonly<Record<string, string>>;
  /**
   * Weights larger than this in total (bytes) go to the external data file (default: 2 GB less a
   * margin for the graph: ONNX's protobuf limit). Tests pass a small value to exercise that path.
   */
  externalDataThreshold?: number;
  /** File name of the external data beside `path` (default `<file>.data`). */
  externalDataFile?: string;
  /** Told when the export differs from what was asked (a static batch instead of a dynamic one). */
  onWarning?: (message: string) => void;
}

export interface ExportResult {
  path: string;
  /** The external data file, when the weights went to one. */
  dataPath?: string;
  /** 'dynamic' or the static batch the file was written with. */
  batch: number | 'dynamic';
  dtype: ExportDType;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  metadata: Record<string, string>;
  /** Bytes of the model file and of the external data file (0 when none). */
  modelBytes: number;
  dataBytes: number;
  /** Why the batch is static when 'dynamic' was asked for. */
  staticBatchReason?: string;
  /** Static int8: the calibration, every quantized layer and the output error (per layer with `calibration.sensitivity`). */
  quantization?: StaticQuantReport;
}

/** Keys of the metadata_props an exported file carries (those that apply). */
export const EXPORT_METADATA_KEYS = [
  'model_name',
  'family',
  'model_config',
  'num_classes',
  'labels',
  'input_size',
  'crop_pct',
  'interpolation',
  'mean',
  'std',
  'crop_mode',
  'channel_order',
  'transform',
  'weights_sha256',
  'weights_dtype',
  'quantization',
  'producer',
] as const;

const PROTOBUF_LIMIT = 2 ** 31;
const DEFAULT_EXTERNAL_THRESHOLD = PROTOBUF_LIMIT - 64 * 2 ** 20;


function checkOptions(model: VisionModel, o: ExportOnnxOptions): void {
  if (typeof o.path !== 'string' || o.path === '') throw new ConfigError('exportOnnx: path must name the .onnx file to write');
  if (o.size !== undefined && !(Number.isInteger(o.size) && o.size >= 1)) throw new ConfigError(`exportOnnx: size must be a positive integer, got ${o.size}`);
  if (o.batch !== undefined && o.batch !== 'dynamic' && !(Number.isInteger(o.batch) && o.batch >= 1 && o.batch < SYMBOLIC_BATCH))
    throw new ConfigError(`exportOnnx: batch must be 'dynamic' or a positive integer, got ${String(o.batch)}`);
  if (o.dtype !== undefined && o.dtype !== 'float32' && o.dtype !== 'float16' && o.dtype !== 'int8')
    throw new ConfigError(`exportOnnx: dtype must be 'float32', 'float16' or 'int8', got ${String(o.dtype)}`);
  if (o.quantization !== undefined && o.quantization !== 'dynamic' && o.quantization !== 'static')
    throw new ConfigError(`exportOnnx: quantization must be 'dynamic' or 'static', got ${String(o.quantization)}`);
  if (o.quantization !== undefined && o.dtype !== 'int8') throw new ConfigError(`exportOnnx: quantization applies to dtype 'int8', not ${o.dtype ?? 'float32'}`);
  if (o.quantization === 'static' && !o.calibration) throw new ConfigError("exportOnnx: static int8 needs calibration images (calibration.images)");
  if (o.calibration && o.quantization !== 'static') throw new ConfigError("exportOnnx: calibration is for quantization 'static'");
  for (const out of o.outputs ?? [])
    if (out !== 'logits' && out !== 'features') throw new ConfigError(`exportOnnx: outputs are 'logits' and 'features', got '${String(out)}'`);
  if (o.outputs && o.outputs.length === 0) throw new ConfigError('exportOnnx: outputs is empty (give logits and/or features)');
  if (o.outputs?.includes('logits') !== false && !model.outputNames.includes('logits'))
    throw new ConfigError(`exportOnnx: ${model.name || model.family} has no logits (export its features)`);
  if (o.labels && o.labels.length !== model.numClasses)
    throw new ConfigError(`exportOnnx: ${o.labels.length} labels for a model with ${model.numClasses} classes`);
  if (o.weightsSha256 !== undefined && !/^[0-9a-f]{64}$/.test(o.weightsSha256))
    throw new ConfigError(`exportOnnx: weightsSha256 must be 64 lowercase hex digits, got '${o.weightsSha256}'`);
  if (o.externalDataThreshold !== undefined && !(o.externalDataThreshold >= 0)) throw new ConfigError('exportOnnx: externalDataThreshold must be ≥ 0');
  if (o.externalDataFile !== undefined && (typeof o.externalDataFile !== 'string' || o.externalDataFile === '' || basename(o.externalDataFile) !== o.externalDataFile))
    throw new ConfigError(`exportOnnx: externalDataFile must be a file name (no folder), got ${JSON.stringify(o.externalDataFile)}`);
}

/** The square input side exported: the one asked for, else the pretrained config's, else the model's default. */
export function exportSize(model: VisionModel, size?: number): number {
  return size ?? (model.pretrainedConfig?.inputSize ?? model.defaultInputSize)[1];
}

/** The transform recorded by default: the model's pretrained config, at the exported size. */
export function defaultTransform(model: VisionModel, size: number): ExportTransform | undefined {
  const pc = model.pretrainedConfig;
  // Weights' preprocessing for another channel count (in_chans overridden) does not apply.
  if (!pc || pc.inputSize[0] !== model.defaultInputSize[0]) return undefined;
  return {
    inputSize: [pc.inputSize[0], size, size],
    cropPct: pc.cropPct,
    interpolation: pc.interpolation,
    mean: pc.mean,
    std: pc.std,
    cropMode: pc.cropMode,
    ...(pc.channelOrder ? { channelOrder: pc.channelOrder } : {}),
  };
}

/** The metadata_props of an export (string values; lists and records as JSON). */
export function exportMetadata(model: VisionModel, o: { transform?: ExportTransform; labels?: readonly string[]; weightsSha256?: string; dtype: string; extra?: Readonly<Record<string, string>> }): Record<string, string> {
  const m: Record<string, string> = {};
  m.model_name = model.name || model.family;
  m.family = model.family;
  const config = (model as unknown as { config?: unknown }).config;
  if (config !== undefined) m.model_config = JSON.stringify(config);
  m.num_classes = String(model.numClasses);
  if (o.labels) m.labels = JSON.stringify(o.labels);
  const t = o.transform;
  if (t) {
    m.input_size = JSON.stringify(t.inputSize);
    if (t.cropPct !== undefined) m.crop_pct = String(t.cropPct);
    if (t.interpolation !== undefined) m.interpolation = t.interpolation;
    m.mean = JSON.stringify(t.mean);
    m.std = JSON.stringify(t.std);
    if (t.cropMode !== undefined) m.crop_mode = t.cropMode;
    if (t.channelOrder !== undefined) m.channel_order = t.channelOrder;
    m.transform = JSON.stringify(t);
  }
  if (o.weightsSha256) m.weights_sha256 = o.weightsSha256;
  m.weights_dtype = o.dtype;
  m.producer = 'visionmix';
  return { ...m, ...o.extra };
}

/** Trace and emit the eval graph at `batch` (SYMBOLIC_BATCH: symbolic). */
function emitForExport(model: VisionModel, batch: number, size: number, outputs: readonly ExportOutput[]): OnnxModel {
  const c = model.defaultInputSize[0];
  const traced = traceModel(model, [batch, c, size, size], { logits: outputs.includes('logits'), outputs: outputs.filter((x) => x !== 'logits') });
  const g = traced.graph;
  if (g.inputs.length !== 1) throw new ConfigError(`exportOnnx: the eval graph of ${model.name || model.family} has inputs besides the image (${g.inputs.map((v) => v.name).join(', ')})`);
  g.inputs[0]!.name = 'pixel_values';
  return emitModel(g, { opset: 17, symbolicBatch: batch === SYMBOLIC_BATCH ? SYMBOLIC_BATCH : 0, producer: 'visionmix' });
}

/** Write `bytes` chunks to `path` through a temporary file renamed at the end (no half-written file under the name). */
function writeChunks(path: string, chunks: Iterable<{ offset: number; bytes: Uint8Array }>): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    for (const { offset, bytes } of chunks) {
      let done = 0;
      while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, offset + done);
    }
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new DataError(`cannot write ${path} (${errorReason(err)})`);
  }
}

/** Export `model` (its current weights, eval mode) as an ONNX file; see the file comment. */
export async function exportOnnx(model: VisionModel, opts: ExportOnnxOptions): Promise<ExportResult> {
  checkOptions(model, opts);
  await model.ready();
  const outputs = opts.outputs ?? ['logits'];
  const dtype = opts.dtype ?? 'float32';
  const size = exportSize(model, opts.size);
  const weightsSha256 = opts.weightsSha256 ?? (opts.weightsFile ? await sha256File(opts.weightsFile) : undefined);

  const wasTraining = model.training;
  model.eval();
  let onnx: OnnxModel;
  let batch: number | 'dynamic' = opts.batch ?? 'dynamic';
  let staticBatchReason: string | undefined;
  try {
    if (batch === 'dynamic') {
      try {
        onnx = emitForExport(model, SYMBOLIC_BATCH, size, outputs);
      } catch (err) {
        if (!(err instanceof StaticBatchError)) throw err;
        staticBatchReason = err.message;
        batch = 1;
        opts.onWarning?.(`${model.name || model.family}: ${err.message}; exported with a static batch of 1`);
        onnx = emitForExport(model, 1, size, outputs);
      }
    } else onnx = emitForExport(model, batch, size, outputs);
  } finally {
    if (wasTraining) model.train();
  }

  // Declare only the operator sets the file uses: other runtimes need not know ONNX Runtime's domain.
  onnx.domains = Object.fromEntries(Object.entries(onnx.domains).filter(([d]) => onnx.nodes.some((n) => n.domain === d)));
  if (dtype === 'float16') {
    const r = storeWeightsAsFloat16(onnx);
    if (r.keptFloat32.length) opts.onWarning?.(`${r.keptFloat32.length} weights have values beyond float16's range and stay float32: ${r.keptFloat32.slice(0, 5).join(', ')}`);
  }
  const extra: Record<string, string> = {};
  let report: StaticQuantReport | undefined;
  // int8: layer scales move into the per-channel weight scales of the Linear before them (lossless there).
  const layerScales = dtype === 'int8' ? foldLayerScales(onnx) : null;
  if (layerScales) onnx = layerScales.model;
  if (dtype === 'int8' && opts.quantization === 'static') {
    // Measured on ConvNeXt-T (ORT 1.30, CPU): with static shapes ORT fuses a Linear's MatMul + Add
    // into Gemm before it fuses QDQ pairs, and that Gemm stays float behind DequantizeLinears run at
    // every call: 1.5x slower than fp32, where the dynamic-batch file runs MatMulIntegerToFloat and beats fp32.
    if (batch !== 'dynamic' && findStaticLayers(onnx).some((l) => l.op === 'MatMul'))
      opts.onWarning?.(
        `static int8 with a fixed batch (${batch}): ONNX Runtime fuses the Linear layers into Gemm before their quantization and runs them in float ` +
          'behind DequantizeLinears (slower than fp32); export with a dynamic batch (the default) for integer kernels',
      );
    const q = await quantizeStaticInt8(onnx, model, opts.calibration!);
    onnx = q.model;
    report = q.report;
    extra.quantization = JSON.stringify({
      method: 'static',
      calibration: { method: report.method, ...(report.percentile !== undefined ? { percentile: report.percentile } : {}), images: report.images },
      weights: `int8, symmetric, per output channel${opts.calibration!.reduceRange === false ? '' : ', 7-bit range [-63, 63]'}`,
      activations: 'uint8 per tensor, calibrated (QuantizeLinear/DequantizeLinear)',
      layers: report.layers.length,
      layer_scales_folded: layerScales!.folded.length,
      float32: report.float32.map((l) => l.name),
      overall: report.overall,
    });
  } else if (dtype === 'int8') {
    // The layers most sensitive to rounding stay float32: the first conv (raw pixels) and the classifier.
    const first = `${model.firstConv}.`;
    const r = quantizeDynamicInt8(onnx, { exclude: (w) => w.startsWith(first) || model.isClassifierKey(w) });
    extra.quantization = JSON.stringify({
      method: 'dynamic',
      weights: 'int8, symmetric, per output channel, 7-bit range [-63, 63]',
      activations: 'uint8 per tensor, computed at run time (MatMul only)',
      matmul: r.matmul.length,
      conv: r.conv.length,
      layer_scales_folded: layerScales!.folded.length,
      float32: r.excluded,
    });
  }
  const metadata = exportMetadata(model, {
    transform: opts.transform ?? defaultTransform(model, size),
    labels: opts.labels,
    weightsSha256,
    dtype,
    extra: { ...extra, ...opts.metadata },
  });
  onnx.metadata = Object.entries(metadata);

  const weightBytes = onnx.initializers.reduce((s, i) => s + i.tensor.data.byteLength, 0);
  const dataPath = opts.externalDataFile ? join(dirname(opts.path), opts.externalDataFile) : `${opts.path}.data`;
  const external = weightBytes > (opts.externalDataThreshold ?? DEFAULT_EXTERNAL_THRESHOLD);
  const ser = serializeModel(onnx, external ? { externalData: { location: basename(dataPath) } } : {});
  if (external) writeChunks(dataPath, ser.external);
  writeChunks(opts.path, [{ offset: 0, bytes: ser.model }]);
  return {
    path: opts.path,
    ...(external ? { dataPath } : {}),
    batch,
    dtype,
    inputs: onnx.inputs,
    outputs: onnx.outputs,
    metadata,
    modelBytes: statSync(opts.path).size,
    dataBytes: external ? statSync(dataPath).size : 0,
    ...(staticBatchReason ? { staticBatchReason } : {}),
    ...(report ? { quantization: report } : {}),
  };
}
