/**
 * Numerical gradient checking for VJP rules.
 *
 * `gradcheck` traces `build` twice on symbolic inputs: once as a forward graph (inputs → outputs)
 * and once with the analytic gradient of L = Σ_k sum(output_k ⊙ R_k) w.r.t. every float input, R_k
 * being fixed random tensors so that every output element matters (a plain sum would hide errors
 * that cancel, e.g. a wrong sign pattern of a softmax gradient). The analytic gradient is then
 * compared with central finite differences of L, evaluated in double precision in JS from the
 * forward graph's outputs, on every element of small inputs and a random sample of larger ones.
 *
 * Use float64 where ORT has double kernels for the ops involved; otherwise float32 with a larger
 * step (for ops linear in the perturbed input any step is exact, so use a big one).
 */
import assert from 'node:assert/strict';
import { Graph, gradients, toModelProto, withGraph, F, type Value } from '../../src/graph/index.js';
import { createNodeSession } from '../../src/runtime/node.js';
import { Tensor, type DType } from '../../src/tensor.js';
import { Rng } from '../../src/util/rng.js';

export interface GradInput {
  shape: readonly number[];
  /** Defaults to the check's dtype. Integer and bool inputs are always constants without gradient. */
  dtype?: DType;
  /** Fixed values; default: seeded draws from `init` or N(0, 1). */
  values?: ArrayLike<number>;
  /** Value generator (called per element) when no `values` are given. */
  init?: (rng: Rng, i: number) => number;
  /** Bake the values into the graph as a constant (no gradient), e.g. indices or masks. */
  constant?: boolean;
  /** A graph input that is not differentiated (not checked). */
  noGrad?: boolean;
}

export interface GradcheckOptions {
  /** dtype of float inputs without an explicit one (default float64). */
  dtype?: 'float32' | 'float64';
  /** Finite-difference step (default 1e-6 in float64, 3e-3 in float32). */
  eps?: number;
  /** Allowed max |analytic − numeric| relative to max(1, largest gradient magnitude) (default 1e-6 / 2e-3). */
  tol?: number;
  /** Inputs with at most this many elements are checked everywhere; larger ones on this many samples (default 64). */
  maxChecks?: number;
  seed?: number;
  /**
   * The op types (registry names, e.g. 'Conv') this check covers: each must be a node that `build`
   * traces and the outputs depend on, else the check fails — so a check cannot claim an op it misses.
   */
  ops?: readonly string[];
}

export interface InputReport {
  input: number;
  shape: number[];
  /** Elements compared with finite differences. */
  checked: number;
  maxAbs: number;
  /** maxAbs / largest |gradient| among the checked elements. */
  maxRel: number;
}

export interface GradcheckReport {
  op: string;
  dtype: string;
  inputs: InputReport[];
  maxAbs: number;
  maxRel: number;
}

function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}

function makeTensor(values: ArrayLike<number>, shape: readonly number[], dtype: DType): Tensor {
  switch (dtype) {
    case 'float64':
      return new Tensor(Float64Array.from(values), shape, 'float64');
    case 'float32':
      return new Tensor(Float32Array.from(values), shape, 'float32');
    case 'int64':
      return new Tensor(BigInt64Array.from(Array.from(values, (v) => BigInt(v))), shape, 'int64');
    case 'int32':
      return new Tensor(Int32Array.from(values), shape, 'int32');
    case 'bool':
      return new Tensor(Uint8Array.from(values), shape, 'bool');
    default:
      throw new Error(`gradcheck: unsupported input dtype ${dtype}`);
  }
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Check the VJP rules reached by `build` numerically; throws an AssertionError naming `op` and the
 * worst input when the error exceeds the tolerance. Returns the error report either way.
 */
export async function gradcheck(
  op: string,
  inputs: readonly GradInput[],
  build: (...xs: Value[]) => Value | Value[],
  opts: GradcheckOptions = {},
): Promise<GradcheckReport> {
  const dtype = opts.dtype ?? 'float64';
  const eps = opts.eps ?? (dtype === 'float64' ? 1e-6 : 3e-3);
  const tol = opts.tol ?? (dtype === 'float64' ? 1e-6 : 2e-3);
  const maxChecks = opts.maxChecks ?? 64;
  const rng = new Rng(opts.seed ?? 1234);

  // Concrete input values (rounded to their dtype once, so FD steps are measured exactly).
  const specs = inputs.map((inp, i) => {
    const dt = inp.dtype ?? dtype;
    const n = size(inp.shape);
    const vals = inp.values
      ? Array.from(inp.values)
      : Array.from({ length: n }, (_, j) => (inp.init ? inp.init(rng, j) : rng.normal()));
    if (vals.length !== n) throw new Error(`gradcheck ${op}: input ${i} has ${vals.length} values for shape [${inp.shape}]`);
    const tensor = makeTensor(vals, inp.shape, dt);
    const asConstant = inp.constant ?? !isFloat(dt);
    const differentiate = isFloat(dt) && !asConstant && !inp.noGrad;
    return { name: `in${i}`, dtype: dt, tensor, asConstant, differentiate };
  });

  const trace = (g: Graph): { xs: Value[]; ys: Value[] } => {
    const xs = specs.map((s) => (s.asConstant ? g.constant(s.tensor) : g.input(s.name, s.tensor.shape, s.dtype)));
    const out = build(...xs);
    return { xs, ys: Array.isArray(out) ? out : [out] };
  };

  // Forward graph.
  const fg = new Graph('gradcheck_fwd');
  let outShapes: { shape: number[]; dtype: DType }[] = [];
  withGraph(fg, () => {
    const { ys } = trace(fg);
    // The op types `build` traced that the outputs depend on (before the output Identity nodes below).
    const live = new Set<Value>(ys);
    const reached = new Set<string>();
    for (let i = fg.nodes.length - 1; i >= 0; i--) {
      const n = fg.nodes[i]!;
      if (!n.outputs.some((o) => live.has(o))) continue;
      reached.add(n.op.type);
      for (const x of n.inputs) live.add(x);
    }
    const missing = (opts.ops ?? []).filter((o) => !reached.has(o));
    assert.deepEqual(missing, [], `gradcheck ${op}: declares ops its graph does not reach (it has ${[...reached].sort().join(', ')})`);
    ys.forEach((y, k) => fg.markOutput(F.identity(y), `y${k}`));
    outShapes = ys.map((y) => ({ shape: [...y.shape], dtype: y.dtype }));
  });

  // Random output weights R_k (values representable in the output dtype).
  const weights = outShapes.map(({ shape, dtype: dt }) => {
    if (!isFloat(dt)) throw new Error(`gradcheck ${op}: output dtype ${dt} is not float`);
    return makeTensor(Array.from({ length: size(shape) }, () => rng.normal()), shape, dt);
  });

  // Gradient graph: L = Σ_k sum(y_k ⊙ R_k), gradients w.r.t. the differentiated inputs.
  const gg = new Graph('gradcheck_grad');
  const wrtIdx = specs.map((s, i) => (s.differentiate ? i : -1)).filter((i) => i >= 0);
  withGraph(gg, () => {
    const { xs, ys } = trace(gg);
    let loss: Value | null = null;
    ys.forEach((y, k) => {
      const term = F.reduceSum(F.mul(y, gg.constant(weights[k]!)));
      const t64 = F.cast(term, dtype);
      loss = loss ? F.add(loss, t64) : t64;
    });
    const grads = gradients(loss!, wrtIdx.map((i) => xs[i]!));
    grads.forEach((gv, j) => {
      // An input the loss does not reach has a zero gradient.
      gg.markOutput(gv ?? F.zerosLike(xs[wrtIdx[j]!]!), `g${j}`);
    });
  });

  const fwd = await createNodeSession(toModelProto(fg), { label: `${op} forward`, threads: 1 });
  const grad = await createNodeSession(toModelProto(gg), { label: `${op} gradient`, threads: 1 });
  const feeds = (override?: { i: number; t: Tensor }): Record<string, Tensor> => {
    const f: Record<string, Tensor> = {};
    specs.forEach((s, i) => {
      if (!s.asConstant) f[s.name] = override && override.i === i ? override.t : s.tensor;
    });
    return f;
  };
  const lossOf = async (fd: Record<string, Tensor>): Promise<number> => {
    const out = await fwd.run(fd);
    let l = 0;
    weights.forEach((r, k) => {
      const y = out[`y${k}`]!.data as Float32Array | Float64Array;
      const rv = r.data as Float32Array | Float64Array;
      for (let j = 0; j < y.length; j++) l += y[j]! * rv[j]!;
    });
    return l;
  };

  const analytic = await grad.run(feeds());
  const reports: InputReport[] = [];
  for (let j = 0; j < wrtIdx.length; j++) {
    const i = wrtIdx[j]!;
    const s = specs[i]!;
    const base = s.tensor.data as Float32Array | Float64Array;
    const ga = analytic[`g${j}`]!.toArray();
    const n = base.length;
    let elems: number[];
    if (n <= maxChecks) elems = Array.from({ length: n }, (_, e) => e);
    else {
      const set = new Set<number>([0, n - 1]);
      while (set.size < maxChecks) set.add(rng.int(n));
      elems = [...set].sort((a, b) => a - b);
    }
    let maxAbs = 0;
    let scale = 0;
    let worst = -1;
    for (const e of elems) {
      const plus = base.slice();
      const minus = base.slice();
      plus[e] = base[e]! + eps;
      minus[e] = base[e]! - eps;
      const lp = await lossOf(feeds({ i, t: new Tensor(plus as never, s.tensor.shape, s.dtype) }));
      const lm = await lossOf(feeds({ i, t: new Tensor(minus as never, s.tensor.shape, s.dtype) }));
      // Divide by the step actually taken (float32 rounds x ± eps).
      const numeric = (lp - lm) / (plus[e]! - minus[e]!);
      const err = Math.abs(numeric - ga[e]!);
      scale = Math.max(scale, Math.abs(numeric), Math.abs(ga[e]!));
      if (err > maxAbs) {
        maxAbs = err;
        worst = e;
      }
    }
    const rep: InputReport = { input: i, shape: [...s.tensor.shape], checked: elems.length, maxAbs, maxRel: scale > 0 ? maxAbs / scale : maxAbs };
    reports.push(rep);
    assert.ok(
      maxAbs <= tol * Math.max(1, scale),
      `gradcheck ${op} (${dtype}): input ${i} [${s.tensor.shape}] element ${worst}: analytic ${ga[worst]} vs numeric ` +
        `differs by ${maxAbs.toExponential(2)} (rel ${rep.maxRel.toExponential(2)}, tol ${tol})`,
    );
  }
  await fwd.release();
  await grad.release();
  return {
    op,
    dtype,
    inputs: reports,
    maxAbs: Math.max(0, ...reports.map((r) => r.maxAbs)),
    maxRel: Math.max(0, ...reports.map((r) => r.maxRel)),
  };
}

/** One line per report: op, dtype, max abs / rel error, elements checked. */
export function formatReport(r: GradcheckReport): string {
  const checked = r.inputs.map((i) => i.checked).join('+');
  return `${r.op} [${r.dtype}] max abs ${r.maxAbs.toExponential(2)} max rel ${r.maxRel.toExponential(2)} (${checked} elements)`;
}
