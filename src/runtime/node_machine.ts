/**
 * What this process runs on: the core count (which sets the default thread count), the CPU and OS,
 * and the Node and onnxruntime-node versions. Node-only (`node:os`, onnxruntime-node), so it lives
 * in `runtime/`: tasks ask here instead of importing them, and a browser entry can bring its own
 * answers (e.g. `navigator.hardwareConcurrency`) without touching the tasks.
 */
// First: sets ORT_DISABLE_TELEMETRY before onnxruntime-node loads.
import './node_env.js';
import { readFileSync } from 'node:fs';
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
  /** The CPU's int8 dot-product instructions, which bound an int8 GEMM's speed (`int8DotProduct`). */
  int8Dot: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() || 'unknown CPU',
    cores: availableParallelism(),
    platform: `${platform()} ${arch()}`,
    ...runtimeVersions(),
    load1: loadavg()[0] ?? 0,
    int8Dot: int8DotProduct(),
  };
}

function readCpuinfo(): string | null {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
}

function cpuFlags(info: string): Set<string> {
  return new Set((/^(?:flags|Features)\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
}

/**
 * The int8 dot-product instructions /proc/cpuinfo flags: with VNNI (AVX-512 or AVX) one instruction
 * multiplies u8·s8 and accumulates in int32, so an int8 GEMM can run at twice fp32's rate or more;
 * without (AVX2, AVX-512F alone) products are summed pairwise in saturating int16 and an int8 GEMM
 * gains much less. `cpuinfo`: its text (tests), instead of reading the file.
 */
export function int8DotProduct(cpuinfo?: string): string {
  const info = cpuinfo ?? readCpuinfo();
  if (info === null) return 'unknown (no /proc/cpuinfo)';
  const flags = cpuFlags(info);
  if (flags.has('avx512_vnni')) return 'AVX-512 VNNI';
  if (flags.has('avx_vnni')) return 'AVX-VNNI';
  if (flags.has('asimddp')) return 'Arm dot product (SDOT/UDOT)';
  return flags.has('avx2') ? 'none: AVX2 sums u8·s8 products pairwise in saturating int16' : 'none flagged';
}

/** The fp32 arithmetic ceiling of the cores a benchmark uses, from what the CPU reports of itself. */
export interface VectorRoofline {
  gflops: number;
  /** How it was computed, for the report: cores × pipes × lanes × 2 × clock. */
  how: string;
}

/**
 * cores × FMA pipes × fp32 lanes × 2 FLOP (one fused multiply-add) × clock, read from
 * /proc/cpuinfo: the lanes from the widest vector extension flagged (AVX-512F 16, AVX/AVX2 8, else 4),
 * the clock from "cpu MHz" (the nominal clock in a VM; turbo can exceed it, which is why a measured
 * GEMM may beat this figure). The number of FMA pipes is not reported anywhere: we assume 2 full-width
 * pipes per core (Intel since Haswell, AMD since Zen 2). Null where /proc/cpuinfo is missing (not
 * Linux) or names no clock. `cpuinfo`: its text (tests), instead of reading the file.
 */
export function vectorRoofline(threads: number, cpuinfo?: string): VectorRoofline | null {
  const info = cpuinfo ?? readCpuinfo();
  if (info === null) return null;
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(info)?.[1]);
  if (!(mhz > 0)) return null;
  const flags = cpuFlags(info);
  const [lanes, ext] = flags.has('avx512f') ? [16, 'AVX-512'] : flags.has('avx2') || flags.has('avx') ? [8, 'AVX2'] : [4, '128-bit SIMD'];
  const flopsPerLane = flags.has('fma') || flags.has('avx512f') ? 2 : 1;
  const pipes = 2;
  const gflops = (threads * pipes * lanes * flopsPerLane * mhz) / 1000;
  return { gflops, how: `${threads} cores × ${pipes} FMA pipes (assumed) × ${lanes} fp32 lanes (${ext}) × ${flopsPerLane} FLOP × ${(mhz / 1000).toFixed(2)} GHz (cpuinfo)` };
}
