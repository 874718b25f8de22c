/**
 * The op set, by family. Each op is defined once, in its family's file: shape rule (`infer`), ONNX
 * emission (`emit`) and VJP rule (`vjp`) side by side. The exported functions are the tracing API
 * used by nn/, models/ and train/ (`import * as F from '../graph/ops/index.js'`).
 */
export { scalar, scalarTensor, constant, unbroadcast, type Operand } from './core.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './matmul.js';
export * from './layout.js';
export * from './norm.js';
export * from './conv.js';
export * from './conv_transpose.js';
export * from './sparse_conv.js';
export * from './pool.js';
export * from './gather.js';
export * from './resize.js';
export type { VjpArgs } from '../graph.js';
