/**
 * An exclusive lock on a run folder, so that two processes (or two jobs in one process) never
 * write the same run: `DIR/.visionmix.lock` holds the owner's pid, host and start time.
 *
 * Why not proper-lockfile (the usual npm choice): its locks carry no owner and go stale by age —
 * the owner must touch them on a timer, and after a crash the next run has to wait out the stale
 * period (10 s by default) before it may take over. A killed training run is the common case here
 * (SIGKILL, OOM killer, a closed laptop), and `--resume` should continue at once; with the owner's
 * pid in the lock, "is that process still alive?" is answered immediately and exactly on one host.
 *
 * Taking the lock is atomic: the content is written to a private temp file which is then hard-linked
 * to the lock name (link fails if the name exists), so a reader never sees a half-written lock.
 * A lock whose pid is dead (same host) is stale: it is moved aside by an atomic rename, checked to
 * be the very lock judged stale, and removed; then the link is tried again.
 */
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { errorReason } from './files.js';

export const LOCK_FILE = '.visionmix.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
  /** What holds it (`train`, `train --resume`, `demo`). */
  job: string;
  /** Random, so that a lock can tell itself from another one with the same pid (pid reuse). */
  token: string;
}

export interface RunLock {
  readonly path: string;
  /** Remove the lock if it is still ours. Safe to call twice. */
  release(): void;
}

/** Folders locked by this process: a second job here must not take over our own lock as "stale". */
const heldHere = new Set<string>();

function describe(o: LockOwner): string {
  return `pid ${o.pid} on ${o.host}, ${o.job}, since ${o.since}`;
}

function readOwner(path: string): LockOwner | null | 'missing' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw new ConfigError(`run folder lock ${path} cannot be read (${errorReason(err)})`);
  }
  try {
    const o = JSON.parse(text) as LockOwner;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/** True when the process `pid` exists on this host (EPERM: it exists but belongs to someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(o: LockOwner, path: string): boolean {
  if (o.host !== hostname()) return false; // another machine (shared disk): we cannot know
  if (o.pid === process.pid) return !heldHere.has(path); // a previous process with our pid (containers)
  return !alive(o.pid);
}

function inUse(dir: string, path: string, o: LockOwner | null): ConfigError {
  if (!o)
    return new ConfigError(
      `run folder ${dir} has a lock file ${path} that is not a visionmix lock (unreadable or not a pid/host record). ` +
        `If no visionmix job is using ${dir}, delete ${path} and try again.`,
    );
  // A live pid on this host may still not be ours: after a crash or a reboot the number can be
  // reused by an unrelated process. That cannot be told for sure here, so say how to check.
  const hint =
    o.host !== hostname()
      ? ` If that job is gone, delete ${path}.`
      : ` If pid ${o.pid} is not a visionmix job (check with: ps -p ${o.pid} -o pid,args), the lock is stale — its job died and the pid was reused: delete ${path} and try again.`;
  return new ConfigError(`run folder ${dir} is in use by another visionmix job (${describe(o)}); wait for it to finish or use another folder.${hint}`);
}

/**
 * Throw the "in use" ConfigError when a live job holds `dir` (checked before a new run is refused
 * for the files it has written: "in use by pid N" is the more useful answer). No lock, or a stale
 * one: nothing happens.
 */
export function assertNotLocked(dir: string): void {
  const path = join(resolve(dir), LOCK_FILE);
  const found = readOwner(path);
  if (found === 'missing') return;
  if (found === null || !isStale(found, path)) throw inUse(dir, path, found);
}

/**
 * Lock the existing folder `dir` for `job`, or throw a ConfigError naming the process that holds it.
 * Stale locks (their process is gone) are taken over.
 */
export function lockRunFolder(dir: string, job: string): RunLock {
  const path = join(resolve(dir), LOCK_FILE);
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    job,
    token: Math.random().toString(36).slice(2) + Date.now().toString(36),
  };
  const text = JSON.stringify(owner) + '\n';
  const tmp = `${path}.${process.pid}.${owner.token}.tmp`;
  try {
    writeFileSync(tmp, text, { flag: 'wx' });
  } catch (err) {
    throw new ConfigError(`cannot write in run folder ${dir} (${errorReason(err)}): ${tmp}`);
  }
  try {
    // Two rounds at most: the first may find a stale lock and clear it.
    for (let round = 0; round < 2; round++) {
      try {
        linkSync(tmp, path);
        heldHere.add(path);
        return { path, release: () => release(path, owner.token) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new ConfigError(`cannot create the lock ${path} (${errorReason(err)})`);
        }
      }
      const found = readOwner(path);
      if (found === 'missing') continue; // released between our link and read: try again
      if (found === null || !isStale(found, path)) throw inUse(dir, path, found === null ? null : found);
      // Move the stale lock aside atomically; only one contender's rename of it can succeed.
      const aside = `${path}.stale.${process.pid}.${owner.token}`;
      try {
        renameSync(path, aside);
      } catch {
        continue; // someone else moved it first: look again
      }
      const moved = readOwner(aside);
      if (moved !== 'missing' && moved !== null && moved.token !== found.token) {
        // A live lock was created between our read and rename: put it back and give up.
        try {
          linkSync(aside, path);
        } catch {
          /* a newer lock took the name: it is theirs either way */
        }
        unlinkSync(aside);
        throw inUse(dir, path, moved);
      }
      unlinkSync(aside);
    }
    throw new ConfigError(`run folder ${dir}: could not take its lock ${path} (other jobs were taking it at the same moment); try again`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
}

function release(path: string, token: string): void {
  if (!heldHere.has(path)) return;
  const o = readOwner(path);
  // Never delete a lock that is not ours (someone removed ours by hand and locked the folder).
  if (o !== 'missing' && o !== null && o.token === token) {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
  heldHere.delete(path);
}
