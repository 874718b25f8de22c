/**
 * The one engine of a Node process: onnxruntime-node, weights read from the file system. Created on
 * first use (importing the library starts no runtime), and shared by the library entry's
 * `createModel` and the CLI, so a process never holds two sets of session caches.
 */
import { readWeightsSource } from '../io/weights_source.js';
import { nodeRuntime } from '../runtime/node.js';
import { Engine, type EngineOptions } from './engine.js';

let shared: Engine | null = null;

/** A new engine on onnxruntime-node (its own session caches, e.g. with another `sessionCacheSize`). */
export function createNodeEngine(opts: EngineOptions = {}): Engine {
  return new Engine(nodeRuntime(readWeightsSource), opts);
}

/** The process's shared engine, created on first call. */
export function nodeEngine(): Engine {
  shared ??= createNodeEngine();
  return shared;
}
