/**
 * A run's configuration (run.json): its type and schema, how older formats are read, the
 * fingerprint that ties checkpoints to their run, and the settings a message names when two differ.
 */
import * as v from 'valibot';
import { DataError } from '../errors.js';
import type { RunIdentity } from '../io/checkpoint.js';
import { readRunConfig, runFolderFiles } from '../io/run_folder.js';
import { upgradeModelSpec, type ModelSpec, type RawConfig } from '../models/registry.js';
import { defaultThreads } from '../runtime/node_machine.js';
import { parseDocument, parseTrainConfig } from '../train/schemas.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../train/trainer.js';
import { canonicalJson, fnv1a64 } from '../util/hash.js';
import type { FolderDataConfig } from './folder_data.js';
import type { DataFiles } from './image_folder.js';
import { TASK_NAMES, type TaskName } from './training_tasks.js';

/**
 * The version of run.json's layout and of the meaning of its model config keys. 1 (no `format` key):
 * before ConvNeXt's `patch_size` followed timm — a run.json of that format that says `patch_size: 2`
 * trained what `stem_stride: 2` builds now, and is read so (models' `upgradeConfig`). 2: today's.
 */
export const RUN_FORMAT = 2;

export interface RunConfig {
  /** RUN_FORMAT when written (absent: format 1; always set once read). */
  format?: number;
  model: ModelSpec;
  /** Config overrides applied on top of a registry model (num_classes, in_chans, drop_path_rate, …). */
  modelOverrides: RawConfig;
  data: string;
  train: TrainConfig;
  threads: number;
  /** Random id of the run, given when it starts; checkpoints record it (absent in older run.json). */
  runId?: string;
  /** FCMAE pretraining options: the run pretrains `model` as the encoder of an FCMAE (`visionmix pretrain`). */
  fcmae?: RawConfig;
  /** What is trained (tasks/training_tasks.ts; absent in older run.json: 'fcmae' when `fcmae` is set, else 'classification'). */
  task?: TaskName;
  /** Token labelling: a safetensors file of per-token label maps of the training images (train/token_labels.ts). */
  tokenLabels?: string;
  /** How an image-folder `data` is read (classes, split, augmentation, Mixup/CutMix, normalisation). */
  folder?: FolderDataConfig;
  /** Fine-tuning: the weights the run started from (the classifier is replaced for its classes); `weightsKey`: the state dict of a PyTorch checkpoint. */
  init?: { weights: string; weightsKey?: string };
  /**
   * Image-folder data: the files of each split and class when the run started (count, bytes, digest
   * of names and sizes). Resume compares the folder against it and refuses a changed one (absent in
   * older run.json).
   */
  dataFiles?: DataFiles;
}

/** The model config a run actually uses: classes and input channels from its data, then the user's overrides. */
export function runModelOverrides(rc: RunConfig, numClasses: number, channels: number): RawConfig {
  return { num_classes: numClasses, in_chans: channels, ...rc.modelOverrides };
}

/**
 * Hash of everything that determines a run's numbers: model config, data, training settings and
 * seed. Not the epoch count (`--resume --epochs` may extend it) nor the thread count.
 */
export function runFingerprint(rc: RunConfig): string {
  return fnv1a64(canonicalJson(fingerprintParts(rc)));
}

/** What the fingerprint covers, by name (`model`, `data`, `train.lr`, …), to say which part differs. */
function fingerprintParts(rc: RunConfig): Record<string, unknown> {
  const { epochs: _epochs, ...train } = rc.train;
  const { workers: _workers, ...folder } = rc.folder ?? ({} as Partial<FolderDataConfig>);
  return {
    model: rc.model,
    modelOverrides: rc.modelOverrides,
    data: rc.data,
    train,
    ...(rc.fcmae ? { fcmae: rc.fcmae } : {}),
    ...(rc.task ? { task: rc.task } : {}),
    ...(rc.tokenLabels ? { tokenLabels: rc.tokenLabels } : {}),
    ...(rc.folder ? { folder } : {}),
    ...(rc.init ? { init: rc.init } : {}),
  };
}

/** The settings that differ between two run configs (`train.lr`, `model`, …), for messages. */
export function differingSettings(a: RunConfig, b: RunConfig): string[] {
  const pa = fingerprintParts(a);
  const pb = fingerprintParts(b);
  const out: string[] = [];
  for (const key of [...new Set([...Object.keys(pa), ...Object.keys(pb)])].sort()) {
    const [va, vb] = [pa[key], pb[key]];
    if (canonicalJson(va) === canonicalJson(vb)) continue;
    // One level down for the objects with many settings (train, folder), so the message names the field.
    if (isObject(va) && isObject(vb)) {
      for (const k of [...new Set([...Object.keys(va), ...Object.keys(vb)])].sort())
        if (canonicalJson(va[k]) !== canonicalJson(vb[k])) out.push(`${key}.${k}`);
    } else out.push(key);
  }
  return out;
}

export function runIdentity(rc: RunConfig): RunIdentity {
  return { id: rc.runId ?? 'none', fingerprint: runFingerprint(rc) };
}

/**
 * A run config written under an older format, as the same run is spelled now (its model config keys
 * renamed where their meaning changed); format set to RUN_FORMAT.
 */
export function upgradeRunConfig(rc: RunConfig): RunConfig {
  const format = rc.format ?? 1;
  if (format >= RUN_FORMAT) return rc;
  const { spec, overrides } = upgradeModelSpec(rc.model, rc.modelOverrides, format);
  return { ...rc, format: RUN_FORMAT, model: spec, modelOverrides: overrides };
}

export function describeRun(rc: RunConfig, id: string | undefined): string {
  const model = typeof rc.model === 'string' ? rc.model : JSON.stringify(rc.model);
  return `run ${id ?? '(no id)'}: model ${model}, data ${rc.data}, seed ${rc.train.seed}`;
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * run.json as a schema (its `train` by the trainer's: train/schemas.ts); the rest of the document is
 * kept as written. The result is upgraded to RUN_FORMAT unless `asWritten` (which resume needs, to
 * compare fingerprints taken before).
 */
const RUN_CONFIG = v.looseObject({
  format: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1))),
  model: v.union([v.string(), v.looseObject({ family: v.string() })]),
  modelOverrides: v.optional(v.record(v.string(), v.unknown())),
  data: v.string(),
  train: v.record(v.string(), v.unknown()),
  threads: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1))),
  runId: v.optional(v.string()),
  fcmae: v.optional(v.record(v.string(), v.unknown())),
  task: v.optional(v.picklist(TASK_NAMES)),
  tokenLabels: v.optional(v.string()),
  folder: v.optional(v.looseObject({ classes: v.array(v.string()) })),
  init: v.optional(v.object({ weights: v.string(), weightsKey: v.optional(v.string()) })),
});

export function parseRunConfig(raw: unknown, where: string, asWritten = false): RunConfig {
  const what = `${where} is not a visionmix run configuration`;
  const doc = parseDocument(RUN_CONFIG, raw, what);
  if (typeof doc.format === 'number' && doc.format > RUN_FORMAT)
    throw new DataError(`${where} was written by a newer visionmix (run format ${doc.format}; this one reads formats 1 to ${RUN_FORMAT}): update visionmix to use it`);
  const rc: RunConfig = {
    ...(doc as unknown as RunConfig),
    modelOverrides: (doc.modelOverrides as RawConfig | undefined) ?? {},
    // Settings added since the run was written take their defaults (and so the run's numbers).
    train: parseTrainConfig({ ...DEFAULT_TRAIN_CONFIG, ...doc.train }, `${what} (train)`),
    threads: doc.threads ?? defaultThreads(),
  };
  return asWritten ? rc : upgradeRunConfig(rc);
}

/** The run config of a finished or running run folder (its run.json), for eval/predict. */
export function readRunFolderConfig(dir: string): RunConfig | null {
  const raw = readRunConfig(dir);
  return raw === null ? null : parseRunConfig(raw, runFolderFiles(dir).config);
}

/** The run's task: run.json's, or (older run folders) FCMAE when FCMAE options are set. */
export function runTask(rc: RunConfig): TaskName {
  return rc.task ?? (rc.fcmae ? 'fcmae' : 'classification');
}
