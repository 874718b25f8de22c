/**
 * Reverse-mode automatic differentiation over a traced graph. Walks the recorded nodes backwards
 * from the loss, calling each op's VJP rule, which appends gradient nodes to the same graph — so
 * forward, backward (and later the optimizer update) become one ONNX graph.
 */
import { ShapeError } from '../errors.js';
import type { Node, Value } from './graph.js';
import { add, expand, mul, reduceSum, scalar } from './ops/index.js';
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
    const schedule = new GradientSchedule(wrt);

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
        schedule.tie(n.inputs, (inputs) => rule({ node: n as Node<never>, inputs, outputs: n.outputs, attrs: n.attrs as never, dys, needs })),
      );
      n.inputs.forEach((x, j) => {
        const dx = dxs[j];
        if (!needs[j] || !dx) return;
        if (dx.shape.length !== x.shape.length || dx.shape.some((d, k) => d !== x.shape[k]))
          throw new ShapeError(
            `${n.op.type} at ${n.scope || '<root>'}: gradient rule returned ${dx.toString()} for input ${j} of shape ${x.toString()}`,
          );
        accumulate(x, dx);
        schedule.finished(x, dx);
      });
    }
    return wrt.map((w) => grads.get(w) ?? null);
  });
}

/**
 * When the runtime computes parameter gradients. ONNX Runtime orders nodes depth-first from the graph
 * outputs, so a parameter's gradient, which only the optimizer reads, is computed when the optimizer
 * asks for it — after the whole backward — and its big inputs (the layer's activation and output
 * gradient) stay alive until then: ConvNeXt V2-atto's b32 step had 1.87 GB of tensors in ORT's arena
 * at once (1.44 GB with this schedule), where trace order keeps 1.25 GB alive at most (measured with
 * test/train/step_memory.test.ts's method). So each finished parameter gradient is tied into the next
 * parameter the backward reads, w' = w + 0·Σ(gradients): the input gradient computed from w' needs
 * them, so they run there and free their inputs. Exact for finite gradients (w + 0 = w; the sum is a
 * few small reductions); only a zero's sign can change, which no product or sum notices.
 */
class GradientSchedule {
  private readonly params: Set<Value>;
  private pending: Value[] = [];

  constructor(wrt: readonly Value[]) {
    this.params = new Set(wrt);
  }

  /** A parameter gradient (or a contribution to one) is computed: tie it into the next parameter read. */
  finished(x: Value, dx: Value): void {
    if (this.params.has(x)) this.pending.push(dx);
  }

  /**
   * Run a VJP rule with the node's first parameter input replaced by its tied copy. The pending
   * gradients are done once a node the rule created reads the copy (a rule like Add's does not).
   */
  tie(inputs: Value[], rule: (inputs: Value[]) => (Value | null)[]): (Value | null)[] {
    const j = inputs.findIndex((x) => this.params.has(x));
    if (j < 0 || this.pending.length === 0) return rule(inputs);
    const g = inputs[j]!.graph;
    const total = this.pending.map((p) => reduceSum(p)).reduce((a, b) => add(a, b));
    const tied = add(inputs[j]!, mul(total, scalar(0, total.dtype)));
    const start = g.nodes.length;
    const dxs = rule(inputs.map((x, k) => (k === j ? tied : x)));
    if (g.nodes.slice(start).some((n) => n.inputs.includes(tied))) this.pending = [];
    return dxs;
  }
}
