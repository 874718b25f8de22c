/**
 * Concrete tensors: a typed array plus a shape. This is what users hand to models and get back.
 * (Symbolic tensors used while tracing live in graph/ and are internal.)
 */
import { ShapeError } from './errors.js';

export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'float16'
      ? Uint16Array
      : D extends 'int64'
        ? BigInt64Array
        : D extends 'int32'
          ? Int32Array
          : Uint8Array;

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint16Array) return 'float16';
  if (data instanceof Uint8Array) return 'uint8';
  // Int8Array, Uint32Array, … have no dtype here: calling them uint8 would misread every value.
  throw new ShapeError(`Tensor: unsupported data type ${(data as object)?.constructor?.name ?? typeof data} (use Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array or Uint16Array for float16)`);
}

export function allocate(dtype: DType, n: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'float16':
      return new Uint16Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
  }
}

export class Tensor<D extends DType = DType> {
  readonly shape: number[];

  constructor(
    readonly data: TypedArrayFor<D>,
    shape: readonly number[],
    readonly dtype: D,
  ) {
    this.shape = [...shape];
    const n = sizeOf(shape);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new ShapeError(`Tensor: shape [${shape.join(',')}] must be non-negative integers`);
    if (data.length !== n)
      throw new ShapeError(`Tensor: data has ${data.length} elements but shape [${shape.join(',')}] needs ${n}`);
  }

  /**
   * Wrap (not copy) a typed array: the dtype follows the array type (Uint8Array → uint8).
   * A plain array is copied: JS numbers become float32 (what models take), bigints int64.
   * Anything else is a ShapeError, not a silently mistyped tensor.
   */
  static from(data: TensorData | readonly number[] | readonly bigint[], shape: readonly number[] = [data.length]): Tensor {
    if (Array.isArray(data)) {
      if (data.every((v) => typeof v === 'number')) return new Tensor(Float32Array.from(data as number[]), shape, 'float32');
      if (data.every((v) => typeof v === 'bigint')) return new Tensor(BigInt64Array.from(data as bigint[]), shape, 'int64');
      throw new ShapeError('Tensor.from: an array must hold only numbers (→ float32) or only bigints (→ int64)');
    }
    if (!ArrayBuffer.isView(data) || data instanceof DataView)
      throw new ShapeError(`Tensor.from: expected a typed array or an array of numbers, got ${data === null ? 'null' : typeof data}`);
    const t = data as TensorData;
    return new Tensor(t as TypedArrayFor<DType>, shape, dtypeOf(t));
  }

  static zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return new Tensor(allocate(dtype, sizeOf(shape)) as TypedArrayFor<DType>, shape, dtype);
  }

  get size(): number {
    return this.data.length;
  }

  /** The values as plain numbers (int64 converted). */
  toArray(): number[] {
    return Array.from(this.data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  /** View with another shape of the same size (shares data). */
  reshape(shape: readonly number[]): Tensor<D> {
    return new Tensor(this.data, shape, this.dtype);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(',')}])`;
  }
}
