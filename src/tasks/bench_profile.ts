/**
 * Where an inference graph's time goes: the ONNX nodes it is emitted as, and one profiled run's
 * kernel time by op type and by module part. Latency-bound models (many small ops) show it as many
 * kernels with a small mean time; compute-bound ones as a few op types taking most of the time.
 */
import type { VisionModel } from '../models/base.js';
import { traceModel } from '../models/trace.js';
import { onnxOpCounts, toModelProto } from '../graph/emit.js';
import { createNodeSession } from '../runtime/node.js';
import { lastRunProfile, type RunProfile } from '../runtime/node_profile.js';
import { randomTensor } from './bench.js';

export interface InferenceProfile extends RunProfile {
  /** ONNX nodes emitted (before ORT's fusions). */
  onnxNodes: number;
}

/**
 * The part of a model a node belongs to, from its module scope: the path below the innermost
 * block index, two levels deep (`blocks_c.3.attn.sr` → `attn.sr`, `stages.2.blocks.1.mlp.fc1` →
 * `mlp.fc1`); nodes of the block itself (residual adds, layer scale) are "block", the rest keep
 * their top-level module (`stem`, `head`, …).
 */
export function modulePart(scope: string): string {
  if (scope === '') return '(graph)';
  const parts = scope.split('.');
  let lastIndex = -1;
  parts.forEach((p, i) => {
    if (/^\d+$/.test(p)) lastIndex = i;
  });
  if (lastIndex < 0) return parts[0]!;
  const below = parts.slice(lastIndex + 1, lastIndex + 3);
  return below.length ? below.join('.') : 'block';
}

export async function profileInference(o: { model: VisionModel; size: number; threads: number; profilePrefix: string; warmup?: number }): Promise<InferenceProfile> {
  const m = o.model;
  m.eval();
  const shape = [1, m.defaultInputSize[0], o.size, o.size];
  const graph = traceModel(m, shape).graph;
  let onnxNodes = 0;
  for (const n of onnxOpCounts(graph).values()) onnxNodes += n;
  const session = await createNodeSession(toModelProto(graph), { threads: o.threads, label: `${m.name || m.family} forward`, profilePrefix: o.profilePrefix });
  try {
    const feeds = { input: randomTensor(shape, 0) };
    // Steady state first: the first runs grow ORT's memory arena.
    for (let i = 0; i < (o.warmup ?? 3); i++) await session.run(feeds);
    await session.run(feeds);
    session.endProfiling();
    return { onnxNodes, ...lastRunProfile(o.profilePrefix, modulePart) };
  } finally {
    await session.release();
  }
}
