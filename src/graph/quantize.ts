/**
 * Dynamic int8 quantization (weights only, no calibration): a pass over an emitted `OnnxModel`, as
 * ONNX Runtime's `quantize_dynamic` rewrites a model, written over our own graph.
 *
 * - A MatMul whose right operand is a weight — an initializer [K, N], or the Transpose of one (our
 *   Linear layers emit x · Wᵀ) — becomes
 *     DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q, x_zp, 0) → Cast(float) → Mul(x_scale · w_scale)
 *   with W_q per output channel (column), symmetric int8 (zero point 0, scale = max|w| / 63: 7-bit by
 *   default, see `reduceRange`) and the
 *   activation quantized to uint8 per tensor at run time. ONNX Runtime fuses the pattern into its
 *   DynamicQuantizeMatMul kernel (u8·s8 integer GEMM).
 * - A Conv's weight is stored the same way (per output channel, symmetric int8) and dequantized by a
 *   DequantizeLinear node: the file holds int8, the convolution itself stays float32.
 *
 * Weights named by `exclude` (the first conv and the classifier by default in `exportOnnx`: the
 * layers most sensitive to rounding) stay float32.
 */
import { Tensor } from '../tensor.js';
import { attr, type OnnxInitializer, type OnnxModel, type OnnxNode } from './emit.js';

export interface QuantizeReport {
  /** Weights now stored as int8, by how they are used. */
  matmul: string[];
  conv: string[];
  /** Weights left float32 because `exclude` named them. */
  excluded: string[];
}

/**
 * Symmetric int8 per channel along `axis` (0: rows of [O, …]; 1: columns of [K, N]) of a float32
 * tensor, in [-qmax, qmax] (127; 63 for 7-bit "reduced range" weights).
 */
export function quantizePerChannel(t: Tensor, axis: 0 | 1, qmax = 127): { q: Tensor<'uint8'>; scales: Float32Array } {
  const w = t.data as Float32Array;
  const channels = t.shape[axis]!;
  const scales = new Float32Array(channels);
  const q = new Int8Array(w.length);
  // axis 0: channel c owns a contiguous block; axis 1 ([K, N]): element i belongs to column i % N.
  const block = w.length / channels;
  const channelOf = axis === 0 ? (i: number) => Math.floor(i / block) : (i: number) => i % channels;
  for (let i = 0; i < w.length; i++) {
    const c = channelOf(i);
    scales[c] = Math.max(scales[c]!, Math.abs(w[i]!));
  }
  for (let c = 0; c < channels; c++) scales[c] = scales[c]! > 0 ? scales[c]! / qmax : 1;
  for (let i = 0; i < w.length; i++) q[i] = Math.max(-qmax, Math.min(qmax, Math.round(w[i]! / scales[channelOf(i)]!)));
  // Our Tensor has no int8 dtype: carry the bytes as uint8 and let the initializer declare INT8.
  return { q: new Tensor(new Uint8Array(q.buffer), t.shape, 'uint8'), scales };
}

function transposed2d(t: Tensor): Tensor {
  const [r, c] = t.shape as [number, number];
  const src = t.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j]!;
  return new Tensor(out, [c, r], 'float32');
}

/** Rewrite `m` in place (see the file comment); returns what was quantized. */
export interface QuantizeOptions {
  /** Weights (initializer names = state-dict keys) to leave float32. */
  exclude?: (weight: string) => boolean;
  /**
   * Also store Conv weights as int8 + DequantizeLinear (default false). It shrinks the file, but on
   * ONNX Runtime's CPU provider a conv whose weight is not a constant loses its NCHWc kernels: the
   * ConvNeXt V2-atto file took 2.2× as long (one run, 2 shared cores).
   */
  conv?: boolean;
  /**
   * 7-bit weights ([-63, 63], default true), as ONNX Runtime's `reduce_range`: on x86 CPUs without
   * VNNI (AVX2, AVX-512F) its u8·s8 GEMM adds pairs of products in saturating int16, and full-range
   * weights overflow it (255·127·2 > 32767). Measured on this AVX2 machine (random ConvNeXt V2-atto,
   * 64²): max logit error vs fp32 0.023 with 8-bit weights, against 0.0067 for the same file on
   * onnxruntime-web (no saturation). False: 8-bit weights, for VNNI/ARM targets.
   */
  reduceRange?: boolean;
}

/**
 * Layer scale folded into the Linear before it — ConvNeXt's γ · (x·Wᵀ + b) becomes x·(γ·W)ᵀ + γ·b,
 * the Mul dropped. For int8 files: with symmetric per-output-channel weights the int8 values stay
 * the same (γ moves into each channel's scale), so the fold costs no accuracy, and it saves a pass
 * over the activation per block (ConvNeXt-T: 18 of ~230 kernels). Only where weight, bias and γ are
 * parameters read there alone (not tied) and the MatMul and Add outputs have no other reader.
 * Returns the model (`m` is not changed) and the γ parameters folded.
 */
export function foldLayerScales(m: OnnxModel): { model: OnnxModel; folded: string[] } {
  const inits = new Map(m.initializers.map((i) => [i.name, i]));
  const producer = new Map<string, OnnxNode>();
  const readers = new Map<string, number>();
  for (const n of m.nodes) {
    for (const o of n.outputs) producer.set(o, n);
    for (const x of n.inputs) if (x) readers.set(x, (readers.get(x) ?? 0) + 1);
  }
  const graphOutputs = new Set(m.outputs.map((o) => o.name));
  const readOnce = (name: string) => readers.get(name) === 1 && !graphOutputs.has(name);
  /** A float32 parameter read only here; `channels`: a vector along the last axis ([C], [1, …, 1, C]) of that many. */
  const param = (name: string, channels?: number) => {
    const i = inits.get(name);
    const shape = i?.tensor.shape ?? [];
    const vector = channels === undefined || (shape.at(-1) === channels && shape.slice(0, -1).every((d) => d === 1));
    return i && i.param && !i.onnxType && i.tensor.dtype === 'float32' && readOnce(name) && vector ? i : undefined;
  };
  /** A MatMul's right operand [K, N] as a parameter: read directly (channels: its last axis), or the Transpose [1, 0] of one stored [N, K] (Linear; channels: its first axis), seen through Reshapes. */
  const weightOf = (name: string, transposed = false, depth = 0): { init: OnnxInitializer; channelAxisFirst: boolean } | undefined => {
    const i = param(name);
    if (i) return { init: i, channelAxisFirst: transposed };
    const p = producer.get(name);
    if (!p || depth > 4 || !readOnce(name)) return undefined;
    if (p.opType === 'Reshape') return weightOf(p.inputs[0]!, transposed, depth + 1);
    const perm = p.attrs.perm && 'ints' in p.attrs.perm ? p.attrs.perm.ints : [1, 0];
    if (p.opType === 'Transpose' && perm.length === 2 && perm[0] === 1) return weightOf(p.inputs[0]!, !transposed, depth + 1);
    return undefined;
  };
  const replaced = new Map<string, OnnxInitializer>();
  const dropped = new Set<OnnxNode>();
  const renamed = new Map<OnnxNode, string>();
  const folded: string[] = [];
  for (const mul of m.nodes) {
    if (mul.opType !== 'Mul' || mul.domain !== '') continue;
    for (const side of [0, 1]) {
      const [gammaName, yName] = [mul.inputs[side]!, mul.inputs[1 - side]!];
      const add = producer.get(yName);
      if (!add || add.opType !== 'Add' || add.domain !== '' || !readOnce(yName)) continue;
      const mmSide = [0, 1].find((j) => producer.get(add.inputs[j]!)?.opType === 'MatMul');
      if (mmSide === undefined || !readOnce(add.inputs[mmSide]!)) continue;
      const mat = producer.get(add.inputs[mmSide]!)!;
      const w = weightOf(mat.inputs[1]!);
      if (!w || w.init.tensor.shape.length < 2) continue;
      const channels = w.channelAxisFirst ? w.init.tensor.shape[0]! : w.init.tensor.shape[w.init.tensor.shape.length - 1]!;
      const bias = param(add.inputs[1 - mmSide]!, channels);
      const gamma = param(gammaName, channels);
      // (Weight and bias are read once: no other Mul can fold into them.)
      if (!bias || !gamma) continue;
      const g = gamma.tensor.data as Float32Array;
      const wd = w.init.tensor.data as Float32Array;
      const block = wd.length / channels;
      const ws = Float32Array.from(wd, (v, i) => v * g[w.channelAxisFirst ? Math.floor(i / block) : i % channels]!);
      replaced.set(w.init.name, { ...w.init, tensor: new Tensor(ws, w.init.tensor.shape, 'float32') });
      replaced.set(bias.name, { ...bias, tensor: new Tensor(Float32Array.from(bias.tensor.data as Float32Array, (v, c) => v * g[c]!), bias.tensor.shape, 'float32') });
      dropped.add(mul);
      renamed.set(add, mul.outputs[0]!);
      folded.push(gamma.name);
      break;
    }
  }
  const nodes = m.nodes.filter((n) => !dropped.has(n)).map((n) => (renamed.has(n) ? { ...n, outputs: [renamed.get(n)!] } : n));
  const read = new Set(nodes.flatMap((n) => n.inputs));
  const initializers = m.initializers.filter((i) => read.has(i.name)).map((i) => replaced.get(i.name) ?? i);
  return { model: { ...m, nodes, initializers }, folded };
}

export function quantizeDynamicInt8(m: OnnxModel, opts: QuantizeOptions = {}): QuantizeReport {
  const report: QuantizeReport = { matmul: [], conv: [], excluded: [] };
  const qmax = opts.reduceRange === false ? 127 : 63;
  const inits = new Map(m.initializers.map((i) => [i.name, i]));
  const producer = new Map<string, OnnxNode>();
  for (const n of m.nodes) for (const o of n.outputs) producer.set(o, n);
  const isWeight = (name: string) => {
    const i = inits.get(name);
    return i !== undefined && i.param && i.tensor.dtype === 'float32';
  };
  const added: OnnxInitializer[] = [];
  const out: OnnxNode[] = [];
  let count = 0;
  const int8 = (name: string, q: Tensor): OnnxInitializer => ({ name, tensor: q, param: true, onnxType: 'int8' });

  /**
   * A MatMul's right operand as a constant weight: an initializer seen through the layout ops between
   * it and the MatMul (ConvNeXt's pointwise weights: Reshape [o,i,1,1] → [o,i], then Transpose). Returns
   * the initializer's name and the [K, N] matrix, or undefined for a computed operand.
   */
  const resolve = (name: string, depth = 0): { source: string; tensor: Tensor } | undefined => {
    if (isWeight(name)) return { source: name, tensor: inits.get(name)!.tensor };
    const p = producer.get(name);
    if (!p || depth > 4) return undefined;
    if (p.opType === 'Reshape') {
      const shape = inits.get(p.inputs[1] ?? '');
      const from = resolve(p.inputs[0]!, depth + 1);
      if (!from || !shape || shape.tensor.dtype !== 'int64') return undefined;
      const dims = Array.from(shape.tensor.data as BigInt64Array, Number).map((d, i) => (d === 0 ? from.tensor.shape[i]! : d));
      const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      const full = dims.map((d) => (d === -1 ? from.tensor.size / known : d));
      return { source: from.source, tensor: new Tensor(from.tensor.data as Float32Array, full, 'float32') };
    }
    if (p.opType === 'Transpose') {
      const from = resolve(p.inputs[0]!, depth + 1);
      const perm = p.attrs.perm && 'ints' in p.attrs.perm ? p.attrs.perm.ints : [1, 0];
      if (!from || from.tensor.shape.length !== 2 || perm[0] !== 1 || perm[1] !== 0) return undefined;
      return { source: from.source, tensor: transposed2d(from.tensor) };
    }
    return undefined;
  };

  for (const n of m.nodes) {
    if (n.opType === 'MatMul') {
      const weight = resolve(n.inputs[1]!);
      if (weight && weight.tensor.shape.length === 2) {
        const { source } = weight;
        if (opts.exclude?.(source)) {
          report.excluded.push(source);
          out.push(n);
          continue;
        }
        const id = `q${count++}`;
        const [wq, ws, wzp] = [`${source}.int8`, `${source}.scale`, `${source}.zero_point`];
        // A weight read by two MatMuls (tied) is quantized once.
        if (!report.matmul.includes(source)) {
          const { q, scales } = quantizePerChannel(weight.tensor, 1, qmax);
          added.push(int8(wq, q), { name: ws, tensor: new Tensor(scales, [scales.length], 'float32'), param: true });
          added.push(int8(wzp, new Tensor(new Uint8Array(scales.length), [scales.length], 'uint8')));
        }
        const x = n.inputs[0]!;
        const [xq, xs, xzp, y32, yf, s] = ['x_q', 'x_scale', 'x_zero_point', 'y_int32', 'y_float', 'scale'].map((k) => `${id}.${k}`);
        const node = (opType: string, inputs: string[], outputs: string[], attrs: OnnxNode['attrs'] = {}): OnnxNode => ({ opType, domain: '', inputs, outputs, attrs, name: `${n.name}/${outputs[0]}` });
        out.push(
          node('DynamicQuantizeLinear', [x], [xq, xs, xzp]),
          node('MatMulInteger', [xq, wq, xzp, wzp], [y32]),
          node('Cast', [y32], [yf], { to: attr.int(1) }),
          node('Mul', [xs, ws], [s]),
          node('Mul', [yf, s], [n.outputs[0]!]),
        );
        if (!report.matmul.includes(source)) report.matmul.push(source);
        continue;
      }
    }
    if (opts.conv && n.opType === 'Conv' && isWeight(n.inputs[1]!)) {
      const source = n.inputs[1]!;
      if (opts.exclude?.(source)) report.excluded.push(source);
      else if (!report.conv.includes(source)) {
        const { q, scales } = quantizePerChannel(inits.get(source)!.tensor, 0, qmax);
        const [wq, ws, wzp] = [`${source}.int8`, `${source}.scale`, `${source}.zero_point`];
        added.push(int8(wq, q), { name: ws, tensor: new Tensor(scales, [scales.length], 'float32'), param: true });
        added.push(int8(wzp, new Tensor(new Uint8Array(scales.length), [scales.length], 'uint8')));
        // The DequantizeLinear writes the weight's own name: every reader of it is unchanged.
        out.unshift({ opType: 'DequantizeLinear', domain: '', inputs: [wq, ws, wzp], outputs: [source], attrs: { axis: attr.int(0) }, name: `${source}/DequantizeLinear` });
        report.conv.push(source);
      }
    }
    out.push(n);
  }
  // Drop what nothing reads any more: Transposes of replaced weights, and the float weights — a
  // conv's always (its DequantizeLinear now produces that name), a MatMul's unless another node reads it.
  m.nodes = pruneDead(out, new Set(m.outputs.map((o) => o.name)));
  const read = new Set(m.nodes.flatMap((n) => n.inputs));
  const conv = new Set(report.conv);
  const matmul = new Set(report.matmul);
  if (conv.size + matmul.size === 0) return report;
  // Shape constants of the pruned layout ops go too: initializers nothing reads.
  m.initializers = [...m.initializers.filter((i) => !conv.has(i.name) && !(matmul.has(i.name) && !read.has(i.name))), ...added].filter((i) => read.has(i.name));
  return report;
}

/** Nodes whose outputs reach a graph output (order kept). */
export function pruneDead(nodes: OnnxNode[], outputs: Set<string>): OnnxNode[] {
  const needed = new Set(outputs);
  const keep: boolean[] = new Array<boolean>(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep[i] = true;
    for (const x of n.inputs) if (x) needed.add(x);
  }
  return nodes.filter((_, i) => keep[i]);
}
