/**
 * How Add/Sub/Mul/Div are written to ONNX when they broadcast. ONNX Runtime's CPU kernels (Node and
 * wasm) loop over the output's innermost run of elements that both operands read contiguously, with
 * a call per run: a tensor whose last dims are 1 ([N, C, 1, 1] after a global pool, a 1×1 map) times
 * a scalar runs one element per call, 23-27 ns per element instead of 0.5; a per-channel [1, C, 1, 1]
 * operand on a 2×2 map runs 4 per call, 7.5 ns, on 3×3 4.2 ns, on 4×4 2.4 ns (measured, one thread,
 * 128K-8M elements). Such ops are frequent in train steps at small maps (the last stages at 32²:
 * biases, batch norm statistics and their gradients, GELU's constants on 1×1 maps).
 *
 * So they are emitted on merged shapes: size-1 dims dropped, neighbouring dims that both operands
 * read alike merged, and a small broadcast operand expanded over a short innermost run, so that the
 * runs are long: Reshape → op → Reshape. Exact: the same pairs of values meet the same op (what the
 * Reshapes can change is which of ORT's own rewrites apply around them — its transpose pushing —
 * hence for every target alike, so that a WebGPU graph computes what the CPU one does).
 */
import type { Emitter } from '../emit.js';
import type { Node, Value } from '../graph.js';

/** Innermost runs shorter than this are widened (4×4 maps and smaller; a [1, C, 1, 1] operand on a 7×7 map is left alone). */
const SHORT_RUN = 32;
/**
 * Runs shorter than this are widened even where the operand must be expanded to the output's size
 * (a per-image-and-channel [N, C, 1, 1] on a 2×2 or 3×3 map: 7 ns per element as written, 1.4 with the
 * Expand); longer ones gain too little for the extra tensor (ORT's peak memory in a train step).
 */
const FULL_EXPAND_RUN = 10;

/** A merged dim: its size and whether each operand spans it (true) or is broadcast along it. */
interface Group {
  size: number;
  a: boolean;
  b: boolean;
}

function mergeGroups(groups: Group[]): Group[] {
  const out: Group[] = [];
  for (const g of groups) {
    const last = out[out.length - 1];
    if (last && last.a === g.a && last.b === g.b) last.size *= g.size;
    else out.push({ ...g });
  }
  return out;
}

/**
 * True when a value is fixed when the model is built: a constant or initializer, or computed from
 * them within a few ops (ORT folds those, and fuses a per-channel constant into a preceding Conv —
 * which a reshaped operand would prevent). Bounded, so that a fed value answers quickly.
 */
export function knownAtBuild(e: Emitter, v: Value, depth = 6): boolean {
  if (e.isInitializer(v)) return true;
  const p = v.producer;
  if (!p || depth === 0) return false;
  return p.inputs.every((x) => knownAtBuild(e, x, depth - 1));
}

/** An operand as the emission sees it: its ONNX name, its shape, and whether it is fixed at build time (asked only when it matters). */
export interface BroadcastOperand {
  name: string;
  shape: readonly number[];
  known: () => boolean;
}

/** How one operand is brought to the merged dims: a Reshape, and for a widened one an Expand and a second Reshape. */
interface OperandPlan {
  reshape: number[];
  expand?: number[];
  merged?: number[];
}

const shapeOf = (gs: Group[], side: 'a' | 'b'): number[] => gs.map((g) => (g[side] ? g.size : 1));
const count = (shape: readonly number[]): number => shape.reduce((x, y) => x * y, 1);

/** The merged emission of a slow broadcast, or null to emit it as is. */
function plan(e: Emitter, a: BroadcastOperand, b: BroadcastOperand, out: readonly number[]): { a: OperandPlan; b: OperandPlan; out: number[] } | null {
  const r = out.length;
  const outSize = count(out);
  if (r < 2 || outSize < 4096) return null;
  // Shapes traced at a symbolic batch are written with run-time dims: leave them.
  if (out.some((d) => e.batchFactor(d) !== 0)) return null;
  const pad = (s: readonly number[]) => [...new Array<number>(r - s.length).fill(1), ...s];
  const [as, bs] = [pad(a.shape), pad(b.shape)];
  const groups = mergeGroups(out.flatMap((d, i) => (d === 1 ? [] : [{ size: d, a: as[i] === d, b: bs[i] === d }])));
  const last = groups[groups.length - 1];
  // Equal shapes (up to size-1 dims) run as one long run already.
  if (!last || groups.every((g) => g.a === g.b)) return null;
  const trailingOne = out[r - 1] === 1;
  const shortRun = last.a !== last.b && last.size < SHORT_RUN && groups.length > 1;
  if (!trailingOne && !shortRun) return null;
  // A per-channel constant stays as written (ORT folds it into the Conv before it); a scalar need not.
  const broadcast = groups.some((g) => !g.a) ? a : b;
  if (count(broadcast.shape) > 1 && broadcast.known()) return null;
  const merged = { a: { reshape: shapeOf(groups, 'a') }, b: { reshape: shapeOf(groups, 'b') }, out: groups.map((g) => g.size) };
  if (!shortRun) return merged;
  // Expand the broadcast operand over the short run, then merge the dims again — where that leaves
  // one plain broadcast (ORT's Expand has the same per-run cost, so a full-size one must end the
  // pattern) or the expanded operand stays small.
  const side = last.a ? 'b' : 'a';
  const widened = groups.map((g, i) => (i === groups.length - 1 ? { ...g, [side]: true } : g));
  const remerged = mergeGroups(widened);
  const expanded = shapeOf(widened, side);
  // A full-size Expand also costs a pass and a tensor as big as the output: only for the shortest runs.
  const small = count(expanded) * 8 <= outSize;
  if (!small && (remerged.length > 2 || last.size >= FULL_EXPAND_RUN)) return trailingOne ? merged : null;
  const wide: OperandPlan = { reshape: shapeOf(groups, side), expand: expanded, merged: shapeOf(remerged, side) };
  const other: OperandPlan = { reshape: shapeOf(remerged, side === 'a' ? 'b' : 'a') };
  const outMerged = remerged.map((g) => g.size);
  return side === 'a' ? { a: wide, b: other, out: outMerged } : { a: other, b: wide, out: outMerged };
}

/**
 * Emit `type`(a, b) broadcasting to `out`, on merged shapes where that is faster (see the file
 * comment); `outputs` names the result (or 1 for a temporary). Returns the result's name.
 */
export function emitBinary(e: Emitter, type: string, a: BroadcastOperand, b: BroadcastOperand, out: readonly number[], outputs: readonly (Value | string)[] | 1 = 1): string {
  const p = plan(e, a, b, out);
  if (!p) return e.node(type, [a.name, b.name], outputs)[0]!;
  const operand = (v: BroadcastOperand, o: OperandPlan): string => {
    // A scalar broadcasts as it is.
    if (count(v.shape) === 1 && !o.expand) return v.name;
    let name = e.node('Reshape', [v.name, e.int64s(o.reshape)], 1)[0]!;
    if (o.expand) name = e.node('Expand', [name, e.int64s(o.expand)], 1)[0]!;
    if (o.merged) name = e.node('Reshape', [name, e.int64s(o.merged)], 1)[0]!;
    return name;
  };
  const [z] = e.node(type, [operand(a, p.a), operand(b, p.b)], 1);
  return e.node('Reshape', [z!, e.int64s([...out])], outputs)[0]!;
}

/** The emission rule of a broadcasting binary op of ONNX type `type`. */
export function emitBroadcasting(type: string) {
  return (e: Emitter, n: Node): void => {
    const operand = (v: Value): BroadcastOperand => ({ name: e.name(v), shape: v.shape, known: () => knownAtBuild(e, v) });
    const [a, b] = n.inputs as [Value, Value];
    emitBinary(e, type, operand(a), operand(b), n.outputs[0]!.shape, n.outputs);
  };
}
