/**
 * Read back what an ONNX file declares — signature, metadata_props, initializers (inline or external)
 * and the node list — with our own protobuf reader. Enough for exported files to be inspected
 * (metadata round trip, `bench --onnx`) without a protobuf runtime; not a general ONNX loader.
 */
import { ShapeError } from '../errors.js';
import type { DType } from '../tensor.js';
import { readPackedVarints, readProto } from './protobuf.js';

const DTYPES: Record<number, DType | string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64' };

export interface OnnxFileValue {
  name: string;
  /** Our dtype name, or ONNX's for types visionmix has no tensors of ('int8'). */
  dtype: string;
  /** Sizes, or symbolic names (`dim_param`). */
  dims: (number | string)[];
}

export interface OnnxFileInitializer {
  name: string;
  dtype: string;
  dims: number[];
  /** Bytes of raw data held inline (0 for external tensors). */
  inlineBytes: number;
  /** Present for tensors stored in an external data file. */
  external?: { location: string; offset: number; length: number };
}

export interface OnnxFileInfo {
  irVersion: number;
  producer: string;
  /** Imported operator sets: domain ('' = ai.onnx) → version. */
  opsets: Record<string, number>;
  inputs: OnnxFileValue[];
  outputs: OnnxFileValue[];
  metadata: Record<string, string>;
  initializers: OnnxFileInitializer[];
  nodes: { opType: string; domain: string; inputs: string[]; outputs: string[] }[];
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

function strings(buf: Uint8Array, fields: Record<number, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readProto(buf)) if (f.wire === 2 && fields[f.field]) out[fields[f.field]!] = text(f.bytes);
  return out;
}

function valueInfo(buf: Uint8Array): OnnxFileValue {
  const v: OnnxFileValue = { name: '', dtype: '?', dims: [] };
  for (const f of readProto(buf)) {
    if (f.wire !== 2) continue;
    if (f.field === 1) v.name = text(f.bytes);
    if (f.field !== 2) continue;
    for (const t of readProto(f.bytes)) {
      if (t.field !== 1 || t.wire !== 2) continue; // tensor_type
      for (const tt of readProto(t.bytes)) {
        if (tt.field === 1 && tt.wire === 0) v.dtype = String(DTYPES[Number(tt.value)] ?? Number(tt.value));
        if (tt.field === 2 && tt.wire === 2)
          for (const d of readProto(tt.bytes)) {
            if (d.field !== 1 || d.wire !== 2) continue;
            for (const x of readProto(d.bytes)) {
              if (x.field === 1 && x.wire === 0) v.dims.push(Number(x.value));
              if (x.field === 2 && x.wire === 2) v.dims.push(text(x.bytes));
            }
          }
      }
    }
  }
  return v;
}

function initializer(buf: Uint8Array): OnnxFileInitializer {
  const t: OnnxFileInitializer = { name: '', dtype: '?', dims: [], inlineBytes: 0 };
  const ext: Record<string, string> = {};
  for (const f of readProto(buf)) {
    if (f.field === 1) t.dims.push(...(f.wire === 0 ? [Number(f.value)] : readPackedVarints(f.bytes).map(Number)));
    else if (f.field === 2 && f.wire === 0) t.dtype = String(DTYPES[Number(f.value)] ?? Number(f.value));
    else if (f.field === 8 && f.wire === 2) t.name = text(f.bytes);
    else if (f.field === 9 && f.wire === 2) t.inlineBytes = f.bytes.length;
    else if (f.field === 13 && f.wire === 2) {
      const e = strings(f.bytes, { 1: 'key', 2: 'value' });
      if (e.key) ext[e.key] = e.value ?? '';
    }
  }
  if (ext.location !== undefined) t.external = { location: ext.location, offset: Number(ext.offset ?? 0), length: Number(ext.length ?? -1) };
  return t;
}

/** Parse an ONNX ModelProto's declarations; malformed bytes are a ShapeError naming `label`. */
export function readOnnxInfo(bytes: Uint8Array, label = 'model'): OnnxFileInfo {
  const info: OnnxFileInfo = { irVersion: 0, producer: '', opsets: {}, inputs: [], outputs: [], metadata: {}, initializers: [], nodes: [] };
  try {
    for (const f of readProto(bytes)) {
      if (f.field === 1 && f.wire === 0) info.irVersion = Number(f.value);
      else if (f.field === 2 && f.wire === 2) info.producer = text(f.bytes);
      else if (f.field === 8 && f.wire === 2) {
        let domain = '';
        let version = 0;
        for (const o of readProto(f.bytes)) {
          if (o.field === 1 && o.wire === 2) domain = text(o.bytes);
          if (o.field === 2 && o.wire === 0) version = Number(o.value);
        }
        info.opsets[domain] = version;
      } else if (f.field === 14 && f.wire === 2) {
        const e = strings(f.bytes, { 1: 'key', 2: 'value' });
        if (e.key !== undefined) info.metadata[e.key] = e.value ?? '';
      } else if (f.field === 7 && f.wire === 2) {
        for (const g of readProto(f.bytes)) {
          if (g.wire !== 2) continue;
          if (g.field === 1) {
            const n = { opType: '', domain: '', inputs: [] as string[], outputs: [] as string[] };
            for (const x of readProto(g.bytes)) {
              if (x.wire !== 2) continue;
              if (x.field === 1) n.inputs.push(text(x.bytes));
              else if (x.field === 2) n.outputs.push(text(x.bytes));
              else if (x.field === 4) n.opType = text(x.bytes);
              else if (x.field === 7) n.domain = text(x.bytes);
            }
            info.nodes.push(n);
          } else if (g.field === 5) info.initializers.push(initializer(g.bytes));
          else if (g.field === 11) info.inputs.push(valueInfo(g.bytes));
          else if (g.field === 12) info.outputs.push(valueInfo(g.bytes));
        }
      }
    }
  } catch (err) {
    throw new ShapeError(`${label} is not a readable ONNX model: ${(err as Error).message}`);
  }
  if (info.irVersion === 0) throw new ShapeError(`${label} is not an ONNX model (no ir_version)`);
  return info;
}
