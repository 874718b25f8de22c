/**
 * The format of a training checkpoint, without files: its tensors by group under key prefixes, and
 * the training loop's state, the run config and the run's identity as JSON metadata. io/checkpoint.ts
 * writes it to disk (atomic, with the previous one kept); the browser trainer (web_train.ts) to
 * IndexedDB. Both store the same safetensors bytes.
 */
import { DataError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** The tensor groups of a training state, each stored under its key prefix. */
const PREFIX = { params: 'param.', buffers: 'buffer.', optimizer: 'optim.', ema: 'ema.' } as const;
type TensorGroup = keyof typeof PREFIX;
const GROUPS = Object.keys(PREFIX) as TensorGroup[];

/** The tensors of a training state as a checkpoint stores them (train/step.ts's `TrainState` has this shape). */
export type CheckpointTensors = { step: number } & { [G in TensorGroup]: Map<string, Tensor> };

/** The format tag every checkpoint's JSON metadata carries. */
export interface CheckpointFormat {
  format: 'visionmix-checkpoint/1';
}

/**
 * What a checkpoint file holds: the tensors, and the training loop's state as JSON (`meta`). This
 * module owns the file format; what `meta` holds is the trainer's business, so callers name it as
 * `M` (train/trainer.ts's `Checkpoint` is a `StoredCheckpoint<CheckpointMeta>`).
 */
export interface StoredCheckpoint<M extends CheckpointFormat = CheckpointFormat> {
  train: CheckpointTensors;
  meta: M;
}

/** Which run a checkpoint belongs to: resume refuses a checkpoint of another run. */
export interface RunIdentity {
  /** Random id given to a run when it starts (also in its run.json). */
  id: string;
  /** Hash of what makes the run's numbers: model config, data, training settings, seed. */
  fingerprint: string;
}

/** Parses a checkpoint's metadata (without `step`) into the caller's type, or throws a DataError naming `where`. */
export type MetaParser<M> = (raw: unknown, where: string) => M;

/** A checkpoint as safetensors entries: the tensors under their group prefixes, and the metadata. */
export function checkpointEntries<M extends CheckpointFormat>(ckpt: StoredCheckpoint<M>, runConfig: unknown, identity?: RunIdentity): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const tensors = new Map<string, Tensor>();
  const t = ckpt.train;
  for (const g of GROUPS) for (const [k, v] of t[g]) tensors.set(PREFIX[g] + k, v);
  const metadata: Record<string, string> = {
    visionmix: JSON.stringify({ ...ckpt.meta, step: t.step }),
    config: JSON.stringify(runConfig),
    ...(identity ? { visionmix_run: JSON.stringify(identity) } : {}),
  };
  return { tensors, metadata };
}

/** The JSON of a checkpoint's metadata, checked to be a visionmix checkpoint's (a DataError naming `where` otherwise). */
export function checkpointMetadata(metadata: Readonly<Record<string, string>>, where: string): { meta: CheckpointFormat & { step: number }; runConfig: unknown; identity: RunIdentity | null } {
  let meta: CheckpointFormat & { step: number };
  let runConfig: unknown;
  let identity: RunIdentity | null;
  try {
    meta = JSON.parse(metadata.visionmix ?? 'null');
    runConfig = JSON.parse(metadata.config ?? 'null');
    identity = metadata.visionmix_run === undefined ? null : (JSON.parse(metadata.visionmix_run) as RunIdentity);
  } catch (err) {
    throw new DataError(`checkpoint ${where} has unreadable metadata: ${(err as Error).message}`);
  }
  if (!meta || meta.format !== 'visionmix-checkpoint/1' || !runConfig)
    throw new DataError(`${where} is not a visionmix training checkpoint (metadata 'visionmix'/'config' missing or of another format)`);
  return { meta, runConfig, identity };
}

/** A checkpoint back from its safetensors entries (the inverse of `checkpointEntries`). */
export function checkpointFromEntries<M extends CheckpointFormat>(
  all: Map<string, Tensor>,
  metadata: Readonly<Record<string, string>>,
  where: string,
  parseMeta?: MetaParser<M>,
): { ckpt: StoredCheckpoint<M>; runConfig: unknown; identity: RunIdentity | null } {
  const { meta, runConfig, identity } = checkpointMetadata(metadata, where);
  const pick = (prefix: string) =>
    new Map([...all].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v] as const));
  const { step, ...rest } = meta;
  if (!(Number.isSafeInteger(step) && step >= 0)) throw new DataError(`checkpoint ${where}: 'step' must be an integer ≥ 0, got ${JSON.stringify(step)}`);
  // The caller's schema for the rest: a checkpoint whose metadata does not fit it is as unusable as a corrupt one.
  const parsed = parseMeta ? parseMeta(rest, `checkpoint ${where}`) : (rest as unknown as M);
  const groups = Object.fromEntries(GROUPS.map((g) => [g, pick(PREFIX[g])])) as Record<TensorGroup, Map<string, Tensor>>;
  return { ckpt: { train: { step, ...groups }, meta: parsed }, runConfig, identity };
}
