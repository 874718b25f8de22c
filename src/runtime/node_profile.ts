/**
 * ORT profiles, summarised: where a graph's time goes, by op type, for its last run. ORT writes the
 * profile as JSON next to `prefix` when profiling ends; we read the newest such file.
 */
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface OpTime {
  op: string;
  ms: number;
  share: number;
}

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

/** Kernel time per op type in the last `model_run` recorded under `prefix`; deletes the file. */
export function lastRunOpTimes(prefix: string): OpTime[] {
  const dir = dirname(prefix);
  const stem = basename(prefix);
  const files = readdirSync(dir).filter((f) => f.startsWith(stem) && f.endsWith('.json')).sort();
  const file = files[files.length - 1];
  if (!file) return [];
  const path = join(dir, file);
  const events = JSON.parse(readFileSync(path, 'utf8')) as ProfileEvent[];
  unlinkSync(path);
  const runs = events.filter((e) => e.name === 'model_run');
  const last = runs[runs.length - 1];
  if (!last) return [];
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < last.ts || e.ts > last.ts + last.dur) continue;
    const op = e.args?.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur / 1000);
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  return [...byOp.entries()].map(([op, ms]) => ({ op, ms, share: ms / total })).sort((a, b) => b.ms - a.ms);
}
