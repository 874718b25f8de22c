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
  args?: { op_name?: string; mem_in_use_peak?: string; mem_arena_held?: string };
}

function summarise(times: Map<string, { ms: number; count: number }>, total: number): OpTime[] {
  return [...times.entries()].map(([op, t]) => ({ op, ms: t.ms, count: t.count, share: t.ms / total })).sort((a, b) => b.ms - a.ms);
}

/** One kernel run: the ONNX node's name (`scope/OpType_i`), its op type and its time. */
export interface KernelTime {
  node: string;
  op: string;
  ms: number;
}

/**
 * ORT's CPU memory arena over a session's runs (from the profile's kernel events): the most bytes its
 * tensors used at once, and what the arena held from the system — more, as it grows in
 * power-of-two regions and keeps them.
 */
export interface ArenaMemory {
  inUsePeakBytes: number;
  heldBytes: number;
}

/** The last `model_run` recorded under `prefix`: its kernels in run order, and the arena's memory (null without arena figures); deletes the file. */
export function lastRun(prefix: string): { kernels: KernelTime[]; arena: ArenaMemory | null } {
  const dir = dirname(prefix);
  const stem = basename(prefix);
  const files = readdirSync(dir).filter((f) => f.startsWith(stem) && f.endsWith('.json')).sort();
  const file = files[files.length - 1];
  if (!file) return { kernels: [], arena: null };
  const path = join(dir, file);
  const events = JSON.parse(readFileSync(path, 'utf8')) as ProfileEvent[];
  unlinkSync(path);
  const runs = events.filter((e) => e.name === 'model_run');
  const last = runs[runs.length - 1];
  if (!last) return { kernels: [], arena: null };
  const inRun = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= last.ts && e.ts <= last.ts + last.dur);
  const kernels = inRun.map((e) => ({ node: e.name.slice(0, -'_kernel_time'.length), op: e.args?.op_name ?? '?', ms: e.dur / 1000 }));
  const most = (key: 'mem_in_use_peak' | 'mem_arena_held') => Math.max(0, ...inRun.map((e) => Number(e.args?.[key] ?? 0)));
  const arena = inRun.some((e) => e.args?.mem_in_use_peak !== undefined) ? { inUsePeakBytes: most('mem_in_use_peak'), heldBytes: most('mem_arena_held') } : null;
  return { kernels, arena };
}

/** Kernels of the last `model_run` recorded under `prefix`, in run order; deletes the file. */
export function lastRunKernels(prefix: string): KernelTime[] {
  return lastRun(prefix).kernels;
}

/** Name of nodes ORT renamed or inserted itself (see `scopeOf`). */
export const ORT_NODES = '(renamed or inserted by ORT)';

/**
 * The scope of a kernel's node, or null for a node without one. Our scopes use dots; ORT appends
 * "/…" suffixes when it fuses, and names nodes it inserts itself (layout transposes, reorders) and
 * some it rewrites (NCHWc convs) without any scope.
 */
export function scopeOf(node: string): string | null {
  const slash = node.indexOf('/');
  return slash < 0 ? null : node.slice(0, slash);
}

/** Kernel time grouped by `key` (largest first), shares of the kernels' total. */
export function groupKernels(kernels: readonly KernelTime[], key: (k: KernelTime) => string): OpTime[] {
  const times = new Map<string, { ms: number; count: number }>();
  let total = 0;
  for (const k of kernels) {
    const t = times.get(key(k)) ?? { ms: 0, count: 0 };
    t.ms += k.ms;
    t.count++;
    times.set(key(k), t);
    total += k.ms;
  }
  return summarise(times, total);
}

/**
 * Kernel time of the last `model_run` recorded under `prefix`, by op type and by module part;
 * deletes the file. Node names are `scope/OpType_i` (our emitter's; fused nodes keep the first
 * node's name), so `moduleOf(scope)` groups them by what the model code calls that part.
 */
export function lastRunProfile(prefix: string, moduleOf: (scope: string) => string = (s) => s): RunProfile {
  return kernelProfile(lastRunKernels(prefix), moduleOf);
}

/** Kernels by op type and by module part (`moduleOf(scope)`; nodes without a scope as ORT_NODES). */
export function kernelProfile(kernels: readonly KernelTime[], moduleOf: (scope: string) => string = (s) => s): RunProfile {
  const scoped = (k: KernelTime) => {
    const scope = scopeOf(k.node);
    return scope === null ? ORT_NODES : moduleOf(scope);
  };
  return {
    byOp: groupKernels(kernels, (k) => k.op),
    byModule: groupKernels(kernels, scoped),
    kernels: kernels.length,
    totalMs: kernels.reduce((a, k) => a + k.ms, 0),
  };
}
