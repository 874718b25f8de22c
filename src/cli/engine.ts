/** The CLI runs on the process's shared Node engine (the library entry's too; created on first use). */
import type { Engine } from '../tasks/engine.js';
import { nodeEngine as sharedEngine } from '../tasks/node_engine.js';
import { warningSink } from './warnings.js';

/** The shared engine, its warnings printed as the CLI prints them. */
export function nodeEngine(): Engine {
  const engine = sharedEngine();
  engine.onWarning(warningSink());
  return engine;
}
