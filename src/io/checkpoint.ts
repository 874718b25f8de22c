/**
 * Training checkpoints on disk: one safetensors file holding weights, buffers, optimizer and EMA
 * state, with the loop's own state (RNG, sampler position, counters), the run config and the run's
 * identity as JSON in its metadata. Written atomically (temp file, fsync, rename), so a crash at any
 * moment leaves the previous checkpoint intact, and with a checksum of the whole file — tensor data
 * and metadata (see `writeSafetensors`) — so that corruption on disk, or an edited step, RNG state
 * or sampler position, is found when it is loaded.
 *
 * The checkpoint before the latest is kept as `checkpoint.prev.safetensors` (a hard link to the old
 * file, taken before the new one replaces it), so a latest checkpoint that turns out corrupt falls
 * back to the previous one instead of ending the run.
 */
import { copyFileSync, existsSync, linkSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DataError, SafetensorsError } from '../errors.js';
import type { Checkpoint, CheckpointMeta } from '../train/trainer.js';
import type { Tensor } from '../tensor.js';
import { SafetensorsFile, writeSafetensors } from './safetensors.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const PREV_CHECKPOINT_FILE = 'checkpoint.prev.safetensors';

const PREFIX = { param: 'param.', buffer: 'buffer.', optimizer: 'optim.', ema: 'ema.' } as const;

/** Which run a checkpoint belongs to: resume refuses a checkpoint of another run. */
export interface RunIdentity {
  /** Random id given to a run when it starts (also in its run.json). */
  id: string;
  /** Hash of what makes the run's numbers: model config, data, training settings, seed. */
  fingerprint: string;
}

/** Hard-link (or, where links are unsupported, copy) `from` to `to` atomically via a temp name. */
function snapshot(from: string, to: string): void {
  const tmp = join(dirname(to), `.${basename(to)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const removeTmp = () => {
    try {
      unlinkSync(tmp);
    } catch {
      /* renamed, or never created */
    }
  };
  try {
    try {
      linkSync(from, tmp);
    } catch {
      copyFileSync(from, tmp);
    }
    renameSync(tmp, to);
    // rename() of one hard link over another link to the same file does nothing and keeps `tmp`.
    removeTmp();
  } catch (err) {
    removeTmp();
    throw new SafetensorsError(
      `cannot keep the previous checkpoint as '${to}' (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      to,
    );
  }
}

export async function saveCheckpoint(dir: string, ckpt: Checkpoint, runConfig: unknown, identity?: RunIdentity): Promise<void> {
  const tensors = new Map<string, Tensor>();
  const t = ckpt.train;
  for (const [k, v] of t.params) tensors.set(PREFIX.param + k, v);
  for (const [k, v] of t.buffers) tensors.set(PREFIX.buffer + k, v);
  for (const [k, v] of t.optimizer) tensors.set(PREFIX.optimizer + k, v);
  for (const [k, v] of t.ema) tensors.set(PREFIX.ema + k, v);
  const latest = join(dir, CHECKPOINT_FILE);
  // The old latest becomes prev before the new one is renamed over it: at every moment the folder
  // holds a complete latest checkpoint (old or new) and, after the first save, a complete prev.
  if (existsSync(latest)) snapshot(latest, join(dir, PREV_CHECKPOINT_FILE));
  await writeSafetensors(latest, tensors, {
    visionmix: JSON.stringify({ ...ckpt.meta, step: t.step }),
    config: JSON.stringify(runConfig),
    ...(identity ? { visionmix_run: JSON.stringify(identity) } : {}),
  });
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE)) || existsSync(join(dir, PREV_CHECKPOINT_FILE));
}

export interface LoadedCheckpoint {
  ckpt: Checkpoint;
  /** The run config saved with the checkpoint. */
  runConfig: unknown;
  /** The run it belongs to; null for checkpoints written before identities were recorded. */
  identity: RunIdentity | null;
  /** The file it was read from. */
  path: string;
  /** Set when the latest checkpoint was unusable and the previous one was loaded instead. */
  fallback?: { path: string; reason: string };
}

/** Read and check one checkpoint file completely (tensors verified against the checksum). */
async function readCheckpointFile(path: string): Promise<Omit<LoadedCheckpoint, 'fallback'>> {
  const file = await SafetensorsFile.open(path);
  let all: Map<string, Tensor>;
  let meta: CheckpointMeta & { step: number };
  let runConfig: unknown;
  let identity: RunIdentity | null;
  try {
    try {
      meta = JSON.parse(file.metadata.visionmix ?? 'null');
      runConfig = JSON.parse(file.metadata.config ?? 'null');
      identity = file.metadata.visionmix_run === undefined ? null : (JSON.parse(file.metadata.visionmix_run) as RunIdentity);
    } catch (err) {
      throw new DataError(`checkpoint ${path} has unreadable metadata: ${(err as Error).message}`);
    }
    if (!meta || meta.format !== 'visionmix-checkpoint/1' || !runConfig)
      throw new DataError(`${path} is not a visionmix training checkpoint (metadata 'visionmix'/'config' missing or of another format)`);
    // Checkpoints of older versions checksum their tensors only: their step, RNG states and sampler
    // position could have been edited unnoticed, so they are not resumed.
    if (!file.checksumCoversMetadata)
      throw new DataError(
        `checkpoint ${path} was written by an older visionmix whose checksum does not cover the checkpoint's metadata ` +
          `(step, RNG and sampler state); it cannot be resumed safely by this version. Start a new run (its model.safetensors, if any, still loads)`,
      );
    all = await file.readAll();
  } finally {
    await file.close();
  }
  const pick = (prefix: string) =>
    new Map([...all].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v] as const));
  const { step, ...rest } = meta;
  return {
    ckpt: {
      train: { step, params: pick(PREFIX.param), buffers: pick(PREFIX.buffer), optimizer: pick(PREFIX.optimizer), ema: pick(PREFIX.ema) },
      meta: rest as CheckpointMeta,
    },
    runConfig,
    identity,
    path,
  };
}

/**
 * Read the latest checkpoint of `dir` and the run config saved with it. If the latest one is
 * missing, corrupt (checksum mismatch, truncated) or unreadable, the previous one is loaded and
 * `fallback` says why; if both fail, the DataError names both files and their problems.
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const latest = join(dir, CHECKPOINT_FILE);
  const prev = join(dir, PREV_CHECKPOINT_FILE);
  if (!existsSync(latest) && !existsSync(prev)) throw new DataError(`no checkpoint to resume in ${dir} (expected ${latest})`);
  let latestProblem: string;
  if (existsSync(latest)) {
    try {
      return await readCheckpointFile(latest);
    } catch (err) {
      if (!(err instanceof SafetensorsError || err instanceof DataError)) throw err;
      latestProblem = err.message;
    }
  } else {
    latestProblem = `${latest} is missing`;
  }
  if (!existsSync(prev)) throw new DataError(`cannot resume from ${dir}: ${latestProblem}; and there is no previous checkpoint (${prev}) to fall back to`);
  try {
    return { ...(await readCheckpointFile(prev)), fallback: { path: latest, reason: latestProblem } };
  } catch (err) {
    if (!(err instanceof SafetensorsError || err instanceof DataError)) throw err;
    throw new DataError(`cannot resume from ${dir}: the latest checkpoint is unusable (${latestProblem}) and so is the previous one (${err.message})`);
  }
}

/**
 * After resuming from the previous checkpoint (the latest was corrupt), make the good one the
 * latest again: otherwise the next save would keep the corrupt file as "previous".
 */
export function restoreLatestFromPrevious(dir: string): void {
  snapshot(join(dir, PREV_CHECKPOINT_FILE), join(dir, CHECKPOINT_FILE));
}
