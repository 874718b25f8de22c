/**
 * Reverse-mode automatic differentiation over a traced graph. Walks the recorded nodes backwards
 * from the loss, calling each op's VJP rule, which appends gradient nodes to the same graph — so
 * forward, backward (and later the optimizer update) become one ONNX graph.
 */
import { ShapeError } from '../errors.js';
import type { Node, Value } from './graph.js';
import { add, expand, scalar } from './ops/index.js';
import { withGraph } from './graph.js';

/** Gradients of scalar `loss` (or of `loss` weighted by `seed`) w.r.t. each of `wrt` (null if unreachable). */
export function gradients(loss: Value, wrt: readonly Value[], seed?: Value): (Value | null)[] {
  const g = loss.graph;
  return withGraph(g, () => {
    const end = loss.producer ? loss.producer.id + 1 : 0;
    const nodes = g.nodes.slice(0, end);

    // Forward sweep: which values depend on a `wrt` value through differentiable inputs.
    const needsGrad = new Set<Value>(wrt);
    for (const n of nodes) {
      const nd = n.op.nonDiff ?? [];
      if (n.inputs.some((x, i) => !nd.includes(i) && needsGrad.has(x))) for (const o of n.outputs) needsGrad.add(o);
    }

    const grads = new Map<Value, Value>();
    const accumulate = (v: Value, gv: Value) => {
      const prev = grads.get(v);
      grads.set(v, prev ? add(prev, gv) : gv);
    };
    if (needsGrad.has(loss)) {
      accumulate(loss, seed ?? expand(scalar(1, loss.dtype), loss.shape));
    }

    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i]!;
      const dys = n.outputs.map((o) => grads.get(o) ?? null);
      if (dys.every((d) => d === null)) continue;
      const nd = n.op.nonDiff ?? [];
      const needs = n.inputs.map((x, j) => !nd.includes(j) && needsGrad.has(x));
      if (!needs.some(Boolean)) continue;
      const rule = n.op.vjp;
      if (!rule) throw new ShapeError(`${n.op.type} at ${n.scope || '<root>'}: no gradient rule (op is not differentiable)`);
      const dxs = g.inScope(`grad(${n.scope || n.op.type})`, () =>
        rule({ node: n as Node<never>, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs as never, dys, needs }),
      );
      n.inputs.forEach((x, j) => {
        const dx = dxs[j];
        if (!needs[j] || !dx) return;
        if (dx.shape.length !== x.shape.length || dx.shape.some((d, k) => d !== x.shape[k]))
          throw new ShapeError(
            `${n.op.type} at ${n.scope || '<root>'}: gradient rule returned ${dx.toString()} for input ${j} of shape ${x.toString()}`,
          );
        accumulate(x, dx);
      });
    }
    return wrt.map((w) => grads.get(w) ?? null);
  });
}
