/** The compiler: symbolic values, the op set, autodiff and ONNX serialisation. */
export { Graph, Value, currentGraph, tracing, withGraph, defineOp, registeredOps } from './graph.js';
export type { Node, OpDef, RegisteredOp, Shape, Binding, RandomDraw } from './graph.js';
export * as F from './ops/index.js';
export { gradients } from './autodiff.js';
export { toModelProto, liveSet, Emitter, attr } from './emit.js';
export type { EmitOptions, Attr } from './emit.js';
