/**
 * What this process runs on: the core count (which sets the default thread count), the CPU and OS,
 * and the Node and onnxruntime-node versions. Node-only (`node:os`, onnxruntime-node), so it lives
 * in `runtime/`: tasks ask here instead of importing them, and a browser entry can bring its own
 * answers (e.g. `navigator.hardwareConcurrency`) without touching the tasks.
 */
// First: sets ORT_DISABLE_TELEMETRY before onnxruntime-node loads.
import './node_env.js';
import { availableParallelism, arch, cpus, loadavg, platform } from 'node:os';
import { env as ortNodeEnv } from 'onnxruntime-node';

/** Intra-op threads when the caller does not say: every core the OS offers this process (≥ 1). */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

export function runtimeVersions(): { node: string; onnxruntimeNode: string } {
  return { node: process.version, onnxruntimeNode: ortNodeEnv.versions.node ?? 'unknown' };
}

/** The machine a benchmark ran on, printed next to its figures so that they can be compared fairly. */
export interface MachineInfo {
  cpu: string;
  /** Logical cores the OS offers this process. */
  cores: number;
  platform: string;
  node: string;
  onnxruntimeNode: string;
  /** 1-minute load average at the time of the call: > 0.5 on 2 cores means someone else is busy. */
  load1: number;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() || 'unknown CPU',
    cores: availableParallelism(),
    platform: `${platform()} ${arch()}`,
    ...runtimeVersions(),
    load1: loadavg()[0] ?? 0,
  };
}
