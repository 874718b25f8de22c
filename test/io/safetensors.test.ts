import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsError } from '../../src/errors.js';
import { Tensor } from '../../src/tensor.js';
import { CHECKSUM_KEY, DATA_CHECKSUM_KEY, SafetensorsFile, readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import {
  decodeTensor,
  halfToFloat,
  parseSafetensors,
  parseSafetensorsHeader,
  serializeSafetensors,
} from '../../src/io/safetensors_format.js';
import { goldenSkip } from '../helpers.js';
import { goldenDir } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'visionmix-safetensors-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function tmpPath(name: string): string {
  return join(dir, `${counter++}-${name}.safetensors`);
}

/** Assemble a file by hand: length prefix (overridable), header text (padded like real writers), data. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), opts: { length?: bigint; pad?: boolean } = {}): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (opts.pad !== false) while (text.length % 8) text += ' ';
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, opts.length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function writeRaw(name: string, bytes: Uint8Array): string {
  const p = tmpPath(name);
  writeFileSync(p, bytes);
  return p;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** Opening must fail with a SafetensorsError whose message names the file and matches every pattern. */
async function rejectsOpen(path: string, tensor: string | undefined, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(SafetensorsFile.open(path), (err: unknown) => {
    assert.ok(err instanceof SafetensorsError, `expected SafetensorsError, got ${String(err)}`);
    assert.ok(err.message.includes(path), `message does not name the file: ${err.message}`);
    assert.equal(err.file, path);
    if (tensor !== undefined) {
      assert.match(err.message, new RegExp(`tensor '${tensor.replace(/\./g, '\\.')}'`));
      assert.equal(err.tensor, tensor);
    }
    for (const re of patterns) assert.match(err.message, re);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Round trips

test('roundtrip of every written dtype, with metadata, scalar and empty tensors', async () => {
  const half = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001]); // 1, -2.5, 65504, smallest subnormal
  const tensors = new Map<string, Tensor>([
    ['f32', Tensor.from(new Float32Array([1.5, -2, 3.25, Math.fround(Math.PI), -0, Infinity]), [2, 3])],
    ['f64', Tensor.from(new Float64Array([Math.PI, -1e300, 5e-324]), [3])],
    ['i64', Tensor.from(new BigInt64Array([2n ** 62n + 1n, -(2n ** 63n), 0n, -1n]), [2, 2])],
    ['i32', Tensor.from(new Int32Array([2 ** 31 - 1, -(2 ** 31), 7]), [3, 1])],
    ['u8', Tensor.from(new Uint8Array([0, 1, 255]), [3])],
    ['bool', new Tensor(new Uint8Array([1, 0, 1]), [3], 'bool')],
    ['f16', new Tensor(half, [4], 'float16')],
    ['scalar', Tensor.from(new Float32Array([42]), [])],
    ['empty', Tensor.from(new Float32Array(0), [0, 5])],
  ]);
  const meta = { format: 'pt', note: 'ünïcode ✓' };
  const p = tmpPath('roundtrip');
  await writeSafetensors(p, tensors, meta);

  const f = await SafetensorsFile.open(p);
  const checksum = f.metadata[CHECKSUM_KEY] ?? '';
  try {
    // Our writer adds the SHA-256 of the tensor data (checked on read; see the checksum tests).
    assert.match(checksum, /^[0-9a-f]{64}$/);
    assert.deepEqual(f.metadata, { ...meta, [CHECKSUM_KEY]: f.metadata[CHECKSUM_KEY] });
    assert.deepEqual(new Set(f.keys()), new Set(tensors.keys()));
    const back = await f.readAll();
    for (const [key, t] of tensors) {
      const got = back.get(key)!;
      assert.deepEqual(got.shape, t.shape, key);
      if (key === 'f16') {
        assert.equal(got.dtype, 'float32');
        assert.deepEqual([...got.data], [1, -2.5, 65504, 2 ** -24]);
      } else {
        assert.equal(got.dtype, t.dtype, key);
        assert.deepEqual([...got.data], [...t.data], key);
      }
    }
    assert.deepEqual(f.info('i64'), { dtype: 'int64', shape: [2, 2], storedDtype: 'I64' });
    assert.deepEqual(f.info('f16'), { dtype: 'float32', shape: [4], storedDtype: 'F16' });
  } finally {
    await f.close();
  }

  // The in-memory serializer and parser agree with the file path, byte for byte (given the checksum
  // the file writer adds to the metadata).
  const bytes = serializeSafetensors(tensors, { ...meta, [CHECKSUM_KEY]: checksum });
  assert.deepEqual(new Uint8Array(readFileSync(p)), bytes);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0, 'header padded to a multiple of 8');
  assert.deepEqual([...parseSafetensors(bytes).tensors.get('i32')!.data], [2 ** 31 - 1, -(2 ** 31), 7]);
});

test('written files keep every tensor element-aligned and list keys in order', () => {
  const bytes = serializeSafetensors({
    b: Tensor.from(new Uint8Array([1, 2, 3]), [3]),
    a: Tensor.from(new Float32Array([1]), [1]),
    c: Tensor.from(new Float64Array([1]), [1]),
    d: Tensor.from(new Float32Array([2]), [1]),
  });
  const h = parseSafetensorsHeader(bytes, bytes.length, 'mem');
  assert.deepEqual([...h.entries.keys()], ['c', 'a', 'd', 'b']);
  for (const [, e] of h.entries) assert.equal((h.dataStart + e.begin) % { F64: 8, F32: 4, U8: 1 }[e.dtype as 'F64'], 0);
});

// ---------------------------------------------------------------------------------------------
// Half precision decoding

test('F16 decoding: normals, subnormals, signed zero, infinities, NaN, max', async () => {
  const bits = [0x3c00, 0xc100, 0x0001, 0x03ff, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x7bff, 0x3555];
  const expected = [1, -2.5, 2 ** -24, 1023 * 2 ** -24, -0, Infinity, -Infinity, NaN, 65504, Math.fround(0.333251953125)];
  const data = new Uint8Array(new Uint16Array(bits).buffer);
  const p = writeRaw('f16', rawFile({ h: { dtype: 'F16', shape: [bits.length], data_offsets: [0, data.length] } }, data));
  const t = (await readSafetensors(p)).get('h')!;
  assert.equal(t.dtype, 'float32');
  assert.ok(t.data instanceof Float32Array);
  for (let i = 0; i < bits.length; i++) assert.ok(Object.is(t.data[i], expected[i]), `0x${bits[i]!.toString(16)}: ${t.data[i]} vs ${expected[i]}`);
  assert.ok(Object.is(halfToFloat(0x8001), -(2 ** -24)));
});

test('BF16 decoding: top 16 bits of a float32', async () => {
  const bits = [0x3f80, 0xc020, 0x0001, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x477f, 0x7f7f];
  const expected = [1, -2.5, 2 ** -133, -0, Infinity, -Infinity, NaN, 65280, Math.fround(3.3895313892515355e38)];
  const data = new Uint8Array(new Uint16Array(bits).buffer);
  const p = writeRaw('bf16', rawFile({ b: { dtype: 'BF16', shape: [3, 3], data_offsets: [0, data.length] } }, data));
  const t = (await readSafetensors(p)).get('b')!;
  assert.equal(t.dtype, 'float32');
  assert.deepEqual(t.shape, [3, 3]);
  for (let i = 0; i < bits.length; i++) assert.ok(Object.is(t.data[i], expected[i]), `0x${bits[i]!.toString(16)}: ${t.data[i]} vs ${expected[i]}`);
});

test('narrow integers widen to int32; unaligned offsets are copied', () => {
  // I8 of 3 bytes first pushes the I32 tensor to an odd offset, as a foreign writer may do.
  const i8 = new Uint8Array([0xff, 0x80, 0x7f]);
  const i16 = new Uint8Array(new Int16Array([-32768, 1234]).buffer);
  const i32 = new Uint8Array(new Int32Array([-5, 123456789]).buffer);
  const data = new Uint8Array([...i8, ...i16, ...i32]);
  const bytes = rawFile(
    {
      a: { dtype: 'I8', shape: [3], data_offsets: [0, 3] },
      b: { dtype: 'I16', shape: [2], data_offsets: [3, 7] },
      c: { dtype: 'I32', shape: [2], data_offsets: [7, 15] },
    },
    data,
  );
  const { tensors } = parseSafetensors(bytes, 'mem');
  assert.deepEqual([tensors.get('a')!.dtype, ...tensors.get('a')!.data], ['int32', -1, -128, 127]);
  assert.deepEqual([tensors.get('b')!.dtype, ...tensors.get('b')!.data], ['int32', -32768, 1234]);
  assert.deepEqual([tensors.get('c')!.dtype, ...tensors.get('c')!.data], ['int32', -5, 123456789]);

  // decodeTensor on a view at an odd byte offset (e.g. a subarray of a fetched file).
  const buf = new Uint8Array(9);
  buf.set(f32Bytes([1.5, -3]), 1);
  const t = decodeTensor({ dtype: 'F32', shape: [2], begin: 0, end: 8 }, buf.subarray(1), 'mem', 'x');
  assert.deepEqual([...t.data], [1.5, -3]);
});

// ---------------------------------------------------------------------------------------------
// Partial reads and atomic writes

test('read(key) fetches one tensor; unknown keys name the key and file', async () => {
  const p = tmpPath('partial');
  await writeSafetensors(p, {
    'stem.0.weight': Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]),
    'head.fc.bias': Tensor.from(new Float32Array([9]), [1]),
  });
  const f = await SafetensorsFile.open(p);
  try {
    const t = await f.read('head.fc.bias');
    assert.deepEqual([...t.data], [9]);
    assert.deepEqual(f.info('stem.0.weight').shape, [2, 2]);
    await assert.rejects(f.read('nope'), (err: unknown) => {
      assert.ok(err instanceof SafetensorsError);
      assert.match(err.message, /'nope'/);
      assert.ok(err.message.includes(p));
      return true;
    });
    assert.throws(() => f.info('nope'), SafetensorsError);
  } finally {
    await f.close();
  }
  await assert.rejects(f.read('head.fc.bias'), /after close/);
});

test('atomic write replaces the old file and leaves no temp files, also on failure', async () => {
  const sub = mkdtempSync(join(dir, 'atomic-'));
  const p = join(sub, 'model.safetensors');
  await writeSafetensors(p, { w: Tensor.from(new Float32Array([1]), [1]) });
  await writeSafetensors(p, { w: Tensor.from(new Float32Array([2, 3]), [2]) });
  assert.deepEqual(readdirSync(sub), ['model.safetensors']);
  assert.deepEqual([...(await readSafetensors(p)).get('w')!.data], [2, 3]);

  // Rename over a directory fails after the temp file was fully written: it must be cleaned up.
  const blocked = join(sub, 'blocked.safetensors');
  mkdirSync(blocked);
  await assert.rejects(writeSafetensors(blocked, { w: Tensor.from(new Float32Array([1]), [1]) }), SafetensorsError);
  // Invalid input is rejected before anything is written.
  await assert.rejects(writeSafetensors(p, { __metadata__: Tensor.from(new Float32Array([1]), [1]) }), /reserved/);
  assert.deepEqual(readdirSync(sub).sort(), ['blocked.safetensors', 'model.safetensors']);
  assert.deepEqual([...(await readSafetensors(p)).get('w')!.data], [2, 3]);

  await assert.rejects(writeSafetensors(join(sub, 'no', 'such', 'dir.safetensors'), {}), (err: unknown) => {
    assert.ok(err instanceof SafetensorsError);
    assert.match(err.message, /no such file or directory/);
    return true;
  });
});

test('missing file is a SafetensorsError naming the path', async () => {
  const p = join(dir, 'does-not-exist.safetensors');
  await rejectsOpen(p, undefined, /no such file/);
  await assert.rejects(readSafetensors(p), SafetensorsError);
});

// ---------------------------------------------------------------------------------------------
// Malformed files: one case each

const twoTensors = {
  a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
  b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
};
const data16 = f32Bytes([1, 2, 3, 4]);

test('malformed: truncated file', async () => {
  const full = rawFile(twoTensors, data16);
  const p = writeRaw('truncated', full.subarray(0, full.length - 3));
  await rejectsOpen(p, 'b', /truncated/, /16 bytes/, /only 13 bytes/, new RegExp(`file size ${full.length - 3}`));
});

test('malformed: file shorter than 8 bytes', async () => {
  await rejectsOpen(writeRaw('tiny', new Uint8Array([1, 2, 3, 4, 5])), undefined, /5 bytes/, /shorter than the 8-byte/);
  await rejectsOpen(writeRaw('zero', new Uint8Array(0)), undefined, /0 bytes/);
});

test('malformed: header is not valid JSON or not UTF-8', async () => {
  await rejectsOpen(writeRaw('badjson', rawFile('{"a": {"dtype": "F32",')), undefined, /not valid JSON/);
  const bad = rawFile('{"x": 1}');
  bad[10] = 0xff; // the key "x" becomes a byte that never occurs in UTF-8
  await rejectsOpen(writeRaw('badutf8', bad), undefined, /not valid UTF-8/);
});

test('malformed: header is not an object', async () => {
  await rejectsOpen(writeRaw('array', rawFile('[1, 2, 3]')), undefined, /must be a JSON object, got an array/);
  await rejectsOpen(writeRaw('null', rawFile('null')), undefined, /must be a JSON object, got null/);
});

test('malformed: unknown dtype', async () => {
  const p = writeRaw('dtype', rawFile({ 'blocks.0.w': { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, new Uint8Array(4)));
  await rejectsOpen(p, 'blocks.0.w', /unsupported dtype 'F8_E4M3'/);
});

test('malformed: negative or non-integer shape', async () => {
  const neg = writeRaw('negshape', rawFile({ w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, new Uint8Array(8)));
  await rejectsOpen(neg, 'w', /non-negative integers/, /-1/);
  const frac = writeRaw('fracshape', rawFile({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, new Uint8Array(6)));
  await rejectsOpen(frac, 'w', /non-negative integers/, /1\.5/);
  const str = writeRaw('strshape', rawFile({ w: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, new Uint8Array(8)));
  await rejectsOpen(str, 'w', /non-negative integers/);
});

test('malformed: entry fields and offsets syntax', async () => {
  const extra = writeRaw('extra', rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4], x: 1 } }, new Uint8Array(4)));
  await rejectsOpen(extra, 'w', /exactly the fields/);
  const missing = writeRaw('missing', rawFile({ w: { dtype: 'F32', shape: [1] } }, new Uint8Array(4)));
  await rejectsOpen(missing, 'w', /exactly the fields/);
  const reversed = writeRaw('reversed', rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)));
  await rejectsOpen(reversed, 'w', /begin > end/);
  const negative = writeRaw('negoff', rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, new Uint8Array(4)));
  await rejectsOpen(negative, 'w', /two non-negative integers/);
});

test('malformed: offsets out of range', async () => {
  const p = writeRaw(
    'outofrange',
    rawFile(
      { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, far: { dtype: 'F32', shape: [2], data_offsets: [64, 72] } },
      data16,
    ),
  );
  await rejectsOpen(p, 'far', /\[64, 72\]/, /outside the data area of 16 bytes/);
});

test('malformed: overlapping offsets', async () => {
  const p = writeRaw(
    'overlap',
    rawFile(
      { first: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, second: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } },
      data16,
    ),
  );
  await rejectsOpen(p, 'second', /overlap tensor 'first'/);
});

test('malformed: shape does not match byte size', async () => {
  const p = writeRaw('mismatch', rawFile({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 16] } }, data16));
  await rejectsOpen(p, 'w', /size mismatch/, /\[2, 3\]/, /needs 24 bytes/, /span 16 bytes/);
});

test('malformed: absurd header length', async () => {
  const huge = writeRaw('huge', rawFile({}, new Uint8Array(0), { length: 2n ** 60n }));
  await rejectsOpen(huge, undefined, /absurd header length 1152921504606846976/, /limit 104857600/);
  const long = writeRaw('long', rawFile({}, new Uint8Array(0), { length: 1000n }));
  await rejectsOpen(long, undefined, /header length 1000 bytes exceeds the 8 bytes/);
});

test('malformed: trailing garbage after the last tensor', async () => {
  const data = new Uint8Array([...data16, 0xde, 0xad]);
  const p = writeRaw('trailing', rawFile(twoTensors, data));
  await rejectsOpen(p, 'b', /trailing garbage: 2 bytes/);
});

test('malformed: hole between tensors', async () => {
  const p = writeRaw(
    'hole',
    rawFile(
      { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } },
      data16,
    ),
  );
  await rejectsOpen(p, 'b', /hole/, /\[4, 8\)/, /tensor 'a'/);
  const lead = writeRaw('leadhole', rawFile({ b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data16));
  await rejectsOpen(lead, 'b', /hole/, /before the first tensor/);
});

test('malformed: bad __metadata__', async () => {
  const notObject = writeRaw('meta1', rawFile({ __metadata__: 'x', ...twoTensors }, data16));
  await rejectsOpen(notObject, undefined, /__metadata__ must be an object/);
  const badValue = writeRaw('meta2', rawFile({ __metadata__: { epoch: 3 }, ...twoTensors }, data16));
  await rejectsOpen(badValue, undefined, /__metadata__ value for 'epoch' must be a string/);
});

test('pure parser reports a caller that passes too short a prefix', () => {
  const bytes = rawFile(twoTensors, data16);
  assert.throws(() => parseSafetensorsHeader(bytes.subarray(0, 12), bytes.length, 'mem'), (err: unknown) => {
    assert.ok(err instanceof SafetensorsError);
    assert.match(err.message, /'mem'.*need the first \d+ bytes/);
    return true;
  });
});

// ---------------------------------------------------------------------------------------------
// Real files written by PyTorch's safetensors library

const golden = goldenDir('convnext');
test('reads every golden convnext safetensors file', { skip: goldenSkip('convnext') }, async () => {
  assert.ok(existsSync(golden), `golden data missing: ${golden}`);
  const files = readdirSync(golden).filter((f) => f.endsWith('.safetensors'));
  assert.ok(files.length > 0);
  for (const name of files) {
    const f = await SafetensorsFile.open(join(golden, name));
    try {
      const all = await f.readAll();
      assert.equal(all.size, f.keys().length, name);
      for (const [key, t] of all) assert.deepEqual(t.shape, f.info(key).shape, `${name}: ${key}`);
    } finally {
      await f.close();
    }
  }
  const f = await SafetensorsFile.open(join(golden, 'convnext_atto_224.weights.safetensors'));
  try {
    const stem = await f.read('stem.0.weight');
    assert.deepEqual(stem.shape, [40, 3, 4, 4]);
    assert.equal(stem.dtype, 'float32');
    assert.ok([...stem.data].every(Number.isFinite));
    assert.ok(Object.keys(f.metadata).length > 0);
  } finally {
    await f.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Checksums: flipped bytes in the tensor data are an error naming the file, not silent garbage

/** Flip one byte of `path` at `offsetFromEnd` bytes before its end (inside the tensor data). */
function flipByte(path: string, offsetFromEnd: number): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - offsetFromEnd]! ^= 0xff;
  writeFileSync(path, bytes);
}

test('checksum: our files record the SHA-256 of their data; a flipped data byte fails readAll/readSafetensors/verify naming the file', async () => {
  const p = tmpPath('checksum');
  await writeSafetensors(p, { a: Tensor.from(new Float32Array([1, 2, 3, 4]), [4]), b: Tensor.from(new Float32Array([5, 6]), [2]) }, { note: 'x' });
  assert.deepEqual([...(await readSafetensors(p)).get('b')!.data], [5, 6], 'intact file reads');
  flipByte(p, 3);
  const isCorrupt = (e: unknown) => e instanceof SafetensorsError && e.file === p && e.message.includes(p) && /checksum mismatch/.test(e.message);
  await assert.rejects(readSafetensors(p), isCorrupt);
  const f = await SafetensorsFile.open(p);
  try {
    await assert.rejects(f.verify(), isCorrupt);
    await assert.rejects(f.readAll(), isCorrupt);
  } finally {
    await f.close();
  }
});

test('checksum: it covers the header too — an edited metadata value or tensor shape of the same length is a mismatch', async () => {
  const tensors = { a: Tensor.from(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]) };
  for (const [from, to] of [['"step\\":93', '"step\\":13'], ['"shape":[2,3]', '"shape":[3,2]']] as const) {
    const p = tmpPath('checksum-header');
    await writeSafetensors(p, tensors, { state: JSON.stringify({ step: 93 }) });
    const text = readFileSync(p, 'latin1');
    assert.ok(text.includes(from), `the header holds ${from}`);
    writeFileSync(p, Buffer.from(text.replace(from, to), 'latin1'));
    await assert.rejects(readSafetensors(p), (e: unknown) => e instanceof SafetensorsError && /checksum mismatch — the header or tensor data/.test(e.message), from);
  }
});

test('checksum: older files whose visionmix_sha256 covers the tensor data only are still verified', async () => {
  const tensors = { a: Tensor.from(new Float32Array([1, 2]), [2]) };
  const plain = serializeSafetensors(tensors, { note: 'x' });
  const dataStart = parseSafetensorsHeader(plain, plain.length, 'mem').dataStart;
  const sha = createHash('sha256').update(plain.subarray(dataStart)).digest('hex');
  const p = writeRaw('legacy', serializeSafetensors(tensors, { note: 'x', [DATA_CHECKSUM_KEY]: sha }));
  const f = await SafetensorsFile.open(p);
  try {
    assert.equal(f.checksumCoversMetadata, false);
    assert.deepEqual([...(await f.readAll()).get('a')!.data], [1, 2]);
  } finally {
    await f.close();
  }
  flipByte(p, 1);
  await assert.rejects(readSafetensors(p), /checksum mismatch — the tensor data/);
});

test('checksum: files written by other tools (no checksum) read as before, nothing to verify', async () => {
  const p = writeRaw('foreign', serializeSafetensors({ a: Tensor.from(new Float32Array([1, 2]), [2]) }, { format: 'pt' }));
  const f = await SafetensorsFile.open(p);
  try {
    assert.equal(f.checksum, undefined);
    await f.verify();
    assert.deepEqual([...(await f.readAll()).get('a')!.data], [1, 2]);
  } finally {
    await f.close();
  }
});

test('20.12: file-system errors name their code once (no "EISDIR: EISDIR", "ENOSPC: ENOSPC")', async () => {
  const folder = join(dir, 'a-folder.safetensors');
  mkdirSync(folder, { recursive: true });
  await assert.rejects(SafetensorsFile.open(folder), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, String(e));
    assert.match(e.message, /cannot read: EISDIR/);
    assert.doesNotMatch(e.message, /EISDIR: EISDIR/);
    return true;
  });
});
