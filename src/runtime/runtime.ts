/**
 * What an entry point injects into the engine: the ONNX Runtime module and the environment's few
 * platform facts. Node passes onnxruntime-node and the file system (runtime/node.ts); a browser entry
 * passes onnxruntime-web and fetch. Nothing here is installed globally: each engine holds its own.
 */
import type { Target } from '../graph/emit.js';
import type { Tensor } from '../tensor.js';
import type { ReadWeightsOptions } from '../util/weights_options.js';
import type { OrtModule, SessionOptions } from './session.js';

export interface Runtime {
  /** For messages: 'onnxruntime-node 1.30.0', 'onnxruntime-web (wasm)'. */
  readonly name: string;
  readonly ort: OrtModule;
  /** Execution providers sessions ask for, in order of preference. */
  readonly executionProviders: readonly string[];
  /** Cores this process may use: the default and the upper bound of `threads`. */
  maxThreads(): number;
  /**
   * Memory of the machine in bytes, where the platform can tell: models and batches that could not
   * fit are refused before anything is allocated. Absent: only the fixed size limits apply.
   */
  memoryBytes?(): number;
  /** A state dict from a weights source (a path or `hf:org/repo` in Node, a URL in the browser, …). */
  readWeights(source: string, opts?: ReadWeightsOptions): Promise<Map<string, Tensor>>;
  /** Show a warning to the user (Node: process.emitWarning; browser: console.warn). */
  warn(message: string): void;
  /** Extra session options the platform needs (memory arena, …). */
  readonly sessionDefaults?: Partial<SessionOptions>;
  /** What graphs are emitted for (graph/emit.ts `Target`): 'webgpu' lowers them for its EP; default 'cpu'. */
  emitTarget?(): Promise<Target>;
  /**
   * ONNX Runtime's NCHWc block size where graphs run on onnxruntime-node's CPU EP (graph/emit.ts
   * `EmitOptions.nchwcBlock`); absent or 0 elsewhere (browsers, the WebGPU EP).
   */
  nchwcBlock?(): Promise<number>;
}
