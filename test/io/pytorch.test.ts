/**
 * The PyTorch checkpoint reader: every case of ../shared/golden/pth/cases.json (released layouts,
 * legacy format, fp16/bf16, shared-storage and strided views, malicious pickles, broken files), plus
 * hand-built files for what the fixtures do not hold (big-endian, DDP prefixes, other dtypes) and
 * the proof that nothing in a pickle is executed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, DataError, UnsafePickleError, WeightsError, readSafetensors, readWeights, Tensor } from '../../src/index.js';
import { writeTorchCheckpoint } from '../../src/io/pytorch.js';
import type { CheckpointInfo } from '../../src/models/base.js';
import { readWeightsFile } from '../../src/io/weights_source.js';
import { bytesSource, readTorchStateDict } from '../../src/io/pytorch_format.js';
import { PickleWriter, serializeTorchZip, stateDictPickle, zipStored, type TensorView } from '../../src/io/pytorch_write.js';
import { goldenFile } from '../golden.js';
import { PTH, goldenCaseOf, modelFor, pthCases, skip } from './pth_cases.js';


/** IEEE binary16 rounding (nearest, ties to even) of a float32, widened back. */
function roundToHalf(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const ax = Math.abs(x);
  let e = Math.floor(Math.log2(ax));
  if (2 ** e > ax) e--;
  if (2 ** (e + 1) <= ax) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const q = ax / ulp;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r--; // Math.round rounds .5 up: make ties go to even
  const v = r * ulp;
  return Math.sign(x) * (v >= 65520 ? Infinity : v);
}

/** bfloat16 rounding (nearest, ties to even) of a float32, widened back. */
function roundToBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(u.buffer)[0]!;
}

/** Every key equal, bitwise (float32 compared as bits), after rounding the expected side to `dtype`. */
function assertSameTensors(ours: Map<string, Tensor>, ref: Map<string, Tensor>, dtype?: 'fp16' | 'bf16'): void {
  assert.deepEqual([...ours.keys()].sort(), [...ref.keys()].sort());
  for (const [k, r] of ref) {
    const o = ours.get(k)!;
    assert.deepEqual(o.shape, r.shape, k);
    assert.equal(o.dtype, r.dtype, k);
    if (r.dtype !== 'float32') {
      assert.deepEqual(Array.from(o.data as ArrayLike<unknown>), Array.from(r.data as ArrayLike<unknown>), k);
      continue;
    }
    const want = dtype ? Float32Array.from(r.data as Float32Array, dtype === 'fp16' ? roundToHalf : roundToBf16) : (r.data as Float32Array);
    const a = new Uint32Array(o.data.buffer, o.data.byteOffset, o.data.length);
    const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
    for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) assert.fail(`${k}[${i}]: ${(o.data as Float32Array)[i]} ≠ ${want[i]}`);
  }
}

const adapt = (m: ReturnType<typeof modelFor>, sd: Map<string, Tensor>) => ("net" in m ? m.net : m).adaptStateDict(sd);

test('cases.json: every case is of a kind this file checks', { skip }, () => {
  assert.ok(pthCases.length >= 15);
  for (const c of pthCases) assert.ok(c.golden || c.expected || c.malicious || c.bad, `case ${c.file} has no expectation this test knows`);
});

for (const c of pthCases.filter((x) => x.golden)) {
  test(`${c.file}: loads the '${c.pick ?? 'bare'}' state dict, equal to ${c.golden} ${c.dtype ? `rounded to ${c.dtype}` : 'bitwise'} after the ${c.naming} key adaptation`, { skip }, async () => {
    let info: CheckpointInfo | undefined;
    const sd = await readWeightsFile(join(PTH, c.file), { onCheckpoint: (i) => (info = i) });
    assert.equal(info?.stateDictKey, c.pick ?? null);
    assert.equal(info?.format, c.format === 'legacy' ? 'legacy' : 'zip');
    const { family, gc } = goldenCaseOf(c);
    const model = modelFor(c);
    const golden = await readSafetensors(goldenFile(family, gc.files.weights!));
    assertSameTensors(adapt(model, sd), adapt(model, golden), c.dtype);
    // Where the golden case keeps the checkpoint's own names, the file matches them before adaptation too.
    const own = gc.files[`weights_${c.naming}`];
    if (own) assertSameTensors(sd, await readSafetensors(goldenFile(family, own)));
  });
}

test('views.pth: shared storage with offsets, a transposed view, a strided slice, 0-d and int64 tensors', { skip }, async () => {
  const c = pthCases.find((x) => x.expected)!;
  const expected = JSON.parse(readFileSync(join(PTH, c.expected!), 'utf8')) as Record<string, { shape: number[]; dtype: string; values: number[] }>;
  const sd = await readWeights(join(PTH, c.file));
  assert.deepEqual([...sd.keys()].sort(), Object.keys(expected).sort());
  for (const [k, e] of Object.entries(expected)) {
    const t = sd.get(k)!;
    assert.deepEqual(t.shape, e.shape, k);
    assert.equal(t.dtype, e.dtype, k);
    assert.deepEqual(Array.from(t.data as ArrayLike<number | bigint>, Number), e.values, k);
  }
});

for (const c of pthCases.filter((x) => x.malicious)) {
  test(`${c.file}: refused with an UnsafePickleError naming ${c.forbidden_global}`, { skip }, async () => {
    await assert.rejects(readWeights(join(PTH, c.file)), (e: unknown) => {
      assert.ok(e instanceof UnsafePickleError, String(e));
      assert.equal(e.global, c.forbidden_global);
      assert.match(e.message, new RegExp(c.forbidden_global!.replace('.', '\\.')));
      assert.match(e.message, /nothing from the file was run/);
      return true;
    });
  });
}

for (const c of pthCases.filter((x) => x.bad)) {
  test(`${c.file}: a CheckpointError naming the file`, { skip }, async () => {
    await assert.rejects(readWeights(join(PTH, c.file)), (e: unknown) => {
      assert.ok(e instanceof CheckpointError && !(e instanceof UnsafePickleError), String(e));
      assert.ok(e.message.includes(c.file), e.message);
      return true;
    });
  });
}

test("ConvNeXt's training checkpoint: 'model' by default, 'model_ema' on request; args (argparse.Namespace) is never built", { skip }, async () => {
  const file = join(PTH, 'convnext_tiny_custom.official_train_ckpt.pth');
  let info: CheckpointInfo | undefined;
  const model = await readWeightsFile(file, { onCheckpoint: (i) => (info = i) });
  assert.deepEqual(info?.candidates, ['model', 'model_ema']);
  const ema = await readWeightsFile(file, { weightsKey: 'model_ema' });
  for (const [k, t] of model) {
    if (t.dtype !== 'float32') continue;
    const e = ema.get(k)!.data as Float32Array;
    (t.data as Float32Array).forEach((v, i) => assert.equal(e[i], v * 0.5, k));
  }
  await assert.rejects(readWeightsFile(file, { weightsKey: 'args' }), /'args' is an instance of argparse\.Namespace, not a state dict.*'model', 'model_ema'/);
  await assert.rejects(readWeightsFile(file, { weightsKey: 'ema' }), (e: unknown) => e instanceof WeightsError && /no 'ema'.*'model', 'model_ema'/.test(e.message));
});

test('readWeights sniffs the content: a torch zip named .bin or .safetensors still loads', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vm-pth-'));
  try {
    for (const name of ['w.bin', 'w.safetensors', 'w']) {
      copyFileSync(join(PTH, 'views.pth'), join(dir, name));
      assert.equal((await readWeights(join(dir, name))).size, 7, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- hand-built files ----------------------------------------------------------------------------

const read = (bytes: Uint8Array, weightsKey?: string) => readTorchStateDict(bytesSource(bytes), 'test.pth', { weightsKey });

function zip(members: Record<string, Uint8Array>): Uint8Array {
  const parts = zipStored(Object.entries(members).map(([name, d]) => ({ name, data: [d] })));
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

test('round trip: our writer → reader gives the same tensors (float32, int64, int32, uint8, bool, float64, 0-d)', async () => {
  const tensors = new Map<string, Tensor>([
    ['w', new Tensor(Float32Array.from([1.5, -2, 3e-8, 4]), [2, 2], 'float32')],
    ['n', new Tensor(BigInt64Array.from([7n, -(2n ** 40n)]), [2], 'int64')],
    ['i', new Tensor(Int32Array.from([-3, 5, 9]), [3], 'int32')],
    ['u', new Tensor(Uint8Array.from([0, 255]), [2], 'uint8')],
    ['b', new Tensor(Uint8Array.from([1, 0, 1]), [3], 'bool')],
    ['d', new Tensor(Float64Array.from([Math.PI]), [], 'float64')],
  ]);
  const { tensors: back, info } = await read(serializeTorchZip(tensors, 'any_folder_name'));
  assert.equal(info.stateDictKey, null);
  for (const [k, t] of tensors) {
    assert.deepEqual(back.get(k)!.shape, t.shape, k);
    assert.equal(back.get(k)!.dtype, t.dtype, k);
    assert.deepEqual(Array.from(back.get(k)!.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), k);
  }
});

test('a tensor whose dtype has no torch storage is a DataError naming it, and no file is left behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vm-pthw-'));
  try {
    const path = join(dir, 'out.pth');
    // JavaScript callers can give any dtype string: the Tensor constructor does not check it against the data.
    const odd = new Tensor(new Int8Array(2) as unknown as Uint8Array, [2], 'int8' as unknown as 'uint8');
    await assert.rejects(writeTorchCheckpoint(path, new Map([['q', odd]])), (e: Error) => e instanceof DataError && /'q'.*"int8"/.test(e.message));
    assert.equal(existsSync(path), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("big-endian checkpoints (byteorder 'big'): float32, float16, bfloat16, int64, int32 with views of a shared storage", async () => {
  const be = (n: number, write: (v: DataView, i: number) => void, item: number) => {
    const b = new Uint8Array(n * item);
    const v = new DataView(b.buffer);
    for (let i = 0; i < n; i++) write(v, i);
    return b;
  };
  const view = (storageKey: string, storageType: string, storageNumel: number, offset: number, shape: number[], stride: number[]): TensorView => ({ storageKey, storageType, storageNumel, offset, shape, stride });
  const pkl = stateDictPickle([
    ['f', view('0', 'FloatStorage', 6, 0, [2, 3], [3, 1])],
    ['f_t', view('0', 'FloatStorage', 6, 0, [3, 2], [1, 3])], // transposed view of the same storage
    ['f_tail', view('0', 'FloatStorage', 6, 4, [2], [1])],
    ['h', view('1', 'HalfStorage', 2, 0, [2], [1])],
    ['bf', view('2', 'BFloat16Storage', 2, 0, [2], [1])],
    ['l', view('3', 'LongStorage', 2, 1, [], [])],
    ['i', view('4', 'IntStorage', 2, 0, [2], [1])],
  ]);
  const file = zip({
    'ckpt/data.pkl': pkl,
    'ckpt/byteorder': new TextEncoder().encode('big'),
    'ckpt/data/0': be(6, (v, i) => v.setFloat32(i * 4, i + 0.25, false), 4),
    'ckpt/data/1': be(2, (v, i) => v.setUint16(i * 2, [0x3c00, 0xc000][i]!, false), 2), // 1, -2
    'ckpt/data/2': be(2, (v, i) => v.setUint16(i * 2, [0x3f80, 0x4040][i]!, false), 2), // 1, 3
    'ckpt/data/3': be(2, (v, i) => v.setBigInt64(i * 8, [5n, -(2n ** 40n)][i]!, false), 8),
    'ckpt/data/4': be(2, (v, i) => v.setInt32(i * 4, [-7, 70000][i]!, false), 4),
    'ckpt/version': new TextEncoder().encode('3\n'),
  });
  const { tensors } = await read(file);
  const values = (k: string) => Array.from(tensors.get(k)!.data as ArrayLike<number | bigint>);
  assert.deepEqual(values('f'), [0.25, 1.25, 2.25, 3.25, 4.25, 5.25]);
  assert.deepEqual(values('f_t'), [0.25, 3.25, 1.25, 4.25, 2.25, 5.25]);
  assert.deepEqual(values('f_tail'), [4.25, 5.25]);
  assert.deepEqual(values('h'), [1, -2]);
  assert.deepEqual(values('bf'), [1, 3]);
  assert.deepEqual(tensors.get('l')!.shape, []);
  assert.deepEqual(values('l'), [-(2n ** 40n)]);
  assert.deepEqual(values('i'), [-7, 70000]);
});

test("DDP's 'module.' prefix is stripped and reported; a wrapper key is picked over the bare dict", async () => {
  const t = new Tensor(Float32Array.from([1]), [1], 'float32');
  const { tensors, info } = await read(serializeTorchZip(new Map([['module.a.weight', t], ['module.b', t]])));
  assert.deepEqual([...tensors.keys()], ['a.weight', 'b']);
  assert.equal(info.strippedPrefix, 'module.');
});

test('a view past the end of its storage, a storage missing from the zip and a compressed entry are CheckpointErrors', async () => {
  const v: TensorView = { storageKey: '0', storageType: 'FloatStorage', storageNumel: 4, offset: 2, shape: [2, 2], stride: [2, 1] };
  const four = new Uint8Array(16);
  await assert.rejects(read(zip({ 'a/data.pkl': stateDictPickle([['x', v]]), 'a/data/0': four })), (e: unknown) => e instanceof CheckpointError && /reaches element 5 of storage 0, which has 4/.test(e.message));
  const ok = { ...v, offset: 0 };
  await assert.rejects(read(zip({ 'a/data.pkl': stateDictPickle([['x', ok]]) })), /storage 0 is missing/);
  const compressed = zip({ 'a/data.pkl': stateDictPickle([['x', ok]]), 'a/data/0': four });
  // Set the method of the storage's central directory entry to deflate (8).
  const cd = compressed.length - 22 - (46 + 'a/data/0'.length);
  new DataView(compressed.buffer).setUint16(cd + 10, 8, true);
  await assert.rejects(read(compressed), /compressed \(method 8\)/);
});

test('a truncated legacy file is a CheckpointError', { skip }, async () => {
  const bytes = readFileSync(join(PTH, 'convnext_tiny_custom.legacy.pth'));
  for (const cut of [100, 2000, bytes.length - 10])
    await assert.rejects(read(bytes.subarray(0, cut)), (e: unknown) => e instanceof CheckpointError && /truncated/.test(e.message), `cut at ${cut}`);
});

// ---- nothing is executed ------------------------------------------------------------------------

/** A pickle that calls `module.name(arg)`: GLOBAL or STACK_GLOBAL, then REDUCE, inside a state dict. */
function callPickle(module: string, name: string, arg: string, stackGlobal = false): Uint8Array {
  const w = new PickleWriter().proto().emptyDict().mark().str('payload');
  if (stackGlobal) w.str(module).str(name).op(0x93);
  else w.global(module, name);
  return w.mark().str(arg).tuple().reduce().setItems().stop();
}

test('nothing in a pickle is executed: payloads that would write a file are refused and leave no trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vm-pickle-'));
  try {
    const mark = join(dir, 'pwned');
    const shell = `touch ${mark}`;
    const payloads: [string, Uint8Array][] = [
      ['os.system', callPickle('os', 'system', shell)],
      ['posix.system', callPickle('posix', 'system', shell)],
      ['os.system (STACK_GLOBAL)', callPickle('os', 'system', shell, true)],
      ['builtins.exec', callPickle('builtins', 'exec', `open(${JSON.stringify(mark)}, 'w')`)],
      ['builtins.getattr', callPickle('builtins', 'getattr', 'x')],
      ['subprocess.check_output', callPickle('subprocess', 'check_output', shell)],
      ['nt.system', callPickle('nt', 'system', shell)],
      ['some_pkg.util.eval', callPickle('some_pkg.util', 'eval', 'x')],
      ['torch.load', callPickle('torch', 'load', mark)],
    ];
    // The control: Python's own unpickler runs the first payload (when python3 is installed).
    const py = spawnSync('python3', ['-c', 'import pickle,sys; pickle.loads(sys.stdin.buffer.read())'], { input: payloads[0]![1] });
    if (py.status === 0) {
      assert.ok(existsSync(mark), 'python3 should have run the payload (the test would prove nothing)');
      rmSync(mark);
    } else t.diagnostic('python3 not available: the payload is not shown live');
    for (const [name, pkl] of payloads) {
      await assert.rejects(read(zip({ 'a/data.pkl': pkl })), (e: unknown) => e instanceof UnsafePickleError && e.global === name.split(' ')[0], name);
      assert.ok(!existsSync(mark), `${name} left a trace`);
    }
    // INST/OBJ instantiate classes by themselves: refused as opcodes.
    const inst = Uint8Array.from([0x80, 2, 0x28, ...new TextEncoder().encode('i os\nsystem\n'), 0x2e]);
    await assert.rejects(read(zip({ 'a/data.pkl': inst })), (e: unknown) => e instanceof UnsafePickleError && e.opcode === 'INST');
    // An unknown class (training code) is an inert placeholder: never called, the tensors beside it load.
    const v: TensorView = { storageKey: '0', storageType: 'FloatStorage', storageNumel: 1, offset: 0, shape: [1], stride: [1] };
    const w = new PickleWriter().proto().emptyDict().mark();
    w.str('config').global('my_training.hooks', 'RunOnLoad').mark().str(shell).tuple().reduce();
    w.str('model').op(...stateDictPickle([['w', v]]).subarray(2, -1)); // the state dict without PROTO and STOP
    const file = zip({ 'a/data.pkl': w.setItems().stop(), 'a/data/0': new Uint8Array(new Float32Array([2.5]).buffer) });
    const { tensors, info } = await read(file);
    assert.equal(info.stateDictKey, 'model');
    assert.deepEqual(Array.from(tensors.get('w')!.data as Float32Array), [2.5]);
    assert.ok(!existsSync(mark));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("lazy: only the picked state dict's storages are read (not the EMA copy or the optimizer state)", { skip }, async () => {
  const bytes = readFileSync(join(PTH, 'convnext_tiny_custom.official_train_ckpt.pth'));
  const whole = bytesSource(bytes);
  let read = 0;
  const counting = { size: whole.size, read: (offset: number, length: number) => ((read += length), whole.read(offset, length)) };
  const { tensors } = await readTorchStateDict(counting, 'ckpt.pth');
  const modelBytes = [...tensors.values()].reduce((a, t) => a + t.data.byteLength, 0);
  // The model's tensors, the pickle and the zip directory; the file also holds model_ema and AdamW's two moments.
  assert.ok(read < modelBytes * 1.2, `read ${read} bytes for ${modelBytes} bytes of tensors`);
  assert.ok(bytes.length > modelBytes * 2, `file ${bytes.length}, tensors ${modelBytes}`);
});
