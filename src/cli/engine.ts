/** The CLI runs on the process's shared Node engine (the library entry's too; created on first use). */
export { nodeEngine } from '../tasks/node_engine.js';
