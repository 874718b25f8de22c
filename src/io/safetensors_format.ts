/**
 * The safetensors format, as pure functions over bytes: header parsing and validation, tensor
 * decoding and serialization. No `node:` imports — this module is shared with the browser build,
 * where the "file" is an ArrayBuffer from fetch(). The Node adapter with file handles and atomic
 * writes is `safetensors.ts`.
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON
 * (`{ "<key>": { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {string: string} }`),
 * then the data area. Offsets are relative to the start of the data area.
 *
 * Files come from the internet (hub downloads), so every field is checked before it is used:
 * a corrupt header must produce an error naming the file and tensor, never a silently wrong tensor
 * or a huge allocation.
 */
import { SafetensorsError } from '../errors.js';
import { Tensor, sizeOf, type DType, type TensorData } from '../tensor.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each supported stored dtype. */
export const ITEM_SIZE: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/**
 * The Tensor dtype that `decodeTensor` produces for each stored dtype. Half precisions are upcast
 * because models compute in float32; narrow integers widen to int32 (the narrowest signed integer
 * our Tensor has).
 */
export const DECODED_DTYPE: Readonly<Record<SafetensorsDType, DType>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float32',
  BF16: 'float32',
  I64: 'int64',
  I32: 'int32',
  I16: 'int32',
  I8: 'int32',
  U8: 'uint8',
  BOOL: 'bool',
};

/** Stored dtype written for each Tensor dtype. float16 tensors hold raw IEEE half bit patterns. */
const STORED_DTYPE: Readonly<Record<DType, SafetensorsDType>> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  int64: 'I64',
  int32: 'I32',
  uint8: 'U8',
  bool: 'BOOL',
};

/**
 * Headers of real checkpoints are tens to hundreds of KiB; the reference implementation refuses
 * anything above 100 MB. A larger value means a corrupt or hostile file, and believing it would
 * make us allocate that much before noticing.
 */
/**
 * `__metadata__` key under which our writer records the SHA-256 (hex) of the whole file but the
 * value itself: the parsed header (tensor names, dtypes, shapes, offsets and the other metadata
 * entries; see `checksumPreimage`) followed by the data area. Our reader verifies it: flipped bits on
 * disk otherwise load silently and show up much later as NaN losses or 10% accuracy, and an edited
 * metadata entry (a checkpoint's step, RNG state or sampler position) would resume a different run.
 * Files written by other tools lack the key; then there is nothing to verify.
 */
export const CHECKSUM_KEY = 'visionmix_sha256_file';

/**
 * The key of older visionmix files: the SHA-256 of the data area only (metadata not covered). Still
 * verified when a file has it and lacks `CHECKSUM_KEY`; never written any more.
 */
export const DATA_CHECKSUM_KEY = 'visionmix_sha256';

export const MAX_HEADER_LENGTH = 100 * 1024 * 1024;

const METADATA_KEY = '__metadata__';

export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range [begin, end) relative to the start of the data area (file position = dataStart + begin). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N: the length of the JSON header in bytes. */
  headerLength: number;
  /** File position of the data area: 8 + N. */
  dataStart: number;
  /** Tensors in data-area order (ascending begin), which is also the order to read them in. */
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

function fail(file: string, message: string, tensor?: string): never {
  const where = tensor === undefined ? `safetensors file '${file}'` : `safetensors file '${file}', tensor '${tensor}'`;
  throw new SafetensorsError(`${where}: ${message}`, file, tensor);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Validate the 8-byte length prefix and return N. Split out so that a reader with random access
 * (a file handle) knows how many bytes to fetch before calling `parseSafetensorsHeader`.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8)
    fail(file, `file is ${fileSize} bytes, shorter than the 8-byte header length prefix; it is truncated or not a safetensors file`);
  if (prefix.length < 8) fail(file, `need the first 8 bytes of the file to read the header length, got ${prefix.length}`);
  // Read as BigInt: a corrupt u64 can exceed 2^53, and comparing it as a Number would round.
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_LENGTH))
    fail(
      file,
      `absurd header length ${n} bytes (limit ${MAX_HEADER_LENGTH}, file size ${fileSize}); the file is corrupt or not a safetensors file`,
    );
  if (n > BigInt(fileSize - 8))
    fail(
      file,
      `header length ${n} bytes exceeds the ${fileSize - 8} bytes that follow the 8-byte prefix (file size ${fileSize}); the file is truncated or not a safetensors file`,
    );
  return Number(n);
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (!isPlainObject(value)) fail(file, `${METADATA_KEY} must be an object of string to string, got ${describe(value)}`);
  for (const [k, v] of Object.entries(value))
    if (typeof v !== 'string') fail(file, `${METADATA_KEY} value for '${k}' must be a string, got ${describe(v)}`);
  // fromEntries defines own properties, so a key named "__proto__" cannot change the prototype.
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function parseEntry(key: string, value: unknown, file: string): SafetensorsEntry {
  if (!isPlainObject(value)) fail(file, `entry must be an object with dtype, shape and data_offsets, got ${describe(value)}`, key);
  const fields = Object.keys(value).sort();
  const expected = ['data_offsets', 'dtype', 'shape'];
  if (fields.length !== 3 || fields.some((f, i) => f !== expected[i]))
    fail(file, `entry must have exactly the fields dtype, shape, data_offsets; got ${fields.join(', ') || 'none'}`, key);

  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !Object.hasOwn(ITEM_SIZE, dtype))
    fail(
      file,
      `unsupported dtype ${typeof dtype === 'string' ? `'${dtype}'` : describe(dtype)} (supported: ${Object.keys(ITEM_SIZE).join(', ')})`,
      key,
    );
  const stDtype = dtype as SafetensorsDType;

  if (!Array.isArray(shape)) fail(file, `shape must be an array of non-negative integers, got ${describe(shape)}`, key);
  for (const d of shape)
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      fail(file, `shape ${JSON.stringify(shape)} must contain only non-negative integers (bad dimension ${JSON.stringify(d)})`, key);
  const dims = shape as number[];

  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
  )
    fail(file, `data_offsets must be two non-negative integers [begin, end], got ${JSON.stringify(offsets)}`, key);
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(file, `data_offsets [${begin}, ${end}] has begin > end`, key);

  const numel = sizeOf(dims);
  const needed = numel * ITEM_SIZE[stDtype];
  if (!Number.isSafeInteger(needed)) fail(file, `shape ${shapeText(dims)} is too large to address`, key);
  if (end - begin !== needed)
    fail(
      file,
      `size mismatch: shape ${shapeText(dims)} of ${stDtype} needs ${needed} bytes (${numel} elements × ${ITEM_SIZE[stDtype]}), but data_offsets [${begin}, ${end}] span ${end - begin} bytes`,
      key,
    );
  return { dtype: stDtype, shape: [...dims], begin, end };
}

/**
 * Parse and validate a header. `prefix` must hold at least the first 8 + N bytes of the file
 * (the whole file is fine); `fileSize` is the size of the whole file, so that offsets can be
 * checked against the data area without reading it.
 */
export function parseSafetensorsHeader(prefix: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const headerLength = readHeaderLength(prefix, fileSize, file);
  const dataStart = 8 + headerLength;
  if (prefix.length < dataStart)
    fail(file, `need the first ${dataStart} bytes of the file to parse the header, got ${prefix.length}`);

  let text: string;
  try {
    // fatal: reject invalid UTF-8 instead of silently turning it into U+FFFD in tensor names.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(prefix.subarray(8, dataStart));
  } catch {
    fail(file, `header (${headerLength} bytes) is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(file, `header (${headerLength} bytes) is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(json)) fail(file, `header must be a JSON object, got ${describe(json)}`);

  let metadata: Record<string, string> = {};
  const parsed: [string, SafetensorsEntry][] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key === METADATA_KEY) metadata = parseMetadata(value, file);
    else parsed.push([key, parseEntry(key, value, file)]);
  }

  checkLayout(parsed, fileSize - dataStart, fileSize, file);
  return { headerLength, dataStart, entries: new Map(parsed), metadata };
}

/**
 * The tensors must tile the data area exactly: no overlaps (two tensors aliasing bytes is how a
 * crafted file smuggles inconsistent data past a check), no holes and nothing after the last tensor
 * (both mean the header and data disagree, e.g. a dropped key). Sorts `entries` in place by offset.
 */
function checkLayout(entries: [string, SafetensorsEntry][], dataLength: number, fileSize: number, file: string): void {
  entries.sort(([ka, a], [kb, b]) => a.begin - b.begin || a.end - b.end || (ka < kb ? -1 : ka > kb ? 1 : 0));

  // A header that is self-consistent (tensors back to back from 0) but claims more data than the
  // file has is what an interrupted download looks like: say "truncated" rather than "out of range".
  let cursor = 0;
  let contiguous = true;
  for (const [, e] of entries) {
    if (e.begin === e.end) continue;
    if (e.begin !== cursor) contiguous = false;
    cursor = Math.max(cursor, e.end);
  }
  const claimed = cursor;
  if (contiguous && claimed > dataLength) {
    const [key, e] = entries.find(([, e]) => e.end > dataLength)!;
    fail(
      file,
      `file is truncated: the header describes ${claimed} bytes of tensor data but only ${dataLength} bytes follow the header (file size ${fileSize}, expected ${fileSize + claimed - dataLength}); this tensor needs bytes [${e.begin}, ${e.end})`,
      key,
    );
  }
  for (const [key, e] of entries)
    if (e.end > dataLength)
      fail(file, `data_offsets [${e.begin}, ${e.end}] lie outside the data area of ${dataLength} bytes (file size ${fileSize})`, key);

  let prevKey: string | undefined;
  cursor = 0;
  for (const [key, e] of entries) {
    // Empty tensors own no bytes, so they can neither overlap nor leave a hole.
    if (e.begin === e.end) continue;
    if (e.begin < cursor)
      fail(file, `data_offsets [${e.begin}, ${e.end}] overlap tensor '${prevKey}' which ends at ${cursor}`, key);
    if (e.begin > cursor)
      fail(
        file,
        prevKey === undefined
          ? `hole in the data area: bytes [0, ${e.begin}) before the first tensor belong to no tensor`
          : `hole in the data area: bytes [${cursor}, ${e.begin}) between tensor '${prevKey}' and this one belong to no tensor`,
        key,
      );
    cursor = e.end;
    prevKey = key;
  }
  if (cursor < dataLength)
    fail(
      file,
      `trailing garbage: ${dataLength - cursor} bytes after the last tensor (data area is ${dataLength} bytes, tensors end at ${cursor})`,
      prevKey,
    );
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Safetensors is little-endian; on a (rare) big-endian host every element must be byte-swapped. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapInPlace(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

/**
 * Bytes laid out so that a typed array of `itemSize` elements can view them: typed arrays need an
 * element-aligned byte offset, and a tensor inside a file buffer can start anywhere.
 */
function viewable(bytes: Uint8Array, itemSize: number): Uint8Array {
  if (HOST_LITTLE_ENDIAN && bytes.byteOffset % itemSize === 0) return bytes;
  const copy = bytes.slice();
  if (!HOST_LITTLE_ENDIAN && itemSize > 1) swapInPlace(copy, itemSize);
  return copy;
}

let halfTable: Float32Array | undefined;

/** IEEE 754 binary16 bit pattern → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals: no implicit leading 1
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** All 65536 halves precomputed (256 KiB): a table lookup beats bit twiddling on multi-GB weights. */
function halfLookup(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  return halfTable;
}

/**
 * Convert one tensor's bytes (exactly `entry.end - entry.begin` of them, e.g. read from the file
 * at dataStart + begin) to a Tensor. When the bytes are aligned and no conversion is needed, the
 * result is a view sharing their buffer — callers that hand in a whole-file buffer get zero-copy
 * tensors and must not reuse that buffer.
 */
export function decodeTensor(entry: SafetensorsEntry, bytes: Uint8Array, file: string, key: string): Tensor {
  const expected = entry.end - entry.begin;
  if (bytes.length !== expected)
    fail(file, `expected ${expected} bytes of ${entry.dtype} data for shape ${shapeText(entry.shape)}, got ${bytes.length}`, key);
  const n = sizeOf(entry.shape);
  const src = viewable(bytes, ITEM_SIZE[entry.dtype]);
  const { buffer, byteOffset } = src;
  switch (entry.dtype) {
    case 'F64':
      return new Tensor(new Float64Array(buffer, byteOffset, n), entry.shape, 'float64');
    case 'F32':
      return new Tensor(new Float32Array(buffer, byteOffset, n), entry.shape, 'float32');
    case 'F16': {
      const half = new Uint16Array(buffer, byteOffset, n);
      const table = halfLookup();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[half[i]!]!;
      return new Tensor(out, entry.shape, 'float32');
    }
    case 'BF16': {
      // bfloat16 is the high half of a float32, so widening is a shift that keeps NaN payloads exact.
      const bf = new Uint16Array(buffer, byteOffset, n);
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = bf[i]! << 16;
      return new Tensor(out, entry.shape, 'float32');
    }
    case 'I64':
      return new Tensor(new BigInt64Array(buffer, byteOffset, n), entry.shape, 'int64');
    case 'I32':
      return new Tensor(new Int32Array(buffer, byteOffset, n), entry.shape, 'int32');
    case 'I16':
      return new Tensor(Int32Array.from(new Int16Array(buffer, byteOffset, n)), entry.shape, 'int32');
    case 'I8':
      return new Tensor(Int32Array.from(new Int8Array(buffer, byteOffset, n)), entry.shape, 'int32');
    case 'U8':
      return new Tensor(new Uint8Array(buffer, byteOffset, n), entry.shape, 'uint8');
    case 'BOOL':
      return new Tensor(new Uint8Array(buffer, byteOffset, n), entry.shape, 'bool');
  }
}

// ---------------------------------------------------------------------------------------------
// Serialization

export interface SafetensorsLayout {
  /** The 8-byte length prefix plus the space-padded JSON header. */
  header: Uint8Array;
  /** Each tensor's bytes, in file order, to be written right after `header`. */
  chunks: Uint8Array[];
  /** Total file size. */
  byteLength: number;
}

const IN_MEMORY = '<in-memory>';

/**
 * Plan a file without copying tensor data, so the Node writer can stream multi-GB state dicts
 * chunk by chunk. Tensors are ordered by key, except that larger element sizes come first: with the
 * header padded to 8 bytes this puts every tensor at an element-aligned offset, so readers (ours
 * included) can view the data without copying. For the usual all-float32 state dict this is plain
 * key order.
 */
export function layoutSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
  file: string = IN_MEMORY,
): SafetensorsLayout {
  const items: [string, Tensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const planned = items.map(([key, t]) => {
    if (key === METADATA_KEY) fail(file, `'${METADATA_KEY}' is reserved and cannot name a tensor`, key);
    const dtype = STORED_DTYPE[t.dtype];
    if (dtype === undefined) fail(file, `cannot store tensor dtype '${String(t.dtype)}'`, key);
    const itemSize = ITEM_SIZE[dtype];
    const data: TensorData = t.data;
    if (data.BYTES_PER_ELEMENT !== itemSize || data.length !== sizeOf(t.shape))
      fail(
        file,
        `tensor data (${data.constructor.name} of ${data.length} elements) does not match dtype ${t.dtype} and shape ${shapeText(t.shape)}`,
        key,
      );
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!HOST_LITTLE_ENDIAN && itemSize > 1) {
      bytes = bytes.slice();
      swapInPlace(bytes, itemSize);
    }
    return { key, dtype, shape: [...t.shape], bytes, itemSize };
  });
  planned.sort((a, b) => b.itemSize - a.itemSize || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') fail(file, `${METADATA_KEY} value for '${k}' must be a string, got ${describe(v)}`);
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const p of planned) {
    // defineProperty: a tensor named "__proto__" must become a key, not a prototype change.
    Object.defineProperty(header, p.key, {
      value: { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + p.bytes.length] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    offset += p.bytes.length;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces (valid JSON whitespace) so the data area starts 8-byte aligned.
  const n = Math.ceil(json.length / 8) * 8;
  if (n > MAX_HEADER_LENGTH) fail(file, `header would be ${n} bytes, above the ${MAX_HEADER_LENGTH}-byte limit readers enforce`);
  const head = new Uint8Array(8 + n).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true);
  head.set(json, 8);
  return { header: head, chunks: planned.map((p) => p.bytes), byteLength: head.length + offset };
}

/** The whole file in memory (for the browser, or small files). */
export function serializeSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const { header, chunks, byteLength } = layoutSafetensors(tensors, metadata);
  const out = new Uint8Array(byteLength);
  out.set(header, 0);
  let pos = header.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Decode every tensor of a whole file held in memory (the browser path). */
export function parseSafetensors(bytes: Uint8Array, file: string = IN_MEMORY): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const header = parseSafetensorsHeader(bytes, bytes.length, file);
  const tensors = new Map<string, Tensor>();
  for (const [key, e] of header.entries)
    tensors.set(key, decodeTensor(e, bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end), file, key));
  return { tensors, metadata: header.metadata };
}

/**
 * What our writer's file checksum covers besides the data area: the header as parsed (every
 * tensor's name, dtype, shape and offsets, in file order, and every metadata entry but the checksum
 * values themselves, sorted), as canonical JSON. Hashed in front of the data bytes, it makes an edit
 * anywhere in the file — a tensor's bytes, its shape, or a checkpoint's `"step":93` in the metadata —
 * a checksum mismatch. Built from the parsed header, not the header bytes, so the padding and the
 * checksum's own value do not enter it.
 */
export function checksumPreimage(entries: ReadonlyMap<string, SafetensorsEntry>, metadata: Readonly<Record<string, string>>, exclude: readonly string[]): Uint8Array {
  const meta = Object.keys(metadata)
    .filter((k) => !exclude.includes(k))
    .sort()
    .map((k) => [k, metadata[k]!]);
  const tensors = [...entries].map(([k, e]) => [k, e.dtype, e.shape, e.begin, e.end]);
  return new TextEncoder().encode(JSON.stringify({ tensors, metadata: meta }) + '\n');
}
