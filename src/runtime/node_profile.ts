/**
 * ORT profiles, summarised: where a graph's time goes, by op type, for its last run. ORT writes the
 * profile as JSON next to `prefix` when profiling ends; we read the newest such file.
 */
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface OpTime {
  /** Op type, or module part (see lastRunProfile). */
  op: string;
  ms: number;
  share: number;
  /** Kernels run. */
  count: number;
}

/** One run's kernel time, by op type and by the module part of the node names. */
export interface RunProfile {
  byOp: OpTime[];
  byModule: OpTime[];
  /** Kernels run (nodes after ORT's fusions). */
  kernels: number;
  totalMs: number;
}

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

function summarise(times: Map<string, { ms: number; count: number }>, total: number): OpTime[] {
  return [...times.entries()].map(([op, t]) => ({ op, ms: t.ms, count: t.count, share: t.ms / total })).sort((a, b) => b.ms - a.ms);
}

/**
 * Kernel time of the last `model_run` recorded under `prefix`, by op type and by module part;
 * deletes the file. Node names are `scope/OpType_i` (our emitter's; fused nodes keep the first
 * node's name), so `moduleOf(scope)` groups them by what the model code calls that part.
 */
export function lastRunProfile(prefix: string, moduleOf: (scope: string) => string = (s) => s): RunProfile {
  const dir = dirname(prefix);
  const stem = basename(prefix);
  const files = readdirSync(dir).filter((f) => f.startsWith(stem) && f.endsWith('.json')).sort();
  const file = files[files.length - 1];
  const empty: RunProfile = { byOp: [], byModule: [], kernels: 0, totalMs: 0 };
  if (!file) return empty;
  const path = join(dir, file);
  const events = JSON.parse(readFileSync(path, 'utf8')) as ProfileEvent[];
  unlinkSync(path);
  const runs = events.filter((e) => e.name === 'model_run');
  const last = runs[runs.length - 1];
  if (!last) return empty;
  const byOp = new Map<string, { ms: number; count: number }>();
  const byModule = new Map<string, { ms: number; count: number }>();
  const add = (m: Map<string, { ms: number; count: number }>, key: string, ms: number) => {
    const t = m.get(key) ?? { ms: 0, count: 0 };
    t.ms += ms;
    t.count++;
    m.set(key, t);
  };
  let total = 0;
  let kernels = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < last.ts || e.ts > last.ts + last.dur) continue;
    const ms = e.dur / 1000;
    const node = e.name.slice(0, -'_kernel_time'.length);
    // Our scopes use dots; ORT appends "/…" suffixes when it fuses, and names nodes it inserts
    // itself (layout transposes, reorders) and some it rewrites (NCHWc convs) without any scope.
    const slash = node.indexOf('/');
    add(byOp, e.args?.op_name ?? '?', ms);
    add(byModule, slash < 0 ? '(renamed or inserted by ORT)' : moduleOf(node.slice(0, slash)), ms);
    total += ms;
    kernels++;
  }
  return { byOp: summarise(byOp, total), byModule: summarise(byModule, total), kernels, totalMs: total };
}

/** Kernel time per op type in the last `model_run` recorded under `prefix`; deletes the file. */
export function lastRunOpTimes(prefix: string): OpTime[] {
  return lastRunProfile(prefix).byOp;
}
