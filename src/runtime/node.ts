/**
 * The Node runtime: onnxruntime-node and the machine's core count. The Node entry (src/index.ts)
 * completes it with a weights reader from io/ (runtime/ does not read files) and hands it to its
 * engine.
 */
// First: sets ORT_DISABLE_TELEMETRY before onnxruntime-node loads.
import './node_env.js';
import { totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { defaultThreads, runtimeVersions } from './node_machine.js';
import type { Runtime } from './runtime.js';
import { Session, type OrtModule, type SessionOptions } from './session.js';

export const nodeOrt: OrtModule = ort as unknown as OrtModule;

export function nodeRuntime(readWeights: Runtime['readWeights']): Runtime {
  return {
    name: `onnxruntime-node ${runtimeVersions().onnxruntimeNode}`,
    ort: nodeOrt,
    executionProviders: ['cpu'],
    maxThreads: defaultThreads,
    memoryBytes: totalmem,
    readWeights,
    warn: (message) => process.emitWarning(message, { code: 'VISIONMIX' }),
  };
}

/** A session on onnxruntime-node (tests, benchmarks and tools that compile graphs themselves); `model` may be a file path. */
export function createNodeSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<Session> {
  return Session.create(nodeOrt, model, opts);
}
