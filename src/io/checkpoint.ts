/**
 * Training checkpoints on disk: one safetensors file holding weights, buffers, optimizer and EMA
 * state, with the loop's own state (RNG, sampler position, counters) and the run config as JSON in
 * its metadata. Written atomically (temp file, fsync, rename), so a crash at any moment leaves the
 * previous checkpoint intact.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import type { Checkpoint, CheckpointMeta } from '../train/trainer.js';
import type { Tensor } from '../tensor.js';
import { SafetensorsFile, writeSafetensors } from './safetensors.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

const PREFIX = { param: 'param.', buffer: 'buffer.', optimizer: 'optim.', ema: 'ema.' } as const;

export async function saveCheckpoint(dir: string, ckpt: Checkpoint, runConfig: unknown): Promise<void> {
  const tensors = new Map<string, Tensor>();
  const t = ckpt.train;
  for (const [k, v] of t.params) tensors.set(PREFIX.param + k, v);
  for (const [k, v] of t.buffers) tensors.set(PREFIX.buffer + k, v);
  for (const [k, v] of t.optimizer) tensors.set(PREFIX.optimizer + k, v);
  for (const [k, v] of t.ema) tensors.set(PREFIX.ema + k, v);
  await writeSafetensors(join(dir, CHECKPOINT_FILE), tensors, {
    visionmix: JSON.stringify({ ...ckpt.meta, step: t.step }),
    config: JSON.stringify(runConfig),
  });
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE));
}

/** Open a checkpoint and parse its metadata; the caller closes the file. */
async function openCheckpoint(dir: string): Promise<{ file: SafetensorsFile; path: string; meta: CheckpointMeta & { step: number }; runConfig: unknown }> {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new DataError(`no checkpoint to resume in ${dir} (expected ${path})`);
  const file = await SafetensorsFile.open(path);
  let meta: CheckpointMeta & { step: number };
  let runConfig: unknown;
  try {
    meta = JSON.parse(file.metadata.visionmix ?? 'null');
    runConfig = JSON.parse(file.metadata.config ?? 'null');
  } catch (err) {
    await file.close();
    throw new DataError(`checkpoint ${path} has unreadable metadata: ${(err as Error).message}`);
  }
  if (!meta || meta.format !== 'visionmix-checkpoint/1' || !runConfig) {
    await file.close();
    throw new DataError(`${path} is not a visionmix training checkpoint (metadata 'visionmix'/'config' missing or of another format)`);
  }
  return { file, path, meta, runConfig };
}

/** Only the run config saved with a checkpoint (reads the header, not the tensors). */
export async function loadCheckpointConfig(dir: string): Promise<unknown> {
  const { file, runConfig } = await openCheckpoint(dir);
  await file.close();
  return runConfig;
}

/** Read a checkpoint and the run config saved with it. */
export async function loadCheckpoint(dir: string): Promise<{ ckpt: Checkpoint; runConfig: unknown }> {
  const { file, meta, runConfig } = await openCheckpoint(dir);
  let all: Map<string, Tensor>;
  try {
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
  };
}
