/**
 * `visionmix convert`: a checkpoint (PyTorch .pth/.pt, or safetensors) → a safetensors file. With a
 * model, the weights go through the family's key adaptation and a strict load, and the model's own
 * (timm) names are written: the output then loads strictly anywhere visionmix or timm expects them.
 * The metadata records the source's file name and SHA-256, so a converted file can be traced back.
 */
import { ConfigError } from '../errors.js';
import { fileName, sha256File } from '../io/files.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { CheckpointInfo } from '../models/base.js';
import type { ModelSpec, RawConfig } from '../models/registry.js';
import type { Tensor } from '../tensor.js';
import type { Engine } from './engine.js';

export interface ConvertOptions {
  input: string;
  output: string;
  /** Adapt to this model's names (registry name, tag, or `{ family, … }`) and check a strict load. */
  model?: ModelSpec;
  modelOverrides?: RawConfig;
  /** PyTorch checkpoints: the state dict to convert ('model_ema'). */
  weightsKey?: string;
  onCheckpoint?: (info: CheckpointInfo) => void;
}

export interface ConvertResult {
  tensors: number;
  sourceSha256: string;
  /** The checkpoint's state dict that was converted (PyTorch sources). */
  checkpoint?: CheckpointInfo;
  /** Names written: the model's (timm) names, or the source's own without a model. */
  naming: 'model' | 'source';
}

/** Metadata keys of a converted file. */
export const SOURCE_SHA256_KEY = 'source_sha256';

export async function convertWeights(engine: Engine, o: ConvertOptions): Promise<ConvertResult> {
  if (o.input === o.output) throw new ConfigError(`convert: the output ${o.output} would overwrite the input`);
  let checkpoint: CheckpointInfo | undefined;
  const sd = await engine.readWeights(o.input, {
    weightsKey: o.weightsKey,
    onCheckpoint: (info) => {
      checkpoint = info;
      o.onCheckpoint?.(info);
    },
  });
  let out: Map<string, Tensor> = sd;
  let modelName: string | undefined;
  if (o.model !== undefined) {
    const model = engine.createModel(o.model, o.modelOverrides);
    await model.loadWeights(sd, { strict: true });
    out = new Map(Object.entries(model.stateDict()));
    modelName = model.name || model.family;
  }
  const sourceSha256 = await sha256File(o.input);
  const metadata: Record<string, string> = { format: 'pt', source: fileName(o.input), [SOURCE_SHA256_KEY]: sourceSha256 };
  if (checkpoint) metadata.state_dict_key = checkpoint.stateDictKey ?? '';
  if (modelName) metadata.model = modelName;
  await writeSafetensors(o.output, out, metadata);
  return { tensors: out.size, sourceSha256, checkpoint, naming: o.model === undefined ? 'source' : 'model' };
}
