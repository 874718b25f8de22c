/** The CLI's engine: onnxruntime-node, weights from the file system (created on first use). */
import { readWeightsSource } from '../io/weights_source.js';
import { nodeRuntime } from '../runtime/node.js';
import { Engine } from '../tasks/engine.js';

let engine: Engine | null = null;

export function nodeEngine(): Engine {
  engine ??= new Engine(nodeRuntime(readWeightsSource));
  return engine;
}
