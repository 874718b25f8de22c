/**
 * The demo page's training worker (bundled with onnxruntime-web by `npm run web`): visionmix/web-train's
 * `serveTrainWorker` over visionmix/web's `createModel`, on wasm with the runtime's files under /ort/.
 */
import * as ort from 'onnxruntime-web/wasm';
import { createEngine, createModel } from '../../src/web.js';
import { serveTrainWorker } from '../../src/web_train.js';

ort.env.wasm.wasmPaths = '/ort/';
const engine = createEngine({ device: 'wasm', numThreads: 1, loadOrt: async () => ort as never });
serveTrainWorker((spec, options) => createModel(spec, { ...(options as object), engine }));
