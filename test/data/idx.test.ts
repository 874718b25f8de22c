import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataError } from '../../src/errors.js';
import { encodeIdx, parseIdx, type IdxArray } from '../../src/data/idx.js';
import { readIdxFile } from '../../src/io/idx_file.js';

/** A hand-built uint8 IDX file: magic, type 0x08, 3 dims [2, 2, 3], then 12 bytes 0..11. */
function handBuilt(): Uint8Array {
  const header = [0x00, 0x00, 0x08, 0x03, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
  return new Uint8Array([...header, ...Array.from({ length: 12 }, (_, i) => i)]);
}

/** Assert that `fn` throws a DataError whose message contains every one of `parts`. */
function throwsDataError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected DataError, got ${String(err)}`);
    for (const p of parts) assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}

test('parseIdx reads a hand-built uint8 file', () => {
  const a = parseIdx(handBuilt(), 'hand.idx');
  assert.equal(a.dtype, 'uint8');
  assert.deepEqual(a.dims, [2, 2, 3]);
  assert.ok(a.data instanceof Uint8Array);
  assert.deepEqual(Array.from(a.data), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(a.file, 'hand.idx');
});

test('parseIdx decodes big-endian multi-byte types', () => {
  // int16 [2]: -2 = ff fe, 258 = 01 02
  const i16 = parseIdx(new Uint8Array([0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x02]), 'i16');
  assert.equal(i16.dtype, 'int16');
  assert.deepEqual(Array.from(i16.data), [-2, 258]);
  // int32 [1]: 0x01020304
  const i32 = parseIdx(new Uint8Array([0, 0, 0x0c, 1, 0, 0, 0, 1, 1, 2, 3, 4]), 'i32');
  assert.deepEqual(Array.from(i32.data), [0x01020304]);
  // float32 [1]: 1.5 = 3f c0 00 00
  const f32 = parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0]), 'f32');
  assert.equal(f32.dtype, 'float32');
  assert.deepEqual(Array.from(f32.data), [1.5]);
  // int8 [2]
  const i8 = parseIdx(new Uint8Array([0, 0, 0x09, 1, 0, 0, 0, 2, 0xff, 0x7f]), 'i8');
  assert.deepEqual(Array.from(i8.data), [-1, 127]);
});

test('parseIdx: truncated data → DataError naming the file and the sizes', () => {
  const bytes = handBuilt().subarray(0, 16 + 10);
  throwsDataError(() => parseIdx(bytes, 'short.idx'), 'short.idx', 'truncated', '12', '10');
});

test('parseIdx: trailing bytes → DataError naming the file', () => {
  const bytes = new Uint8Array([...handBuilt(), 99, 99]);
  throwsDataError(() => parseIdx(bytes, 'long.idx'), 'long.idx', '2 trailing bytes');
});

test('parseIdx: bad magic, unknown type, truncated header → DataError naming the file', () => {
  const bad = handBuilt();
  bad[1] = 0x01;
  throwsDataError(() => parseIdx(bad, 'magic.idx'), 'magic.idx', 'magic');
  throwsDataError(() => parseIdx(gzipSync(handBuilt()), 'still.gz'), 'still.gz', 'gzip');
  const type = handBuilt();
  type[2] = 0x07;
  throwsDataError(() => parseIdx(type, 'type.idx'), 'type.idx', 'type code 0x07');
  throwsDataError(() => parseIdx(handBuilt().subarray(0, 9), 'header.idx'), 'header.idx', 'header is truncated');
  throwsDataError(() => parseIdx(new Uint8Array([0, 0]), 'tiny.idx'), 'tiny.idx');
});

test('encodeIdx round-trips every dtype', () => {
  const cases: Omit<IdxArray, 'file'>[] = [
    { dtype: 'uint8', dims: [2, 3], data: new Uint8Array([0, 1, 2, 253, 254, 255]) },
    { dtype: 'int8', dims: [3], data: new Int8Array([-128, 0, 127]) },
    { dtype: 'int16', dims: [2], data: new Int16Array([-32768, 32767]) },
    { dtype: 'int32', dims: [1, 2], data: new Int32Array([-5, 1 << 30]) },
    { dtype: 'float32', dims: [2], data: new Float32Array([0.25, -3e7]) },
    { dtype: 'float64', dims: [2], data: new Float64Array([Math.PI, -1e-300]) },
  ];
  for (const c of cases) {
    const back = parseIdx(encodeIdx(c), c.dtype);
    assert.equal(back.dtype, c.dtype);
    assert.deepEqual(back.dims, c.dims);
    assert.deepEqual(Array.from(back.data), Array.from(c.data));
  }
  throwsDataError(() => encodeIdx({ dtype: 'uint8', dims: [4], data: new Uint8Array(3) }, 'out.idx'), 'out.idx', '3 elements');
});

test('readIdxFile reads raw and gzip (by magic bytes, not name); missing or corrupt → DataError naming the path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-idx-'));
  try {
    const raw = join(dir, 'raw-idx3-ubyte');
    const gz = join(dir, 'compressed-without-suffix');
    writeFileSync(raw, handBuilt());
    writeFileSync(gz, gzipSync(handBuilt()));
    for (const path of [raw, gz]) {
      const a = await readIdxFile(path);
      assert.deepEqual(a.dims, [2, 2, 3]);
      assert.equal(a.data[11], 11);
      assert.equal(a.file, path);
    }

    const missing = join(dir, 'nope.gz');
    await assert.rejects(readIdxFile(missing), (err: unknown) => err instanceof DataError && err.message.includes(missing));

    const corrupt = join(dir, 'corrupt.gz');
    writeFileSync(corrupt, gzipSync(handBuilt()).subarray(0, 15));
    await assert.rejects(readIdxFile(corrupt), (err: unknown) => err instanceof DataError && err.message.includes(corrupt));

    const trailing = join(dir, 'trailing.gz');
    writeFileSync(trailing, gzipSync(new Uint8Array([...handBuilt(), 0])));
    await assert.rejects(readIdxFile(trailing), (err: unknown) => err instanceof DataError && err.message.includes(trailing));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
