/**
 * An exported ONNX file run on an engine — in Node (onnxruntime-node) or a browser (onnxruntime-web):
 * the files `visionmix export` writes (fp32, fp16 weights, dynamic or static int8) or any file with
 * one float32 image input. What an export records in its metadata_props (the eval transform, the class
 * labels, the model name) comes with it, so a page can classify with a file alone.
 */
import { ConfigError } from '../errors.js';
import { readOnnxInfo, type OnnxFileInfo } from '../graph/onnx_read.js';
import type { ExportTransform } from '../io/onnx_export.js';
import type { Session } from '../runtime/session.js';
import type { Tensor } from '../tensor.js';
import { topK, type Classification } from './classify_image.js';
import type { Engine } from './engine.js';

/** The preparation of images an export recorded (`transform` in its metadata). */
export type OnnxFileTransform = ExportTransform;

function parseJson<T>(info: OnnxFileInfo, key: string, label: string): T | undefined {
  const v = info.metadata[key];
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new ConfigError(`${label}: metadata '${key}' is not valid JSON`);
  }
}

export class OnnxModel {
  private constructor(
    private readonly session: Session,
    readonly info: OnnxFileInfo,
    /** The image input's name (`pixel_values` in our exports). */
    readonly inputName: string,
    /** Its dims: numbers, or names for symbolic ones (the batch: 'batch'). */
    readonly inputDims: readonly (number | string)[],
    /** The model name recorded by the export, if any. */
    readonly modelName: string | undefined,
    readonly labels: readonly string[] | undefined,
    readonly transform: OnnxFileTransform | undefined,
  ) {}

  /** Compile `bytes` (a whole .onnx file, its weights inside) on `engine`; `label` names it in errors. */
  static async load(engine: Engine, bytes: Uint8Array, label = 'model.onnx', threads?: number): Promise<OnnxModel> {
    const info = readOnnxInfo(bytes, label);
    const initializers = new Set(info.initializers.map((i) => i.name));
    const inputs = info.inputs.filter((v) => !initializers.has(v.name));
    if (inputs.length !== 1) throw new ConfigError(`${label} has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); an image model has one`);
    const input = inputs[0]!;
    if (input.dtype !== 'float32') throw new ConfigError(`${label}: input '${input.name}' is ${input.dtype}, not float32`);
    const labels = parseJson<string[]>(info, 'labels', label);
    const session = await engine.createSession(bytes, { label, ...(threads !== undefined ? { threads } : {}) });
    return new OnnxModel(session, info, input.name, input.dims, info.metadata.model_name, labels, parseJson<OnnxFileTransform>(info, 'transform', label));
  }

  /** The file's outputs (`logits`, and `features.<i>` where exported) for one input batch. */
  async run(x: Tensor): Promise<Record<string, Tensor>> {
    const dims = this.inputDims;
    if (x.shape.length !== dims.length || dims.some((d, i) => typeof d === 'number' && d !== x.shape[i]))
      throw new ConfigError(`input [${x.shape.join(', ')}] does not fit the file's ${this.inputName} [${dims.join(', ')}]`);
    return this.session.run({ [this.inputName]: x });
  }

  /** Top-k classes of each image of `x` (softmax over `logits`), named by the file's labels where it has them. */
  async classify(x: Tensor, topk = 5): Promise<Classification[][]> {
    const { logits } = await this.run(x);
    if (!logits) throw new ConfigError(`the file has no 'logits' output (its outputs: ${this.info.outputs.map((o) => o.name).join(', ')})`);
    const [n, k] = logits.shape as [number, number];
    const data = logits.data as Float32Array;
    return Array.from({ length: n }, (_, i) => topK(data.subarray(i * k, (i + 1) * k), topk, this.labels ?? null, `image ${i}`));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
