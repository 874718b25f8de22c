/**
 * The layout of a training run folder on disk, in one place, so that the jobs that write it
 * (tasks/train.ts, tasks/demo.ts) and the ones that read it back (tasks/classify.ts) agree on the
 * names without joining paths themselves (`node:path` stays out of `tasks/`). The checkpoint files
 * are named in `checkpoint.ts`, which owns them.
 *
 * Every file-system failure here is a typed error naming the path: a run folder is the user's, and
 * "unexpected error" with a stack says nothing about which folder is wrong or why.
 */
import { mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ConfigError, DataError } from '../errors.js';
import { CHECKPOINT_FILE, PREV_CHECKPOINT_FILE } from './checkpoint.js';
import { alive, assertNotLocked, LOCK_FILE, type RunLock } from './run_lock.js';
import { errorReason, readTextIfExists } from './files.js';

export interface RunFolderFiles {
  /** run.json: the run's configuration (model, overrides, data, train config, threads). */
  config: string;
  /** metrics.jsonl: one record per step and per epoch. */
  metrics: string;
  /** model.safetensors: final weights, timm key names. */
  weights: string;
  /** model_ema.safetensors: the final EMA weights (runs with --ema). */
  emaWeights: string;
  /** curves.svg: loss and accuracy curves. */
  curves: string;
  /** report.md: the demo's report. */
  report: string;
  /** compiles.jsonl: one record per train-step graph compiled (batch shape, seconds, when), per process. */
  compiles: string;
  /** encoder.safetensors (FCMAE pretraining): the encoder under a classifier's names, to fine-tune from. */
  encoder: string;
  /** reconstructions_epoch<N>.png (FCMAE pretraining): what the model fills in after epoch N. */
  reconstructions(epoch: number): string;
}

/** The paths of the files in the run folder `dir` (nothing is checked or created). */
export function runFolderFiles(dir: string): RunFolderFiles {
  return {
    config: join(dir, 'run.json'),
    metrics: join(dir, 'metrics.jsonl'),
    weights: join(dir, 'model.safetensors'),
    emaWeights: join(dir, 'model_ema.safetensors'),
    curves: join(dir, 'curves.svg'),
    report: join(dir, 'report.md'),
    encoder: join(dir, 'encoder.safetensors'),
    compiles: join(dir, 'compiles.jsonl'),
    reconstructions: (epoch) => join(dir, `reconstructions_epoch${String(epoch).padStart(3, '0')}.png`),
  };
}


/** The files whose presence means "a run lives here": any of them makes `--out` refuse the folder. */
function runFileNames(): string[] {
  const f = runFolderFiles('');
  return [f.config, f.metrics, f.weights, f.emaWeights, f.encoder, CHECKPOINT_FILE, PREV_CHECKPOINT_FILE];
}

/**
 * Check that `dir` can become a new run folder, without creating anything: it is a folder or does
 * not exist yet, no file stands where a parent folder must be, and it holds no run (run.json,
 * metrics.jsonl, model.safetensors, model_ema.safetensors, encoder.safetensors or a checkpoint — a finished run whose checkpoint was deleted and
 * a run killed before its first checkpoint count too), and no other job has it locked. `flag` names
 * the option in messages; `holding` is the caller's own lock on `dir`, if it has taken it.
 */
export function checkNewRunFolder(dir: string, flag = '--out', holding?: RunLock): void {
  const abs = resolve(dir);
  for (let p = abs; ; p = dirname(p)) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: not there yet; ENOTDIR: a file further up (found on a later round).
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(p) !== p) continue;
      throw new ConfigError(`${flag} ${dir}: cannot access ${p} (${errorReason(err)})`);
    }
    if (!isDir)
      throw new ConfigError(
        p === abs ? `${flag} ${dir} is a file, not a folder; choose a folder for the run` : `${flag} ${dir}: ${p} is a file, so no folder can be created under it`,
      );
    if (p !== abs) return; // the nearest existing ancestor is a folder: dir will be created in it
    break;
  }
  // A job working here says more than the files it has written so far (unless the lock is ours).
  if (!holding) assertNotLocked(abs);
  const present = runFileNames().filter((name) => {
    try {
      statSync(join(abs, name));
      return true;
    } catch {
      return false;
    }
  });
  if (present.length > 0)
    throw new ConfigError(
      `${flag} ${dir} already holds a training run; continue it with --resume ${dir} or choose another ${flag} (found ${present.join(', ')})`,
    );
}

/** `path` with its existing part resolved through symbolic links (the part not created yet appended as is). */
function realPathSoFar(path: string): string {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      return join(realpathSync(p), ...missing.reverse());
    } catch {
      if (dirname(p) === p) return resolve(path);
      missing.push(basename(p));
    }
  }
}

/**
 * Refuse a run folder inside (or equal to) an image-folder data set: the run's own files would be
 * listed as part of the data (`class folder …/run holds no images`), so the finished run could be
 * neither resumed nor evaluated. Links are followed on both sides. ConfigError naming both paths.
 */
export function checkOutsideData(dir: string, data: string, flag = '--out'): void {
  const out = realPathSoFar(dir);
  const root = realPathSoFar(data);
  if (out === root || out.startsWith(root.endsWith(sep) ? root : root + sep))
    throw new ConfigError(
      `${flag} ${dir} is inside --data ${data}: the run's files would be read as part of the image folder, and the run could then ` +
        `neither be resumed nor evaluated; choose a ${flag} folder outside ${data}`,
    );
}

/**
 * Create the folder `dir` and its missing parents, one level at a time: Node's recursive mkdir
 * never returns on some paths (`/proc/x` loops forever), and one level at a time also tells which
 * level failed. Errors are ConfigErrors naming `flag`, the folder and the reason.
 */
export function createRunFolder(dir: string, flag = '--out'): void {
  checkNewRunFolder(dir, flag);
  const missing: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    try {
      statSync(p);
      break;
    } catch {
      missing.unshift(p);
      if (dirname(p) === p) break;
    }
  }
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(p).isDirectory()) continue; // another job made it meanwhile
      const why =
        code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'ENOENT'
            ? 'the parent folder does not accept new folders (a virtual file system such as /proc?)'
            : code === 'EROFS'
              ? 'read-only file system'
              : code === 'ENOSPC'
                ? 'no space left on the device'
                : errorReason(err);
      throw new ConfigError(`${flag} ${dir}: cannot create folder ${p}: ${why} (${code ?? 'error'})`);
    }
  }
}

/** Write run.json atomically (temp file + rename): a crash leaves the old one or the new one. */
export function writeRunConfig(dir: string, runConfig: unknown): void {
  const path = runFolderFiles(dir).config;
  const tmp = join(dir, `.run.json.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    writeFileSync(tmp, JSON.stringify(runConfig, null, 2) + '\n');
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* not created */
    }
    throw new ConfigError(`cannot write ${path} (${errorReason(err)})`);
  }
}

/**
 * The parsed run.json of `dir`, or null when there is none. Unreadable or invalid JSON (an empty
 * file, a truncated one) → DataError naming the file. The caller checks the fields it needs.
 */
export function readRunConfig(dir: string): unknown {
  const path = runFolderFiles(dir).config;
  const text = readTextIfExists(path);
  if (text === null) return null;
  if (text.trim() === '') throw new DataError(`${path} is empty; it should hold the run's configuration (JSON)`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new DataError(`${path} is not valid JSON (${(err as Error).message}); the file is corrupt`);
  }
}

/**
 * Remove the temp files that killed writers left in `dir` (`.checkpoint.safetensors.<pid>.<id>.tmp`,
 * `.run.json.<pid>.<id>.tmp`, a lock's `.tmp`/`.stale.` files). Only files of processes that no
 * longer exist are touched, and only the lock holder calls this, so no write in progress is lost.
 * Returns the names removed.
 */
export function removeStaleTempFiles(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^\..+\.(\d+)\.[0-9a-z]+\.tmp$/.exec(name) ?? (name.startsWith(`${LOCK_FILE}.stale.`) ? /\.stale\.(\d+)\./.exec(name) : null);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      /* gone already */
    }
  }
  return removed;
}
