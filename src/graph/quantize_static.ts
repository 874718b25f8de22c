/**
 * Static int8 quantization (QDQ): a pass over an emitted `OnnxModel`, as ONNX Runtime's
 * `quantize_static` writes a QDQ model, written over our own graph. Calibration (running the float
 * graph on images to learn activation ranges) is the caller's: `calibrationModel` gives the graph
 * that reads the ranges out, `RangeObserver` collects them, `withStaticQdq` writes the int8 model.
 *
 * A *layer* is a Conv, MatMul or Gemm with a weight — an operand computed from parameters alone
 * (an initializer, or one seen through the layout and BatchNorm-folding ops the eval graph applies
 * to it) — and an activation operand. A quantized layer reads
 *   - its activation through QuantizeLinear → DequantizeLinear, uint8 per tensor, asymmetric, with
 *     the calibrated range (widened to hold 0, so that zero padding is exact);
 *   - its weight as int8, symmetric per output channel (zero point 0), through DequantizeLinear;
 *   - a Conv's bias as int32 with scale x_scale · w_scale (per channel), through DequantizeLinear;
 *   - a Conv's output through QuantizeLinear → DequantizeLinear too (uint8, calibrated).
 * That is the pattern ONNX Runtime 1.30's CPU provider fuses (QDQSelectorActionTransformer):
 * DQ(x u8) + DQ(w s8) [+ DQ(b s32)] → Conv → Q(y u8) becomes QLinearConv — the Conv selector needs
 * the output Q, without it the Conv stays float behind two DequantizeLinears; DQ(x u8) + DQ(w s8) →
 * MatMul becomes MatMulIntegerToFloat (float output, as the dynamic path's kernel), or QLinearMatMul
 * with a Q after it; Gemm becomes QGemm. On x86 int8 *activations* are not fused at all
 * (`QDQIsInt8Allowed()` is false off ARM: QDQS8ToU8Transformer first rewrites s8 activation pairs to
 * u8), so activations are uint8 here and weights int8 (ORT's U8S8 kernels).
 *
 * What is never a layer stays float32: LayerNorm and Softmax (other ops), GRN (its spatial sum is a
 * MatMul with a graph constant, not a parameter), and MatMuls of two activations (attention's
 * q·kᵀ and attn·v: per-tensor uint8 softmax probabilities lose the small ones). Callers exclude
 * more layers by name (the first conv and the classifier by default, io/static_int8.ts).
 */
import { Tensor } from '../tensor.js';
import { attr, type OnnxInitializer, type OnnxModel, type OnnxNode } from './emit.js';
import { pruneDead, quantizePerChannel } from './quantize.js';

export type StaticLayerOp = 'Conv' | 'MatMul' | 'Gemm';

export interface StaticLayer {
  /** The weight's largest parameter without '.weight' ('stages.0.blocks.0.mlp.fc1'); unique in a model. */
  name: string;
  op: StaticLayerOp;
  /** The node's name in the emitted model. */
  node: string;
  /** The activation operand. */
  input: string;
  /** The weight operand (an initializer, or a value computed from initializers only). */
  weight: string;
  /** Conv: the bias operand, when it has one. */
  bias?: string;
  /** Conv: its output, quantized too (absent when it is a graph output). */
  output?: string;
  /** Parameters (initializer names) the weight is computed from. */
  params: string[];
}

/** A float range seen in calibration. */
export interface Range {
  min: number;
  max: number;
}

/** Layers of `m` that static quantization can rewrite (see the file comment), in graph order. */
export function findStaticLayers(m: OnnxModel): StaticLayer[] {
  const inits = new Map(m.initializers.map((i) => [i.name, i]));
  // Values computed from initializers alone, with the parameters each comes from.
  const constant = new Map<string, Set<string>>();
  for (const i of m.initializers) constant.set(i.name, new Set(i.param ? [i.name] : []));
  for (const n of m.nodes) {
    if (!n.inputs.every((x) => x === '' || constant.has(x))) continue;
    const params = new Set(n.inputs.flatMap((x) => [...(constant.get(x) ?? [])]));
    for (const o of n.outputs) constant.set(o, params);
  }
  const graphOutputs = new Set(m.outputs.map((o) => o.name));
  const names = new Map<string, number>();
  const layers: StaticLayer[] = [];
  for (const n of m.nodes) {
    if (n.opType !== 'Conv' && n.opType !== 'MatMul' && n.opType !== 'Gemm') continue;
    const [input, weight, bias] = n.inputs;
    const params = [...(constant.get(weight ?? '') ?? [])];
    if (!input || constant.has(input) || params.length === 0) continue;
    if (n.opType === 'Conv' && bias && !constant.has(bias)) continue;
    if (n.opType === 'Gemm' && n.attrs.transA && 'i' in n.attrs.transA && n.attrs.transA.i !== 0) continue;
    const main = params.reduce((a, b) => (inits.get(b)!.tensor.size > inits.get(a)!.tensor.size ? b : a));
    const base = main.replace(/\.weight$/, '');
    const k = (names.get(base) ?? 0) + 1;
    names.set(base, k);
    layers.push({
      name: k === 1 ? base : `${base}:${k}`,
      op: n.opType,
      node: n.name,
      input,
      weight: weight!,
      ...(n.opType === 'Conv' && bias ? { bias } : {}),
      ...(n.opType === 'Conv' && !graphOutputs.has(n.outputs[0]!) ? { output: n.outputs[0]! } : {}),
      params,
    });
  }
  return layers;
}

/** The activations calibration observes for `layers`: each one's input and a Conv's output. */
export function observedTensors(layers: readonly StaticLayer[]): string[] {
  return [...new Set(layers.flatMap((l) => (l.output ? [l.input, l.output] : [l.input])))];
}

/** Weights and biases of `layers` that the graph computes (not initializers): calibration reads them out once. */
export function computedConstants(m: OnnxModel, layers: readonly StaticLayer[]): string[] {
  const inits = new Set(m.initializers.map((i) => i.name));
  return [...new Set(layers.flatMap((l) => [l.weight, ...(l.bias ? [l.bias] : [])]))].filter((v) => !inits.has(v));
}

/** `m` with `names` as extra float32 outputs (shape left to the runtime): the calibration graph. */
export function calibrationModel(m: OnnxModel, names: readonly string[]): OnnxModel {
  const have = new Set(m.outputs.map((o) => o.name));
  const extra = names.filter((n) => !have.has(n)).map((name) => ({ name, dtype: 'float32' as const, dims: [], shapeUnknown: true }));
  return { ...m, outputs: [...m.outputs, ...extra], metadata: [] };
}

/**
 * Activation ranges over calibration batches: 'minmax' (the extremes seen), 'percentile' (the
 * p-th and (100 − p)-th percentiles of all values, from a histogram over the min-max range filled in a
 * second pass over the same batches — so a percentile range is never wider than the min-max one), or
 * 'entropy' (the clipping threshold whose quantized distribution of |x| is closest to the observed one
 * in KL divergence — TensorRT's calibration, which ONNX Runtime's Python quantizer also offers — from
 * a histogram of |x| filled in the same second pass).
 */
export class RangeObserver {
  private readonly ranges = new Map<string, Range>();
  private readonly histograms = new Map<string, Float64Array>();
  private readonly absHistograms = new Map<string, Float64Array>();
  static readonly BINS = 4096;
  /**
   * |x| histogram: fine bins (an outlier far out must not leave the bulk in a few bins), merged for the
   * search into at most SEARCH_BINS over the part holding all but 1e-5 of the values; the
   * quantized levels the search compares against (int8: 128 per sign).
   */
  static readonly ABS_BINS = 65536;
  static readonly SEARCH_BINS = 2048;
  static readonly LEVELS = 128;

  /** First pass: extremes. */
  observe(name: string, values: Float32Array): void {
    const r = this.ranges.get(name) ?? { min: Infinity, max: -Infinity };
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < r.min) r.min = v;
      if (v > r.max) r.max = v;
    }
    this.ranges.set(name, r);
  }

  /**
   * Second pass: counts over the first pass's range — of the values for 'percentile', of |x| for
   * 'entropy' (each method fills only the histogram it reads).
   */
  observeHistogram(name: string, values: Float32Array, method: 'percentile' | 'entropy'): void {
    const r = this.range(name);
    const [store, bins] = method === 'percentile' ? [this.histograms, RangeObserver.BINS] : [this.absHistograms, RangeObserver.ABS_BINS];
    let h = store.get(name);
    if (!h) store.set(name, (h = new Float64Array(bins)));
    if (method === 'percentile') {
      const width = (r.max - r.min) / bins;
      if (!(width > 0)) return;
      for (let i = 0; i < values.length; i++) h[Math.min(bins - 1, Math.max(0, Math.floor((values[i]! - r.min) / width)))]!++;
    } else {
      const width = Math.max(-r.min, r.max) / bins;
      if (!(width > 0)) return;
      for (let i = 0; i < values.length; i++) h[Math.min(bins - 1, Math.floor(Math.abs(values[i]!) / width))]!++;
    }
  }

  /**
   * The entropy range of `name` (needs the histogram pass): the threshold t over |x|'s histogram that
   * minimises KL(P ‖ Q), P the histogram cut at t with the clipped tail added to its last bin, Q the
   * same cut merged into LEVELS bins and spread back over the bins that were non-empty; the range is
   * the min-max one clipped to [−t, t].
   */
  entropyRange(name: string): Range {
    const r = this.range(name);
    const fine = this.absHistograms.get(name);
    const fineWidth = Math.max(-r.min, r.max) / RangeObserver.ABS_BINS;
    if (!fine || !(fineWidth > 0)) return r;
    const levels = RangeObserver.LEVELS;
    // The search histogram: fine bins merged `group` at a time up to where all but 1e-5 of the values lie.
    const total = fine.reduce((a, b) => a + b, 0);
    let end = 0;
    for (let seen = 0; end < fine.length && seen < total * (1 - 1e-5); end++) seen += fine[end]!;
    const group = Math.max(1, Math.ceil(end / RangeObserver.SEARCH_BINS));
    const h = new Float64Array(Math.max(levels, Math.ceil(end / group)));
    let beyond = 0;
    for (let b = 0; b < fine.length; b++) {
      const j = Math.floor(b / group);
      if (j < h.length) h[j]! += fine[b]!;
      else beyond += fine[b]!;
    }
    const absWidth = group * fineWidth;
    let best = h.length;
    let bestKl = Infinity;
    const p = new Float64Array(h.length);
    const q = new Float64Array(h.length);
    // tailFrom[i]: the values at or above bin i (those clipped at threshold i).
    const tailFrom = new Float64Array(h.length + 1);
    tailFrom[h.length] = beyond;
    for (let b = h.length - 1; b >= 0; b--) tailFrom[b] = tailFrom[b + 1]! + h[b]!;
    for (let i = levels; i <= h.length; i++) {
      // P: the first i bins, the clipped tail counted in the last one.
      const tail = tailFrom[i]!;
      for (let b = 0; b < i; b++) p[b] = h[b]!;
      p[i - 1]! += tail;
      // Q: the first i bins (without the tail) merged into `levels` groups, each group's count spread evenly over its non-empty bins.
      for (let g = 0; g < levels; g++) {
        const first = Math.floor((g * i) / levels);
        const last = Math.floor(((g + 1) * i) / levels);
        let sum = 0;
        let nonEmpty = 0;
        for (let b = first; b < last; b++) {
          sum += h[b]!;
          if (h[b]! > 0) nonEmpty++;
        }
        for (let b = first; b < last; b++) q[b] = h[b]! > 0 ? sum / nonEmpty : 0;
      }
      let pSum = 0;
      let qSum = 0;
      for (let b = 0; b < i; b++) {
        pSum += p[b]!;
        qSum += q[b]!;
      }
      let kl = 0;
      for (let b = 0; b < i; b++) {
        if (p[b]! === 0) continue;
        // A bin P has and Q lost (the tail's bin when it was empty): a small floor keeps KL finite, as in TensorRT.
        const qb = q[b]! > 0 ? q[b]! / qSum : 1e-9;
        kl += (p[b]! / pSum) * Math.log(p[b]! / pSum / qb);
      }
      if (kl < bestKl) {
        bestKl = kl;
        best = i;
      }
    }
    const t = best * absWidth;
    return { min: Math.max(r.min, -t), max: Math.min(r.max, t) };
  }

  /** The min-max range of `name`. */
  range(name: string): Range {
    const r = this.ranges.get(name);
    if (!r) throw new Error(`RangeObserver: nothing observed for ${name}`);
    return { ...r };
  }

  /** The [100 − p, p] percentile range of `name` (p in (50, 100]); needs the histogram pass. */
  percentileRange(name: string, p: number): Range {
    const r = this.range(name);
    const h = this.histograms.get(name);
    if (!h || p >= 100) return r;
    const total = h.reduce((a, b) => a + b, 0);
    const width = (r.max - r.min) / h.length;
    // The value below which `count` of the values lie, interpolated inside its bin.
    const at = (count: number) => {
      let seen = 0;
      for (let b = 0; b < h.length; b++) {
        if (seen + h[b]! >= count) return r.min + width * (b + (h[b]! > 0 ? (count - seen) / h[b]! : 0));
        seen += h[b]!;
      }
      return r.max;
    };
    const tail = (total * (100 - p)) / 100;
    return { min: Math.max(r.min, at(tail)), max: Math.min(r.max, at(total - tail)) };
  }
}

/** uint8 quantization of a range: scale and zero point, the range widened to hold 0. */
export function uint8Params(r: Range): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

export interface StaticQdqOptions {
  /** Ranges of the observed activations (`observedTensors`). */
  ranges: ReadonlyMap<string, Range>;
  /** The computed weights and biases (`computedConstants`), by name. */
  constants: ReadonlyMap<string, Tensor>;
  /** 7-bit weights ([-63, 63], default true): see graph/quantize.ts `reduceRange`. */
  reduceRange?: boolean;
}

/** A quantized layer: its activation and output quantization. */
export interface QuantizedLayer {
  name: string;
  op: StaticLayerOp;
  input: { tensor: string; scale: number; zeroPoint: number };
  output?: { tensor: string; scale: number; zeroPoint: number };
}

const scalar = (v: number): Tensor => new Tensor(new Float32Array([v]), [], 'float32');

/**
 * A copy of `m` with `layers` quantized (see the file comment); `m` is not changed. Nodes no longer
 * read (the weights' layout and folding ops) and initializers no longer read are dropped.
 */
export function withStaticQdq(m: OnnxModel, layers: readonly StaticLayer[], o: StaticQdqOptions): { model: OnnxModel; layers: QuantizedLayer[] } {
  const qmax = o.reduceRange === false ? 127 : 63;
  const inits = new Map(m.initializers.map((i) => [i.name, i]));
  const byNode = new Map(layers.map((l) => [l.node, l]));
  const added: OnnxInitializer[] = [];
  const nodes: OnnxNode[] = [];
  const done: QuantizedLayer[] = [];
  /** Float tensor → the name its dequantized copy has. */
  const dequantized = new Map<string, string>();
  const node = (opType: string, inputs: string[], outputs: string[], attrs: OnnxNode['attrs'] = {}): OnnxNode => ({ opType, domain: '', inputs, outputs, attrs, name: `${outputs[0]}/${opType}` });
  const constant = (name: string): Tensor => {
    const t = o.constants.get(name) ?? inits.get(name)?.tensor;
    if (!t) throw new Error(`withStaticQdq: no value for the weight ${name}`);
    return t;
  };
  const activationParams = (tensor: string) => {
    const r = o.ranges.get(tensor);
    if (!r) throw new Error(`withStaticQdq: no calibrated range for ${tensor}`);
    return { tensor, ...uint8Params(r) };
  };
  /** Q → DQ of `from` (range of `tensor`), the DQ writing `to`. */
  const qdq = (from: string, tensor: string, to: string) => {
    const p = activationParams(tensor);
    const [s, zp] = [`${tensor}.scale`, `${tensor}.zero_point`];
    added.push({ name: s, tensor: scalar(p.scale), param: false }, { name: zp, tensor: new Tensor(new Uint8Array([p.zeroPoint]), [], 'uint8'), param: false });
    nodes.push(node('QuantizeLinear', [from, s, zp], [`${tensor}.q`]), node('DequantizeLinear', [`${tensor}.q`, s, zp], [to]));
    dequantized.set(tensor, to);
    return p;
  };

  for (const n of m.nodes) {
    const l = byNode.get(n.name);
    if (!l) {
      nodes.push(n);
      continue;
    }
    const w = constant(l.weight);
    // A MatMul/Gemm weight that is not a matrix (a batched constant) has no per-column form here.
    if (l.op !== 'Conv' && w.shape.length !== 2) {
      nodes.push(n);
      continue;
    }
    const input = dequantized.has(l.input) ? activationParams(l.input) : qdq(l.input, l.input, `${l.input}.dq`);
    const transB = n.attrs.transB && 'i' in n.attrs.transB ? n.attrs.transB.i : 0;
    const axis = l.op === 'Conv' || (l.op === 'Gemm' && transB === 1) ? 0 : 1;
    const { q, scales } = quantizePerChannel(w, axis, qmax);
    const [wq, ws, wzp, wdq] = ['int8', 'scale', 'zero_point', 'dq'].map((k) => `${l.name}.weight.${k}`) as [string, string, string, string];
    added.push({ name: wq, tensor: q, param: true, onnxType: 'int8' }, { name: ws, tensor: new Tensor(scales, [scales.length], 'float32'), param: true });
    added.push({ name: wzp, tensor: new Tensor(new Uint8Array(scales.length), [scales.length], 'uint8'), param: true, onnxType: 'int8' });
    nodes.push(node('DequantizeLinear', [wq, ws, wzp], [wdq], { axis: attr.int(axis) }));
    const inputs = [dequantized.get(l.input)!, wdq, ...n.inputs.slice(2)];
    if (l.bias) {
      // int32 bias at the accumulator's scale, as QLinearConv takes it.
      const b = constant(l.bias).data as Float32Array;
      const bs = scales.map((s) => s * input.scale);
      const bq = Int32Array.from(b, (v, c) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(v / bs[c]!))));
      const [bname, bscale, bzp, bdq] = ['int32', 'scale', 'zero_point', 'dq'].map((k) => `${l.name}.bias.${k}`) as [string, string, string, string];
      added.push({ name: bname, tensor: new Tensor(bq, [bq.length], 'int32'), param: true }, { name: bscale, tensor: new Tensor(bs, [bs.length], 'float32'), param: true });
      added.push({ name: bzp, tensor: new Tensor(new Int32Array(bq.length), [bq.length], 'int32'), param: true });
      nodes.push(node('DequantizeLinear', [bname, bscale, bzp], [bdq], { axis: attr.int(0) }));
      inputs[2] = bdq;
    }
    if (!l.output) {
      nodes.push({ ...n, inputs });
      done.push({ name: l.name, op: l.op, input });
      continue;
    }
    // The Conv writes a float copy; Q → DQ gives every reader the output under its own name.
    nodes.push({ ...n, inputs, outputs: [`${l.output}.f32`, ...n.outputs.slice(1)] });
    done.push({ name: l.name, op: l.op, input, output: qdq(`${l.output}.f32`, l.output, l.output) });
  }
  const live = pruneDead(nodes, new Set(m.outputs.map((x) => x.name)));
  const read = new Set(live.flatMap((n) => n.inputs));
  const initializers = [...m.initializers, ...added].filter((i) => read.has(i.name));
  return { model: { ...m, nodes: live, initializers }, layers: done };
}
