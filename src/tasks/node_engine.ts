/**
 * The one engine of a Node process: onnxruntime-node, weights read from the file system. Created on
 * first use (importing the library starts no runtime), and shared by the library entry's
 * `createModel` and the CLI, so a process never holds two sets of session caches.
 */
import { readWeightsSource } from '../io/weights_source.js';
import { nodeRuntime, type NodeDevice } from '../runtime/node.js';
import { Engine, type EngineOptions } from './engine.js';

export interface NodeEngineOptions extends EngineOptions {
  /** 'cpu' (default), 'webgpu' (onnxruntime-node's WebGPU EP; an error says why when there is no adapter) or 'auto'. */
  device?: NodeDevice;
}

let shared: Engine | null = null;

/** A new engine on onnxruntime-node (its own session caches, e.g. with another `sessionCacheSize`). */
export function createNodeEngine(opts: NodeEngineOptions = {}): Engine {
  const { device, ...engine } = opts;
  return new Engine(nodeRuntime(readWeightsSource, { device }), engine);
}

/** The process's shared engine, created on first call. */
export function nodeEngine(): Engine {
  shared ??= createNodeEngine();
  return shared;
}
