/**
 * Crash-test hooks: with an environment variable set, a writer announces on stderr that it is
 * half-way through a write and then waits, so that a test can SIGKILL the process at exactly that
 * point. Unset (always, outside tests), each hook is one environment lookup.
 *
 *   VISIONMIX_FAULT_PAUSE_WRITE=<path part>[#k]   the k-th safetensors write (default 1st) whose
 *                                                 target path contains <path part>, after half its data
 *   VISIONMIX_FAULT_PAUSE_APPEND=<path part>[#k]  the k-th metrics.jsonl append to a matching path,
 *                                                 after half of the line
 */
import { writeSync } from 'node:fs';

const seen = new Map<string, number>();

/** True when this write is the one the variable `name` asks to pause (counts matching writes). */
function due(name: string, path: string): boolean {
  const spec = process.env[name];
  if (!spec) return false;
  const hash = spec.lastIndexOf('#');
  const [part, nth] = hash > 0 ? [spec.slice(0, hash), Number(spec.slice(hash + 1))] : [spec, 1];
  if (!path.includes(part)) return false;
  const n = (seen.get(name) ?? 0) + 1;
  seen.set(name, n);
  return n === nth;
}

/** Await this between two chunks of an asynchronous write. */
export async function faultPauseWrite(path: string): Promise<void> {
  if (!due('VISIONMIX_FAULT_PAUSE_WRITE', path)) return;
  writeSync(2, `visionmix-fault: paused mid-write of ${path}\n`);
  await new Promise((r) => setTimeout(r, 60_000));
}

/** Call this between two parts of a synchronous append; blocks the thread (the test kills it). */
export function faultPauseAppend(path: string): void {
  if (!due('VISIONMIX_FAULT_PAUSE_APPEND', path)) return;
  writeSync(2, `visionmix-fault: paused mid-append to ${path}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}
