/**
 * PyTorch checkpoints (`torch.save` files) as pure functions over a byte source: the zip format
 * (torch ≥ 1.6: `<folder>/data.pkl`, `<folder>/data/<key>` storages, `byteorder`, `version`) and the
 * legacy format (pickles back to back, then the raw storages). No `node:` imports: the Node adapter
 * (`pytorch.ts`) reads from a file handle, the browser hands in an ArrayBuffer.
 *
 * Reading is lazy: opening parses the zip directory and the (small) pickle only; tensors are read
 * storage by storage when asked for, so a checkpoint's optimizer state or EMA copy that is not used
 * is never read, and memory peaks near the size of the tensors returned.
 *
 * The pickle runs in the restricted interpreter of `pickle.ts`: the only Python callables it may
 * "call" are the handlers in TORCH_CALLABLES (rebuild a tensor, make an OrderedDict, …).
 */
import { CheckpointError } from '../errors.js';
import type { CheckpointInfo } from '../models/base.js';
import { sizeOf, type Tensor } from '../tensor.js';
import { PickleTruncatedError, PyGlobal, describe, unpickle, type Callables } from './pickle.js';
import { ITEM_SIZE, decodeTensor, type SafetensorsDType } from './safetensors_format.js';

/** Random access to a file's bytes. `read` returns a fresh array the caller owns. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A ByteSource over bytes already in memory (browser: an ArrayBuffer from fetch). */
export function bytesSource(bytes: Uint8Array, file = '<bytes>'): ByteSource {
  return {
    size: bytes.length,
    read: async (offset, length) => {
      if (offset < 0 || offset + length > bytes.length)
        throw new CheckpointError(`${file}: reading bytes [${offset}, ${offset + length}) of ${bytes.length}: the file is truncated`, file);
      // A copy with its own buffer (a Node Buffer's slice() would share the pool's).
      return new Uint8Array(bytes.subarray(offset, offset + length));
    },
  };
}

export type TorchFormat = 'zip' | 'legacy';

/** What the first bytes of a weights file say it is. */
export function sniffWeightsFormat(head: Uint8Array): 'safetensors' | TorchFormat | 'unknown' {
  // safetensors: u64 header length, then the JSON header's '{'.
  if (head.length >= 9 && head[8] === 0x7b) return 'safetensors';
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'zip';
  // A pickle starts with PROTO (0x80) and its protocol number.
  if (head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return 'legacy';
  return 'unknown';
}

// ---- tensors and storages ----------------------------------------------------------------------

/** torch storage type (`torch.FloatStorage`, …) → stored dtype (safetensors' names, whose decoder we share). */
const STORAGE_DTYPES: Record<string, SafetensorsDType> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** A storage of the file (a persistent id): its key, element type and length. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: SafetensorsDType,
    readonly numel: number,
  ) {}
}

/** A tensor as the pickle describes it: a view (offset, shape, strides in elements) of a storage. Not read yet. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
  get numel(): number {
    return sizeOf(this.shape);
  }
  /** Row-major contiguous: the view is one run of the storage. */
  get contiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.stride[i] !== expected) return false;
      expected *= this.shape[i]!;
    }
    return true;
  }
}

function intTuple(v: unknown, what: string, file: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0))
    throw new CheckpointError(`${file}: a tensor's ${what} must be a tuple of non-negative integers, got ${describe(v)}`, file);
  return v as number[];
}

/** 2³¹ elements (8 GiB of float32): more than a typed array in a browser holds. */
const MAX_TENSOR_ELEMENTS = 2 ** 31;

function rebuildTensor(args: readonly unknown[], file: string): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef))
    throw new CheckpointError(`${file}: a tensor is rebuilt from ${describe(storage)}, not from a storage of the file`, file);
  const s = storage;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    throw new CheckpointError(`${file}: a tensor of storage ${s.key} has storage offset ${describe(offset)}`, file);
  const shape = intTuple(size, 'size', file);
  const strides = intTuple(stride, 'stride', file);
  if (shape.length !== strides.length)
    throw new CheckpointError(`${file}: a tensor of storage ${s.key} has size [${shape}] but stride [${strides}]`, file);
  // Zero strides (expanded views) could claim any number of elements over a tiny storage.
  if (sizeOf(shape) > MAX_TENSOR_ELEMENTS)
    throw new CheckpointError(`${file}: a tensor of size [${shape}] has more than ${MAX_TENSOR_ELEMENTS} elements`, file);
  // The view's last element must lie inside the storage: a crafted file must not read past it.
  if (sizeOf(shape) > 0) {
    const last = offset + shape.reduce((acc, d, i) => acc + (d - 1) * strides[i]!, 0);
    if (!(last < s.numel))
      throw new CheckpointError(
        `${file}: a tensor of size [${shape}], stride [${strides}] at offset ${offset} reaches element ${last} of storage ${s.key}, which has ${s.numel}`,
        file,
      );
  }
  return new TensorRef(s, offset, shape, strides);
}

/** The Python callables a state dict needs, as PyTorch's `weights_only=True` loader allows them. */
function torchCallables(file: string): Callables {
  const table = new Map<string, (args: readonly unknown[]) => unknown>([
    // OrderedDict() then SETITEMS; OrderedDict([(k, v), …]) in other writers.
    ['collections.OrderedDict', (args) => new Map(Array.isArray(args[0]) ? (args[0] as [unknown, unknown][]).map((kv) => [kv[0], kv[1]]) : [])],
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    ['torch._utils._rebuild_tensor_v2', (args) => rebuildTensor(args, file)],
    ['torch._utils._rebuild_tensor', (args) => rebuildTensor(args, file)],
    // nn.Parameter(data, requires_grad): the data is what we want.
    ['torch._utils._rebuild_parameter', (args) => args[0]],
    ['torch._utils._rebuild_parameter_with_state', (args) => args[0]],
    ['torch.Size', (args) => args[0]],
    // bytes in protocol 2 pickles: _codecs.encode(str, 'latin1')
    ['_codecs.encode', (args) => (typeof args[0] === 'string' ? latin1Bytes(args[0]) : null)],
    ['builtins.set', (args) => new Set(Array.isArray(args[0]) ? args[0] : [])],
    ['builtins.frozenset', (args) => new Set(Array.isArray(args[0]) ? args[0] : [])],
  ]);
  // Tensor subclasses (torch ≥ 2): _rebuild_from_type_v2(func, new_type, args, state) → func(*args).
  table.set('torch._tensor._rebuild_from_type_v2', (args) => {
    const [fn, , inner] = args;
    const handler = fn instanceof PyGlobal ? table.get(fn.qualname) : undefined;
    if (!handler || !Array.isArray(inner)) throw new CheckpointError(`${file}: _rebuild_from_type_v2 of ${describe(fn)} is not supported`, file);
    return handler(inner);
  });
  return table;
}

function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/**
 * persistent_load for torch's storage ids: ('storage', storage_type, key, location, numel) in zip
 * files, plus a sixth element (view metadata, None since torch 0.4) in legacy ones.
 */
function storageLoader(file: string, storages: Map<string, StorageRef>): (pid: unknown) => StorageRef {
  return (pid) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
      throw new CheckpointError(`${file}: unsupported persistent id ${describe(pid)} (expected a ('storage', …) tuple)`, file);
    const [, type, key, , numel, view] = pid as unknown[];
    const dtype = type instanceof PyGlobal && (type.module === 'torch' || type.module === 'torch.cuda') ? STORAGE_DTYPES[type.name] : undefined;
    if (!dtype)
      throw new CheckpointError(
        `${file}: unsupported storage type ${describe(type)} (supported: ${Object.keys(STORAGE_DTYPES).map((n) => `torch.${n}`).join(', ')})`,
        file,
      );
    if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0)
      throw new CheckpointError(`${file}: malformed storage id ${describe(pid)}`, file);
    if (view !== undefined && view !== null)
      throw new CheckpointError(`${file}: storage ${key} is a storage view (pre-0.4 PyTorch), which is not supported; re-save it with a recent torch.save`, file);
    const known = storages.get(key);
    if (known && known.dtype !== dtype)
      throw new CheckpointError(`${file}: storage ${key} is read as both ${known.dtype} and ${dtype}, which is not supported`, file);
    const ref = known ?? new StorageRef(key, dtype, numel);
    storages.set(key, ref);
    return ref;
  };
}

// ---- the zip container -------------------------------------------------------------------------

interface ZipEntry {
  name: string;
  method: number;
  size: number;
  compressedSize: number;
  /** Offset of the local file header. */
  headerOffset: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_SIG = 0x06064b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

/** The zip's central directory: entry names, sizes and where their data is (zip64 included). */
async function readZipDirectory(src: ByteSource, file: string): Promise<Map<string, ZipEntry>> {
  const fail = (why: string): never => {
    throw new CheckpointError(`${file}: not a readable zip (torch.save) file: ${why}`, file);
  };
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  const tailLength = Math.min(src.size, 22 + 0xffff);
  const tail = await src.read(src.size - tailLength, tailLength);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) if (tv.getUint32(i, true) === EOCD_SIG) { eocd = i; break; }
  if (eocd < 0) fail('no end-of-central-directory record; the file is truncated or is not a zip');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // zip64: a locator just before the record points at the 64-bit end record.
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== EOCD64_LOCATOR_SIG) fail('zip64 end record locator missing');
    const at = Number(tv.getBigUint64(loc + 8, true));
    if (at + 56 > src.size) fail('zip64 end record outside the file');
    const rec = await src.read(at, 56);
    const rv = new DataView(rec.buffer);
    if (rv.getUint32(0, true) !== EOCD64_SIG) fail('bad zip64 end record');
    count = Number(rv.getBigUint64(32, true));
    cdSize = Number(rv.getBigUint64(40, true));
    cdOffset = Number(rv.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > src.size) fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the file of ${src.size} bytes; the file is truncated`);
  const cd = await src.read(cdOffset, cdSize);
  const v = new DataView(cd.buffer);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.length || v.getUint32(p, true) !== CENTRAL_SIG) fail(`central directory entry ${n} is malformed`);
    const nameLength = v.getUint16(p + 28, true);
    const extraLength = v.getUint16(p + 30, true);
    const commentLength = v.getUint16(p + 32, true);
    if (p + 46 + nameLength + extraLength > cd.length) fail(`central directory entry ${n} is malformed`);
    const e: ZipEntry = {
      name: new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLength)),
      method: v.getUint16(p + 10, true),
      compressedSize: v.getUint32(p + 20, true),
      size: v.getUint32(p + 24, true),
      headerOffset: v.getUint32(p + 42, true),
    };
    // zip64 extra field (id 1): 64-bit values for exactly the fields that read 0xffffffff, in this order.
    for (let x = p + 46 + nameLength; x + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = v.getUint16(x, true);
      const len = v.getUint16(x + 2, true);
      if (id === 1) {
        let q = x + 4;
        const next = (): number => {
          if (q + 8 > x + 4 + len) fail(`zip64 field of ${e.name} is too short`);
          const val = Number(v.getBigUint64(q, true));
          q += 8;
          return val;
        };
        if (e.size === 0xffffffff) e.size = next();
        if (e.compressedSize === 0xffffffff) e.compressedSize = next();
        if (e.headerOffset === 0xffffffff) e.headerOffset = next();
      }
      x += 4 + len;
    }
    entries.set(e.name, e);
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** File offset of an entry's data (after its local header, whose name/extra lengths can differ from the directory's). */
async function entryDataOffset(src: ByteSource, e: ZipEntry, file: string): Promise<number> {
  if (e.method !== 0)
    throw new CheckpointError(
      `${file}: zip entry ${e.name} is compressed (method ${e.method}); torch.save stores entries uncompressed — re-save the checkpoint with torch.save`,
      file,
    );
  if (e.headerOffset + 30 > src.size) throw new CheckpointError(`${file}: zip entry ${e.name} lies outside the file; the file is truncated`, file);
  const h = await src.read(e.headerOffset, 30);
  const v = new DataView(h.buffer);
  if (v.getUint32(0, true) !== LOCAL_SIG) throw new CheckpointError(`${file}: zip entry ${e.name} has no local header at ${e.headerOffset}`, file);
  const start = e.headerOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
  if (start + e.size > src.size)
    throw new CheckpointError(`${file}: zip entry ${e.name} needs bytes [${start}, ${start + e.size}) but the file has ${src.size}; it is truncated`, file);
  return start;
}

// ---- opening a checkpoint ----------------------------------------------------------------------

/** Where a storage's bytes are in the file. */
interface StorageLocation {
  offset: number;
  nbytes: number;
}

/** An opened checkpoint: its unpickled object tree (tensors as unread `TensorRef`s) and how to read storages. */
export class TorchCheckpoint {
  constructor(
    readonly file: string,
    readonly format: TorchFormat,
    /** The unpickled object: Maps for dicts, arrays for lists/tuples, TensorRef leaves, inert PyObjects. */
    readonly root: unknown,
    private readonly src: ByteSource,
    private readonly locate: (s: StorageRef) => Promise<StorageLocation>,
    readonly bigEndian: boolean,
  ) {}

  /**
   * Read these tensors, one storage at a time: each storage's bytes are read once, the tensors that
   * view it are cut out (strided views made contiguous, half precisions widened to float32), and the
   * storage is dropped before the next is read.
   */
  async read(refs: ReadonlyMap<string, TensorRef>): Promise<Map<string, Tensor>> {
    const byStorage = new Map<string, [string, TensorRef][]>();
    for (const [name, ref] of refs) {
      const group = byStorage.get(ref.storage.key) ?? [];
      group.push([name, ref]);
      byStorage.set(ref.storage.key, group);
    }
    const out = new Map<string, Tensor>();
    for (const group of byStorage.values()) {
      const storage = group[0]![1].storage;
      const item = ITEM_SIZE[storage.dtype];
      const { offset, nbytes } = await this.locate(storage);
      const bytes = await this.src.read(offset, nbytes);
      if (this.bigEndian && item > 1) for (let i = 0; i < bytes.length; i += item) bytes.subarray(i, i + item).reverse();
      let whole = false; // the storage buffer is handed to at most one tensor; the others get copies
      for (const [name, ref] of group) {
        const n = ref.numel * item;
        let data: Uint8Array;
        if (ref.contiguous && ref.offset === 0 && n === bytes.length && !whole) {
          data = bytes;
          whole = true;
        } else if (ref.contiguous) data = bytes.slice(ref.offset * item, ref.offset * item + n);
        else data = gather(bytes, ref, item);
        out.set(name, decodeTensor({ dtype: storage.dtype, shape: [...ref.shape], begin: 0, end: n }, data, this.file, name));
      }
    }
    // In the state dict's order, not the storages'.
    return new Map([...refs.keys()].map((k) => [k, out.get(k)!] as const));
  }
}

/** A strided view copied out element by element (odometer over the indices), contiguous row-major. */
function gather(storage: Uint8Array, ref: TensorRef, item: number): Uint8Array {
  const { shape, stride } = ref;
  const rank = shape.length;
  const out = new Uint8Array(ref.numel * item);
  if (out.length === 0) return out;
  const idx = new Array<number>(rank).fill(0);
  let src = ref.offset;
  for (let o = 0; o < out.length; o += item) {
    out.set(storage.subarray(src * item, src * item + item), o);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      src += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      src -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Open a `torch.save` file (either format): parse its pickle; no tensor data is read yet. */
export async function openTorchCheckpoint(src: ByteSource, file: string): Promise<TorchCheckpoint> {
  const head = await src.read(0, Math.min(16, src.size));
  const format = sniffWeightsFormat(head);
  if (format === 'zip') return openZip(src, file);
  if (format === 'legacy') return openLegacy(src, file);
  throw new CheckpointError(`${file}: not a PyTorch checkpoint (neither a torch.save zip nor a legacy pickle)`, file);
}

async function openZip(src: ByteSource, file: string): Promise<TorchCheckpoint> {
  const entries = await readZipDirectory(src, file);
  // torch names the top folder after the file it saved to; any single folder will do.
  const pkl = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    const names = [...entries.keys()];
    throw new CheckpointError(
      `${file}: a zip without <folder>/data.pkl, so not a torch.save checkpoint (entries: ${names.slice(0, 6).join(', ') || 'none'}${names.length > 6 ? ', …' : ''})`,
      file,
    );
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const read = async (e: ZipEntry) => src.read(await entryDataOffset(src, e, file), e.size);
  const order = entries.get(`${prefix}byteorder`);
  let bigEndian = false;
  if (order) {
    const text = new TextDecoder().decode(await read(order)).trim();
    if (text !== 'little' && text !== 'big') throw new CheckpointError(`${file}: byteorder is '${text}', expected 'little' or 'big'`, file);
    bigEndian = text === 'big';
  }
  const storages = new Map<string, StorageRef>();
  const { value } = unpickle(await read(entries.get(pkl)!), {
    file: `${file} (${pkl})`,
    callables: torchCallables(file),
    persistentLoad: storageLoader(file, storages),
  });
  const locate = async (s: StorageRef): Promise<StorageLocation> => {
    const e = entries.get(`${prefix}data/${s.key}`);
    if (!e) throw new CheckpointError(`${file}: storage ${s.key} is missing (no zip entry ${prefix}data/${s.key})`, file);
    const nbytes = s.numel * ITEM_SIZE[s.dtype];
    if (e.size < nbytes) throw new CheckpointError(`${file}: storage ${s.key} has ${e.size} bytes but its ${s.numel} ${s.dtype} elements need ${nbytes}`, file);
    return { offset: await entryDataOffset(src, e, file), nbytes };
  };
  return new TorchCheckpoint(file, 'zip', value, src, locate, bigEndian);
}

/** The first pickle of a legacy torch.save file: this number. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/**
 * Legacy format: pickles of the magic number, the protocol version, system info, the object (with
 * storage ids), the list of storage keys; then per key an int64 element count and the raw elements,
 * little-endian (torch writes them so whatever the machine).
 */
async function openLegacy(src: ByteSource, file: string): Promise<TorchCheckpoint> {
  const storages = new Map<string, StorageRef>();
  // The pickles are small but of unknown length: read a prefix, and more if they do not end in it.
  let chunk = Math.min(src.size, 1 << 20);
  for (;;) {
    const bytes = await src.read(0, chunk);
    try {
      storages.clear();
      let at = 0;
      const next = (what: string, persistent = false): unknown => {
        const r = unpickle(bytes, {
          file: `${file} (${what})`,
          start: at,
          callables: torchCallables(file),
          persistentLoad: persistent ? storageLoader(file, storages) : undefined,
        });
        at = r.end;
        return r.value;
      };
      const magic = next('magic number');
      if (magic !== LEGACY_MAGIC) throw new CheckpointError(`${file}: a pickle, but not a torch.save checkpoint (no torch magic number)`, file);
      const protocol = next('protocol version');
      if (protocol !== LEGACY_PROTOCOL) throw new CheckpointError(`${file}: legacy torch.save protocol ${describe(protocol)}, expected ${LEGACY_PROTOCOL}`, file);
      next('system info');
      const root = next('object', true);
      const keys = next('storage keys');
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new CheckpointError(`${file}: the storage key list is ${describe(keys)}`, file);
      const located = await locateLegacyStorages(src, file, at, keys as string[], storages);
      return new TorchCheckpoint(file, 'legacy', root, src, async (s) => located.get(s.key)!, false);
    } catch (err) {
      if (err instanceof PickleTruncatedError && chunk < src.size) {
        chunk = Math.min(src.size, chunk * 4);
        continue;
      }
      throw err;
    }
  }
}

async function locateLegacyStorages(
  src: ByteSource,
  file: string,
  start: number,
  keys: string[],
  storages: Map<string, StorageRef>,
): Promise<Map<string, StorageLocation>> {
  const out = new Map<string, StorageLocation>();
  let pos = start;
  for (const key of keys) {
    const s = storages.get(key);
    if (!s) throw new CheckpointError(`${file}: storage ${key} is listed but no tensor uses it`, file);
    if (pos + 8 > src.size) throw new CheckpointError(`${file}: storage ${key} starts at ${pos}, past the end of the file (${src.size} bytes); it is truncated`, file);
    const count = Number(new DataView((await src.read(pos, 8)).buffer).getBigInt64(0, true));
    if (count !== s.numel) throw new CheckpointError(`${file}: storage ${key} holds ${count} elements but the pickle says ${s.numel}`, file);
    const nbytes = count * ITEM_SIZE[s.dtype];
    if (pos + 8 + nbytes > src.size)
      throw new CheckpointError(`${file}: storage ${key} needs bytes [${pos + 8}, ${pos + 8 + nbytes}) but the file has ${src.size}; it is truncated`, file);
    out.set(key, { offset: pos + 8, nbytes });
    pos += 8 + nbytes;
  }
  for (const key of storages.keys()) if (!out.has(key)) throw new CheckpointError(`${file}: storage ${key} is used but not in the file`, file);
  return out;
}

// ---- the state dict inside a checkpoint --------------------------------------------------------

/** Keys under which training scripts store the weights, in the order they are picked by default. */
export const STATE_DICT_KEYS = ['model', 'state_dict', 'model_ema', 'state_dict_ema', 'module'] as const;

function isStateDict(v: unknown): v is Map<unknown, unknown> {
  return v instanceof Map && [...v.values()].some((t) => t instanceof TensorRef) && [...v.keys()].every((k) => typeof k === 'string');
}

export interface PickedStateDict {
  refs: Map<string, TensorRef>;
  info: CheckpointInfo;
}

/**
 * The state dict of a checkpoint: under `key` when given, else under the first of STATE_DICT_KEYS
 * that holds one, else the top-level dict itself when it is one (a bare state dict), else the only
 * dict of tensors. DDP's `module.` prefix is stripped; entries that are not tensors are skipped.
 */
export function pickStateDict(ckpt: TorchCheckpoint, key?: string): PickedStateDict {
  const { root, file } = ckpt;
  const top = root instanceof Map ? root : new Map();
  const candidates = [...top.entries()].filter(([k, v]) => typeof k === 'string' && isStateDict(v)).map(([k]) => k as string);
  const choices = () =>
    candidates.length ? `it holds state dicts under ${candidates.map((c) => `'${c}'`).join(', ')}` : 'it holds no dict of tensors under any top-level key';
  let chosen: Map<unknown, unknown>;
  let used: string | null;
  if (key !== undefined) {
    if (!(root instanceof Map) || !top.has(key))
      throw new CheckpointError(`${file}: no '${key}' in the checkpoint (weights key); ${choices()}${isStateDict(root) ? ', or is a bare state dict' : ''}`, file);
    if (!isStateDict(top.get(key))) throw new CheckpointError(`${file}: '${key}' is ${describe(top.get(key))}, not a state dict; ${choices()}`, file);
    [chosen, used] = [top.get(key) as Map<unknown, unknown>, key];
  } else {
    const preferred = STATE_DICT_KEYS.find((k) => candidates.includes(k));
    if (preferred) [chosen, used] = [top.get(preferred) as Map<unknown, unknown>, preferred];
    else if (isStateDict(root)) [chosen, used] = [root, null];
    else if (candidates.length === 1) [chosen, used] = [top.get(candidates[0]) as Map<unknown, unknown>, candidates[0]!];
    else
      throw new CheckpointError(
        `${file}: cannot tell which state dict to load: ${choices()}${root instanceof Map ? '' : ` (the file holds ${describe(root)})`}; choose one with --weights-key / { weightsKey }`,
        file,
      );
  }
  const skipped: string[] = [];
  let refs = new Map<string, TensorRef>();
  for (const [k, v] of chosen) {
    if (v instanceof TensorRef) refs.set(k as string, v);
    else skipped.push(k as string);
  }
  let strippedPrefix: string | null = null;
  if (refs.size && [...refs.keys()].every((k) => k.startsWith('module.'))) {
    strippedPrefix = 'module.';
    refs = new Map([...refs].map(([k, v]) => [k.slice('module.'.length), v] as const));
  }
  return { refs, info: { format: ckpt.format, stateDictKey: used, candidates, strippedPrefix, skipped } };
}

/** Open, pick the state dict and read its tensors (the optimizer state and the rest stay unread). */
export async function readTorchStateDict(
  src: ByteSource,
  file: string,
  opts: { weightsKey?: string } = {},
): Promise<{ tensors: Map<string, Tensor>; info: CheckpointInfo }> {
  const ckpt = await openTorchCheckpoint(src, file);
  const { refs, info } = pickStateDict(ckpt, opts.weightsKey);
  return { tensors: await ckpt.read(refs), info };
}

/** One line for the user: which state dict of the checkpoint was used. */
export function describeCheckpoint(file: string, info: CheckpointInfo): string {
  const others = info.candidates.filter((c) => c !== info.stateDictKey);
  const where = info.stateDictKey === null ? 'the bare state dict' : `the state dict under '${info.stateDictKey}'`;
  return (
    `${file}: loaded ${where}` +
    (info.strippedPrefix ? ` (prefix '${info.strippedPrefix}' stripped)` : '') +
    (others.length ? `; also in the file: ${others.map((c) => `'${c}'`).join(', ')} (choose with --weights-key)` : '')
  );
}
