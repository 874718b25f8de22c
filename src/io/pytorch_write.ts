/**
 * Writing `torch.save`-compatible zip checkpoints of a state dict (what `torch.load` reads back as
 * an OrderedDict of tensors). Used to hand weights to PyTorch users, by the tests (big-endian files,
 * hand-built pickles) and by the bench (a large generated checkpoint). Pure functions over bytes.
 */
import { DataError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { concatBytes, crc32 } from '../util/bytes.js';

/** Emits the protocol-2 pickle opcodes a state dict needs (the reader's table in pickle.ts names them). */
export class PickleWriter {
  private readonly parts: number[] = [];
  private static readonly utf8 = new TextEncoder();

  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  proto(): this {
    return this.op(0x80, 2);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...PickleWriter.utf8.encode(`${module}\n${name}\n`));
  }
  str(s: string): this {
    const b = PickleWriter.utf8.encode(s);
    return this.op(0x58, ...u32(b.length), ...b);
  }
  int(n: number): this {
    return this.op(0x4a, ...u32(n));
  }
  /** A tuple of ints (MARK … TUPLE). */
  ints(values: readonly number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  emptyTuple(): this {
    return this.op(0x29);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  reduce(): this {
    return this.op(0x52);
  }
  setItems(): this {
    return this.op(0x75);
  }
  none(): this {
    return this.op(0x4e);
  }
  bool(v: boolean): this {
    return this.op(v ? 0x88 : 0x89);
  }
  binpersid(): this {
    return this.op(0x51);
  }
  stop(): Uint8Array {
    this.op(0x2e);
    return Uint8Array.from(this.parts);
  }
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** A tensor's place in a storage, as `_rebuild_tensor_v2` takes it. */
export interface TensorView {
  storageKey: string;
  /** torch storage class name: FloatStorage, HalfStorage, LongStorage, … */
  storageType: string;
  /** Elements in the storage. */
  storageNumel: number;
  offset: number;
  shape: readonly number[];
  stride: readonly number[];
}

/** The pickle of `OrderedDict(name → tensor)` with each tensor a view of a persistent storage. */
export function stateDictPickle(views: ReadonlyArray<readonly [string, TensorView]>): Uint8Array {
  const w = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  for (const [name, v] of views) {
    w.str(name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', v.storageType).str(v.storageKey).str('cpu').int(v.storageNumel).tuple().binpersid();
    w.int(v.offset).ints(v.shape).ints(v.stride).bool(false);
    w.global('collections', 'OrderedDict').emptyTuple().reduce(); // backward hooks
    w.tuple().reduce();
  }
  return w.setItems().stop();
}

const STORAGE_TYPE: Partial<Record<Tensor['dtype'], string>> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

function contiguousStride(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export interface ZipMember {
  name: string;
  /** The entry's bytes, possibly in several pieces (tensor data is not copied). */
  data: Uint8Array[];
}

/**
 * A checkpoint of `tensors` as torch.save writes it (one storage per tensor, little-endian): the zip
 * members, to be laid out by `zipStored`.
 */
export function torchZipMembers(tensors: Map<string, Tensor>, folder = 'archive'): ZipMember[] {
  const views: [string, TensorView][] = [];
  const storages: ZipMember[] = [];
  [...tensors].forEach(([name, t], i) => {
    const storageType = STORAGE_TYPE[t.dtype];
    // Reachable from JavaScript, where a Tensor's dtype string is not checked against its data.
    if (!storageType) throw new DataError(`cannot write tensor '${name}' as a PyTorch checkpoint: its dtype ${JSON.stringify(t.dtype)} has no torch storage (${Object.keys(STORAGE_TYPE).join(', ')})`);
    const numel = t.data.length;
    views.push([name, { storageKey: String(i), storageType, storageNumel: numel, offset: 0, shape: t.shape, stride: contiguousStride(t.shape) }]);
    storages.push({ name: `${folder}/data/${i}`, data: [new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)] });
  });
  return [
    { name: `${folder}/data.pkl`, data: [stateDictPickle(views)] },
    { name: `${folder}/byteorder`, data: [new TextEncoder().encode('little')] },
    ...storages,
    { name: `${folder}/version`, data: [new TextEncoder().encode('3\n')] },
  ];
}

/** A zip of stored (uncompressed) members, as pieces to write in order. Sizes below 4 GiB (no zip64). */
export function zipStored(members: ZipMember[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = new TextEncoder().encode(m.name);
    const size = m.data.reduce((a, d) => a + d.length, 0);
    const crc = crc32(m.data);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true); // version needed
    lv.setUint32(14, crc, true);
    lv.setUint32(18, size, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, size, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    central.push(cd);
    out.push(local, ...m.data);
    offset += local.length + size;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, members.length, true);
  ev.setUint16(10, members.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return [...out, ...central, end];
}

/** A whole checkpoint in memory (tests, the browser). */
export function serializeTorchZip(tensors: Map<string, Tensor>, folder = 'archive'): Uint8Array {
  return concatBytes(zipStored(torchZipMembers(tensors, folder)));
}
