/**
 * A tiny protobuf *writer* — just enough wire format (varints, length-delimited fields, packed
 * repeated scalars) to serialise ONNX ModelProto. Writing our own keeps the browser bundle free of a
 * protobuf runtime and lets large raw tensors be copied once, straight into the output buffer.
 */

const WIRE_VARINT = 0;
const WIRE_64BIT = 1;
const WIRE_LEN = 2;
const WIRE_32BIT = 5;

/** A message under construction: a list of byte chunks, concatenated once at the end. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  length = 0;

  private flushScratch(): void {
    if (this.scratch.length === 0) return;
    const b = Uint8Array.from(this.scratch);
    this.chunks.push(b);
    this.length += b.length;
    this.scratch = [];
  }

  private pushBytes(b: Uint8Array): void {
    this.flushScratch();
    this.chunks.push(b);
    this.length += b.length;
  }

  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    // Fast path for the common small non-negative case.
    if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
      let n = v;
      while (n >= 0x80) {
        this.scratch.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.scratch.push(n);
      return;
    }
    while (x >= 0x80n) {
      this.scratch.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.scratch.push(Number(x));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, WIRE_32BIT);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    for (const x of b) this.scratch.push(x);
    return this;
  }

  double(field: number, v: number): this {
    this.tag(field, WIRE_64BIT);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    for (const x of b) this.scratch.push(x);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.pushBytes(b);
    return this;
  }

  message(field: number, m: ProtoWriter): this {
    this.tag(field, WIRE_LEN);
    m.flushScratch();
    this.varint(m.length);
    this.flushScratch();
    for (const c of m.chunks) this.chunks.push(c);
    this.length += m.length;
    return this;
  }

  packedInts(field: number, vs: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of vs) inner.varint(v);
    inner.flushScratch();
    this.tag(field, WIRE_LEN);
    this.varint(inner.length);
    this.flushScratch();
    for (const c of inner.chunks) this.chunks.push(c);
    this.length += inner.length;
    return this;
  }

  packedFloats(field: number, vs: readonly number[]): this {
    const b = new Uint8Array(vs.length * 4);
    const dv = new DataView(b.buffer);
    vs.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }

  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

/** One field of a message as read: varints as bigint, fixed-width and length-delimited fields as bytes. */
export type ProtoField = { field: number; wire: 0; value: bigint } | { field: number; wire: 1 | 2 | 5; bytes: Uint8Array };

/**
 * A tiny protobuf *reader*, the writer's counterpart: the fields of one message in order, nested
 * messages left as bytes for the caller to read again. Malformed input throws `Error('protobuf: …')`;
 * callers wrap it in the typed error that names their file.
 */
export function* readProto(buf: Uint8Array): Generator<ProtoField> {
  let pos = 0;
  const varint = (): bigint => {
    let x = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= buf.length) throw new Error('protobuf: truncated varint');
      if (shift > 63n) throw new Error('protobuf: varint longer than 64 bits');
      const b = buf[pos++]!;
      x |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return x;
    }
  };
  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > buf.length) throw new Error('protobuf: field runs past the end of its message');
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === WIRE_VARINT) yield { field, wire, value: varint() };
    else if (wire === WIRE_64BIT) yield { field, wire, bytes: take(8) };
    else if (wire === WIRE_32BIT) yield { field, wire, bytes: take(4) };
    else if (wire === WIRE_LEN) yield { field, wire, bytes: take(Number(varint())) };
    else throw new Error(`protobuf: unsupported wire type ${wire} (field ${field})`);
  }
}

/** The packed (or repeated unpacked) varints of a field's bytes. */
export function readPackedVarints(bytes: Uint8Array): bigint[] {
  const out: bigint[] = [];
  // A packed run of varints is exactly a message of field-less varints; read it with the same loop.
  let pos = 0;
  while (pos < bytes.length) {
    let x = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= bytes.length) throw new Error('protobuf: truncated packed varint');
      const b = bytes[pos++]!;
      x |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    out.push(x);
  }
  return out;
}
