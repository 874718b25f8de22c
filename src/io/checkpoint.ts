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
import type { Tensor } from '../tensor.js';
import { SafetensorsFile, writeSafetensors } from './safetensors.js';
import { checkpointEntries, checkpointFromEntries, checkpointMetadata, type CheckpointFormat, type MetaParser, type RunIdentity, type StoredCheckpoint } from './checkpoint_format.js';
import { errorReason } from './files.js';

export type { CheckpointFormat, CheckpointTensors, MetaParser, RunIdentity, StoredCheckpoint } from './checkpoint_format.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const PREV_CHECKPOINT_FILE = 'checkpoint.prev.safetensors';

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
      `cannot keep the previous checkpoint as '${to}' (${errorReason(err)})`,
      to,
    );
  }
}

export async function saveCheckpoint<M extends CheckpointFormat>(dir: string, ckpt: StoredCheckpoint<M>, runConfig: unknown, identity?: RunIdentity): Promise<void> {
  const { tensors, metadata } = checkpointEntries(ckpt, runConfig, identity);
  const latest = join(dir, CHECKPOINT_FILE);
  // The old latest becomes prev before the new one is renamed over it: at every moment the folder
  // holds a complete latest checkpoint (old or new) and, after the first save, a complete prev.
  if (existsSync(latest)) snapshot(latest, join(dir, PREV_CHECKPOINT_FILE));
  await writeSafetensors(latest, tensors, metadata);
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE)) || existsSync(join(dir, PREV_CHECKPOINT_FILE));
}

/** The metadata of a loaded checkpoint when the caller does not name its type: the format tag, then anything. */
export type AnyCheckpointMeta = CheckpointFormat & Record<string, unknown>;

export interface LoadedCheckpoint<M extends CheckpointFormat = AnyCheckpointMeta> {
  /** `meta` is the JSON as written: its fields beyond `format` are not checked here. */
  ckpt: StoredCheckpoint<M>;
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
async function readCheckpointFile<M extends CheckpointFormat>(path: string, parseMeta?: MetaParser<M>): Promise<Omit<LoadedCheckpoint<M>, 'fallback'>> {
  const file = await SafetensorsFile.open(path);
  let all: Map<string, Tensor>;
  try {
    checkpointMetadata(file.metadata, path);
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
  return { ...checkpointFromEntries<M>(all, file.metadata, path, parseMeta), path };
}

/**
 * Read the latest checkpoint of `dir` and the run config saved with it. If the latest one is
 * missing, corrupt (checksum mismatch, truncated) or unreadable, the previous one is loaded and
 * `fallback` says why; if both fail, the DataError names both files and their problems.
 */
export async function loadCheckpoint<M extends CheckpointFormat = AnyCheckpointMeta>(dir: string, parseMeta?: MetaParser<M>): Promise<LoadedCheckpoint<M>> {
  const latest = join(dir, CHECKPOINT_FILE);
  const prev = join(dir, PREV_CHECKPOINT_FILE);
  if (!existsSync(latest) && !existsSync(prev)) throw new DataError(`no checkpoint to resume in ${dir} (expected ${latest})`);
  let latestProblem: string;
  if (existsSync(latest)) {
    try {
      return await readCheckpointFile<M>(latest, parseMeta);
    } catch (err) {
      if (!(err instanceof SafetensorsError || err instanceof DataError)) throw err;
      latestProblem = err.message;
    }
  } else {
    latestProblem = `${latest} is missing`;
  }
  if (!existsSync(prev)) throw new DataError(`cannot resume from ${dir}: ${latestProblem}; and there is no previous checkpoint (${prev}) to fall back to`);
  try {
    return { ...(await readCheckpointFile<M>(prev, parseMeta)), fallback: { path: latest, reason: latestProblem } };
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
