/**
 * Parameter and multiply-accumulate counts read off a traced graph (not a hand table), so they stay
 * true for custom configs and every input size.
 */
import type { Graph } from '../graph/graph.js';

/** Elements of every parameter the graph reads (buffers such as BatchNorm running statistics excluded). */
export function countParams(g: Graph): number {
  let n = 0;
  for (const [v, b] of g.bindings) if (b.kind === 'param' && b.source.trainable !== false) n += v.size;
  return n;
}

/**
 * Multiply-accumulates of the convolutions and matrix products (the papers' "FLOPs"). Elementwise
 * ops, norms and pooling are not counted, as in the papers' tables.
 */
export function countMacs(g: Graph): number {
  let macs = 0;
  for (const n of g.nodes) {
    const out = n.outputs[0]!;
    switch (n.op.type) {
      case 'Conv':
      case 'TiledDepthwiseConv': {
        const w = n.inputs[1]!;
        macs += out.size * w.shape[1]! * w.shape[2]! * w.shape[3]!;
        break;
      }
      case 'ConvTranspose': {
        const x = n.inputs[0]!;
        const w = n.inputs[1]!;
        macs += x.size * w.shape[1]! * w.shape[2]! * w.shape[3]!;
        break;
      }
      case 'MatMul': {
        const a = n.inputs[0]!;
        macs += out.size * a.shape[a.shape.length - 1]!;
        break;
      }
    }
  }
  return macs;
}

