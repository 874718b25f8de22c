/**
 * Environment that onnxruntime-node reads when it loads, set before it does: this module is
 * imported ahead of `onnxruntime-node` by every module that imports it (runtime/node.ts,
 * runtime/node_machine.ts) and first by the Node entry. ONNX Runtime's bundled telemetry (1DS)
 * otherwise leaves an empty /tmp/mat-debug-<pid>.log behind every process that runs a model.
 * A value the user set (ORT_DISABLE_TELEMETRY=0 included) is kept. The CLI (bin/visionmix.js)
 * does the same for itself.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export {};
