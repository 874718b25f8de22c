/**
 * The IDX format (used by MNIST and Fashion-MNIST): a tiny header followed by a dense array.
 *
 *   bytes 0-1   0x00 0x00                      magic
 *   byte  2     type code                      0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
 *                                              0x0D float32, 0x0E float64
 *   byte  3     number of dimensions (ndims)
 *   then        ndims × uint32 big-endian      the size of each dimension
 *   then        the data, row-major, multi-byte values big-endian
 *
 * This module is pure (no Node imports) so that it also runs in browsers; reading files and
 * un-gzipping them is the job of `io/idx_file.ts`.
 */
import { DataError } from '../errors.js';

export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  /** Where the bytes came from; carried along so that later checks can name the file at fault. */
  file: string;
  dtype: IdxDType;
  dims: number[];
  data: IdxData;
}

/** Type code ↔ element type. The order of the table is the order of the format's definition. */
const TYPES: readonly { code: number; dtype: IdxDType; bytes: number }[] = [
  { code: 0x08, dtype: 'uint8', bytes: 1 },
  { code: 0x09, dtype: 'int8', bytes: 1 },
  { code: 0x0b, dtype: 'int16', bytes: 2 },
  { code: 0x0c, dtype: 'int32', bytes: 4 },
  { code: 0x0d, dtype: 'float32', bytes: 4 },
  { code: 0x0e, dtype: 'float64', bytes: 8 },
];

const hex = (b: number): string => '0x' + b.toString(16).padStart(2, '0');

/**
 * Parse an (already decompressed) IDX file. `file` is only used in error messages.
 *
 * uint8 and int8 data are returned as views on `bytes` (no copy: the training images of
 * Fashion-MNIST are 47 MB); wider types are decoded from big-endian into a new array.
 * Throws `DataError` naming the file for a bad magic number, an unknown type code, a truncated
 * header, and for data that is shorter or longer than the dimensions declare.
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4)
    throw new DataError(`${file}: not an IDX file: only ${bytes.length} bytes, the header alone needs at least 4`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    // A common mistake is handing us the .gz file itself; say so instead of just "bad magic".
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b ? ' (this looks gzip-compressed: decompress it first, e.g. with readIdxFile)' : '';
    throw new DataError(
      `${file}: not an IDX file: magic bytes are ${hex(bytes[0]!)} ${hex(bytes[1]!)}, expected 0x00 0x00${gz}`,
    );
  }
  const type = TYPES.find((t) => t.code === bytes[2]);
  if (!type)
    throw new DataError(
      `${file}: unknown IDX type code ${hex(bytes[2]!)} (known: ${TYPES.map((t) => `${hex(t.code)} ${t.dtype}`).join(', ')})`,
    );
  const ndims = bytes[3]!;
  if (ndims === 0) throw new DataError(`${file}: IDX header declares 0 dimensions; expected at least 1`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes)
    throw new DataError(
      `${file}: IDX header is truncated: ${ndims} dimensions need a ${headerBytes}-byte header but the file has ${bytes.length} bytes`,
    );

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));

  // Compare sizes in bytes. The product of up to 255 uint32 dims can exceed 2^53, so stop
  // multiplying once it is clearly larger than any file could be (the comparison still fails).
  let count = 1;
  for (const d of dims) count = Math.min(count * d, Number.MAX_SAFE_INTEGER);
  const expected = Math.min(count * type.bytes, Number.MAX_SAFE_INTEGER);
  const actual = bytes.length - headerBytes;
  if (actual !== expected) {
    const what = actual < expected ? 'truncated' : `followed by ${actual - expected} trailing bytes`;
    throw new DataError(
      `${file}: IDX data is ${what}: dims [${dims.join(', ')}] of ${type.dtype} need ${expected} bytes ` +
        `after the ${headerBytes}-byte header, but the file has ${actual} (${bytes.length} in all)`,
    );
  }

  const offset = bytes.byteOffset + headerBytes;
  let data: IdxData;
  switch (type.dtype) {
    case 'uint8':
      data = new Uint8Array(bytes.buffer, offset, count);
      break;
    case 'int8':
      data = new Int8Array(bytes.buffer, offset, count);
      break;
    default:
      data = decodeBigEndian(view, headerBytes, type.dtype, count);
  }
  return { file, dtype: type.dtype, dims, data };
}

/**
 * Multi-byte values are big-endian and, after a header of 4 + 4·ndims bytes, generally not aligned
 * for a typed-array view, so they are read one by one through the DataView.
 */
function decodeBigEndian(view: DataView, start: number, dtype: IdxDType, count: number): IdxData {
  switch (dtype) {
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(start + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(start + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(start + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(start + 8 * i, false);
      return out;
    }
    default:
      throw new Error(`decodeBigEndian: ${dtype} is a single-byte type`); // unreachable
  }
}

/**
 * Serialise an array to IDX bytes (uncompressed). The inverse of `parseIdx`; used to write the
 * bundled Fashion-MNIST subset. Throws `DataError` if `data` does not match `dims`/`dtype`.
 */
export function encodeIdx(array: { dtype: IdxDType; dims: readonly number[]; data: IdxData }, file = 'IDX array'): Uint8Array {
  const type = TYPES.find((t) => t.dtype === array.dtype);
  if (!type) throw new DataError(`${file}: cannot encode unknown IDX dtype ${String(array.dtype)}`);
  const { dims, data } = array;
  if (dims.length < 1 || dims.length > 255)
    throw new DataError(`${file}: IDX needs 1 to 255 dimensions, got ${dims.length}`);
  if (!dims.every((d) => Number.isInteger(d) && d >= 0 && d <= 0xffffffff))
    throw new DataError(`${file}: IDX dims must be integers in [0, 2^32), got [${dims.join(', ')}]`);
  const count = dims.reduce((a, d) => a * d, 1);
  if (data.length !== count)
    throw new DataError(`${file}: data has ${data.length} elements but dims [${dims.join(', ')}] need ${count}`);
  if (dtypeOfData(data) !== array.dtype)
    throw new DataError(`${file}: dtype is ${array.dtype} but the data is a ${data.constructor.name}`);

  const headerBytes = 4 + 4 * dims.length;
  const out = new Uint8Array(headerBytes + count * type.bytes);
  const view = new DataView(out.buffer);
  out[2] = type.code;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  // Bytes need no conversion: one bulk copy (the common case: images and labels).
  if (data instanceof Uint8Array) {
    out.set(data, headerBytes);
    return out;
  }
  for (let i = 0; i < count; i++) {
    const p = headerBytes + i * type.bytes;
    const v = data[i]!;
    switch (type.dtype) {
      case 'int8':
        view.setInt8(p, v);
        break;
      case 'int16':
        view.setInt16(p, v, false);
        break;
      case 'int32':
        view.setInt32(p, v, false);
        break;
      case 'float32':
        view.setFloat32(p, v, false);
        break;
      case 'float64':
        view.setFloat64(p, v, false);
        break;
    }
  }
  return out;
}

function dtypeOfData(data: IdxData): IdxDType {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}
