/**
 * A restricted pickle interpreter: enough of Python's pickle protocols 2–5 to read what `torch.save`
 * writes for a state dict, and nothing that can run code.
 *
 * Why it is safe: a real unpickler imports every GLOBAL it meets and calls it on REDUCE/NEWOBJ —
 * that is how a pickle runs `os.system`. Here a GLOBAL only ever becomes an inert `PyGlobal`
 * (module and name as strings). The only things this file calls are the handlers in
 * `options.callables` (TypeScript functions the caller chose: "rebuild a tensor", "make an
 * OrderedDict"); calling any other global yields an inert `PyObject` holding its arguments, which is
 * never constructed, so `argparse.Namespace` or a class of someone's training code in a checkpoint
 * costs nothing and the tensors around it still load (as PyTorch's `weights_only=True` loader
 * would refuse, we keep them as placeholders). On top of that, globals that only make sense to
 * *run* something (`os.system`, `builtins.eval`, `subprocess.Popen`, …; `REFUSED_MODULES` and
 * `REFUSED_NAMES`) and opcodes outside the table below (INST, OBJ, EXT*, the text-protocol ones)
 * are refused with an `UnsafePickleError` naming them: such a file is hostile or not a checkpoint,
 * and saying so beats loading around it.
 *
 * Bytes in, values out, no `node:` imports: the browser build uses it too.
 */
import { CheckpointError, UnsafePickleError } from '../errors.js';

/** A Python global (`module.name`) the pickle referred to. Never imported, never run. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What calling a global outside `callables` gave: the call, recorded and never made. */
export class PyObject {
  /** The BUILD state (`__setstate__` / `__dict__` update), kept as data. */
  state: unknown = undefined;
  constructor(
    readonly cls: PyGlobal | PyObject,
    readonly args: readonly unknown[],
  ) {}
}

/** Handlers for the globals a pickle may call, by `module.name`; they receive the call's arguments. */
export type Callables = ReadonlyMap<string, (args: readonly unknown[]) => unknown>;

export interface UnpickleOptions {
  /** For messages: the file (and entry) being read. */
  file: string;
  callables?: Callables;
  /** BINPERSID: the object a persistent id stands for (torch: a storage). Without it, BINPERSID is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Offset of the pickle in `bytes` (legacy torch files hold several pickles back to back). */
  start?: number;
}

export interface Unpickled {
  value: unknown;
  /** Offset just after the STOP opcode. */
  end: number;
}

/** The pickle ended before its STOP: the file is truncated (or a reader should fetch more bytes). */
export class PickleTruncatedError extends CheckpointError {}

// ---- which globals are refused -------------------------------------------------------------------

/**
 * Modules whose globals exist to run code, touch the system or unpickle further data. A global in
 * one of them (or a submodule) is refused. `builtins` is here too: only the plain container types
 * in SAFE_BUILTINS pass.
 */
const REFUSED_MODULES = [
  'os', 'posix', 'nt', 'posixpath', 'ntpath', 'sys', 'subprocess', 'builtins', '__builtin__', 'shutil', 'socket',
  'importlib', 'imp', 'runpy', 'code', 'codeop', 'pickle', '_pickle', 'cPickle', 'copyreg', 'copy_reg', 'marshal',
  'ctypes', 'operator', '_operator', 'functools', 'pty', 'pdb', 'bdb', 'timeit', 'webbrowser', 'multiprocessing',
  'threading', '_thread', 'asyncio', 'signal', 'tempfile', 'io', '_io', 'types', 'inspect', 'gc', 'pathlib', 'glob',
  'urllib', 'http', 'requests', 'ftplib', 'smtplib', 'telnetlib', 'platform', 'site', 'sysconfig', 'distutils',
  'setuptools', 'pip', 'zipimport', 'shelve', 'dbm', 'sqlite3', 'tarfile', 'zipfile', 'dill', 'cloudpickle', 'joblib',
  'yaml', 'numpy.lib', 'torch.hub', 'torch.jit', 'torch._C', 'torch.ops', 'torch.serialization', 'torch.package',
];

/** Callables that run code or touch files wherever they live (`torch.load`, `numpy.load`, `x.eval`, …). */
const REFUSED_NAMES =
  /^(eval|exec|execfile|compile|system|popen\d?|spawn\w*|fork\w*|exec[lv]p?e?|__import__|import_module|getattr|setattr|delattr|open|load|loads|apply|call|check_call|check_output|run|input|breakpoint|globals|locals|vars|remove|unlink|rmtree|rmdir|kill)$/i;

/** The builtins a checkpoint may use: plain data types, nothing that runs code. */
const SAFE_BUILTINS = new Set(['set', 'frozenset', 'bytearray', 'bytes', 'slice', 'complex', 'object']);

/** Why `module.name` is refused, or null when it may be referred to. */
function refusal(module: string, name: string): string | null {
  const inModule = (m: string) => module === m || module.startsWith(`${m}.`);
  if ((module === 'builtins' || module === '__builtin__') && SAFE_BUILTINS.has(name)) return null;
  if (REFUSED_MODULES.some(inModule)) return `module '${module}' can run code or reach the system`;
  const parts = name.split('.');
  if (parts.some((p) => REFUSED_NAMES.test(p))) return `'${name}' runs code or touches files`;
  // Dunder attributes (`__reduce__`, `__globals__`, `__class__`) are how pickles reach interpreter internals.
  if (parts.some((p) => p.startsWith('__'))) return `'${name}' reaches interpreter internals`;
  if (!/^[A-Za-z_][\w.]*$/.test(module) || !/^[A-Za-z_][\w.]*$/.test(name)) return 'not a Python identifier';
  return null;
}

// ---- the machine ---------------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

class Machine {
  pos: number;
  stack: unknown[] = [];
  /** MARK saves the current stack here and starts a new one (as CPython's metastack). */
  marks: unknown[][] = [];
  memo = new Map<number, unknown>();
  result: Unpickled | null = null;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly o: UnpickleOptions,
    readonly opName: () => string,
  ) {
    this.pos = o.start ?? 0;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(message: string): never {
    throw new CheckpointError(`${this.o.file}: malformed pickle: ${message} (opcode ${this.opName()})`, this.o.file);
  }

  need(n: number): number {
    if (n < 0 || this.pos + n > this.bytes.length)
      throw new PickleTruncatedError(
        `${this.o.file}: the pickle ends at byte ${this.bytes.length}, inside opcode ${this.opName()} (it needs ${n} more bytes from ${this.pos}); the file is truncated`,
        this.o.file,
      );
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.bytes[this.need(1)]!;
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(this.bytes.length)) this.need(Number.MAX_SAFE_INTEGER); // longer than the data: truncated
    return Number(v);
  }
  f64be(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  raw(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.slice(at, at + n);
  }
  str(n: number, decoder = utf8): string {
    const at = this.need(n);
    return decoder.decode(this.bytes.subarray(at, at + n));
  }
  /** A newline-terminated line (GLOBAL's module and name). */
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.need(this.bytes.length + 1 - this.pos);
    const s = latin1.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
  /** Little-endian two's-complement integer of n bytes (LONG1/LONG4): a number when exact, else a bigint. */
  long(n: number): number | bigint {
    const b = this.raw(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  push(v: unknown): void {
    this.stack.push(v);
  }
  pop(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop();
  }
  top(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  mark(): void {
    this.marks.push(this.stack);
    this.stack = [];
  }
  /** The items pushed since the last MARK; the stack before it is restored. */
  popMark(): unknown[] {
    const items = this.stack;
    const prev = this.marks.pop();
    if (!prev) this.fail('no MARK to pop to');
    this.stack = prev;
    return items;
  }
  memoGet(i: number): unknown {
    if (!this.memo.has(i)) this.fail(`memo entry ${i} was never stored`);
    return this.memo.get(i);
  }

  global(module: string, name: string): PyGlobal {
    const why = refusal(module, name);
    if (why)
      throw new UnsafePickleError(
        `${this.o.file}: refused to load: the pickle refers to the global ${module}.${name} (${why}); ` +
          'nothing from the file was run. A state dict never needs it: this file is not a plain checkpoint, ' +
          'or it was crafted to run code when loaded with torch.load.',
        this.o.file,
        `${module}.${name}`,
      );
    return new PyGlobal(module, name);
  }

  /** REDUCE / NEWOBJ: a handler from `callables`, else an inert record of the call. */
  call(fn: unknown, args: unknown): unknown {
    if (!Array.isArray(args)) this.fail(`call arguments must be a tuple, got ${describe(args)}`);
    if (fn instanceof PyGlobal) {
      const handler = this.o.callables?.get(fn.qualname);
      return handler ? handler(args) : new PyObject(fn, args);
    }
    if (fn instanceof PyObject) return new PyObject(fn, args);
    return this.fail(`cannot call ${describe(fn)}`);
  }

  list(): unknown[] {
    const l = this.top();
    if (!Array.isArray(l) || Object.isFrozen(l)) this.fail(`expected a list, got ${describe(l)}`);
    return l;
  }
  dict(): Map<unknown, unknown> {
    const d = this.top();
    if (!(d instanceof Map)) this.fail(`expected a dict, got ${describe(d)}`);
    return d;
  }
  set(): Set<unknown> {
    const s = this.top();
    if (!(s instanceof Set)) this.fail(`expected a set, got ${describe(s)}`);
    return s;
  }
  setItems(d: Map<unknown, unknown>, kv: unknown[]): void {
    if (kv.length % 2) this.fail('odd number of items for a dict');
    for (let i = 0; i < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
  }
}

/** Tuples are frozen arrays (lists are not), so APPEND to a tuple is caught. */
const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return `global ${v.qualname}`;
  if (v instanceof PyObject) return `an instance of ${v.cls instanceof PyGlobal ? v.cls.qualname : 'an unknown class'}`;
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v === 'object' ? (v.constructor?.name ?? 'an object') : `${typeof v} ${String(v).slice(0, 40)}`;
}

type Op = [name: string, run: (m: Machine) => void];

/**
 * The opcodes a `torch.save` state dict uses (protocol 2, and 3–5 for files written by other tools).
 * Anything not in this table is refused.
 */
const OPS: Record<number, Op> = {
  // -- framing
  0x80: ['PROTO', (m) => { const v = m.u8(); if (v > 5) m.fail(`protocol ${v} is newer than 5`); }], // protocol version
  0x95: ['FRAME', (m) => void m.u64()], // protocol 4 framing hint: the next n bytes form a frame; nothing to do
  0x2e: ['STOP', (m) => { m.result = { value: m.pop(), end: m.pos }; }], // '.' the top of the stack is the result
  // -- stack manipulation
  0x28: ['MARK', (m) => m.mark()], // '('
  0x30: ['POP', (m) => void (m.stack.length ? m.pop() : m.popMark())], // '0' discard the top (or up to the mark)
  0x31: ['POP_MARK', (m) => void m.popMark()], // '1'
  0x32: ['DUP', (m) => m.push(m.top())], // '2'
  // -- constants and numbers
  0x4e: ['NONE', (m) => m.push(null)], // 'N'
  0x88: ['NEWTRUE', (m) => m.push(true)],
  0x89: ['NEWFALSE', (m) => m.push(false)],
  0x4a: ['BININT', (m) => m.push(m.i32())], // 'J' signed 4-byte int
  0x4b: ['BININT1', (m) => m.push(m.u8())], // 'K' unsigned 1-byte int
  0x4d: ['BININT2', (m) => m.push(m.u16())], // 'M' unsigned 2-byte int
  0x8a: ['LONG1', (m) => m.push(m.long(m.u8()))], // n-byte two's-complement int, n < 256
  0x8b: ['LONG4', (m) => m.push(m.long(m.i32()))], // the same with a 4-byte length
  0x47: ['BINFLOAT', (m) => m.push(m.f64be())], // 'G' big-endian float64
  // -- strings and bytes
  0x58: ['BINUNICODE', (m) => m.push(m.str(m.u32()))], // 'X' UTF-8 str, 4-byte length
  0x8c: ['SHORT_BINUNICODE', (m) => m.push(m.str(m.u8()))],
  0x8d: ['BINUNICODE8', (m) => m.push(m.str(m.u64()))],
  0x55: ['SHORT_BINSTRING', (m) => m.push(m.str(m.u8(), latin1))], // 'U' Python 2 str (legacy checkpoints)
  0x54: ['BINSTRING', (m) => m.push(m.str(m.i32(), latin1))], // 'T'
  0x43: ['SHORT_BINBYTES', (m) => m.push(m.raw(m.u8()))], // 'C' bytes
  0x42: ['BINBYTES', (m) => m.push(m.raw(m.u32()))], // 'B'
  0x8e: ['BINBYTES8', (m) => m.push(m.raw(m.u64()))],
  0x96: ['BYTEARRAY8', (m) => m.push(m.raw(m.u64()))],
  // -- tuples
  0x29: ['EMPTY_TUPLE', (m) => m.push(tuple([]))], // ')'
  0x74: ['TUPLE', (m) => m.push(tuple(m.popMark()))], // 't' everything since the mark
  0x85: ['TUPLE1', (m) => m.push(tuple([m.pop()]))],
  0x86: ['TUPLE2', (m) => { const b = m.pop(); m.push(tuple([m.pop(), b])); }],
  0x87: ['TUPLE3', (m) => { const c = m.pop(); const b = m.pop(); m.push(tuple([m.pop(), b, c])); }],
  // -- lists
  0x5d: ['EMPTY_LIST', (m) => m.push([])], // ']'
  0x6c: ['LIST', (m) => m.push(m.popMark())], // 'l'
  0x61: ['APPEND', (m) => { const v = m.pop(); m.list().push(v); }], // 'a'
  0x65: ['APPENDS', (m) => { const items = m.popMark(); const l = m.list(); for (const v of items) l.push(v); }], // 'e' (a loop: spreading 10⁶ items overflows the call stack)
  // -- dicts (OrderedDict too: both are Maps, which keep insertion order)
  0x7d: ['EMPTY_DICT', (m) => m.push(new Map())], // '}'
  0x64: ['DICT', (m) => { const d = new Map(); m.setItems(d, m.popMark()); m.push(d); }], // 'd'
  0x73: ['SETITEM', (m) => { const v = m.pop(); const k = m.pop(); m.dict().set(k, v); }], // 's'
  0x75: ['SETITEMS', (m) => { const kv = m.popMark(); m.setItems(m.dict(), kv); }], // 'u'
  // -- sets
  0x8f: ['EMPTY_SET', (m) => m.push(new Set())],
  0x90: ['ADDITEMS', (m) => { const items = m.popMark(); const s = m.set(); for (const v of items) s.add(v); }],
  0x91: ['FROZENSET', (m) => m.push(new Set(m.popMark()))],
  // -- memo: values stored for later reference (shared objects, e.g. one storage type for all tensors)
  0x71: ['BINPUT', (m) => m.memo.set(m.u8(), m.top())], // 'q'
  0x72: ['LONG_BINPUT', (m) => m.memo.set(m.u32(), m.top())], // 'r'
  0x94: ['MEMOIZE', (m) => m.memo.set(m.memo.size, m.top())],
  0x68: ['BINGET', (m) => m.push(m.memoGet(m.u8()))], // 'h'
  0x6a: ['LONG_BINGET', (m) => m.push(m.memoGet(m.u32()))], // 'j'
  // -- globals: recorded by name, checked against the refusal lists, never imported
  0x63: ['GLOBAL', (m) => { const module = m.line(); m.push(m.global(module, m.line())); }], // 'c' module\nname\n
  0x93: ['STACK_GLOBAL', (m) => {
    const name = m.pop();
    const module = m.pop();
    if (typeof module !== 'string' || typeof name !== 'string') return m.fail('STACK_GLOBAL needs two strings');
    m.push(m.global(module, name));
  }],
  // -- calls: only `callables` run; anything else becomes an inert PyObject
  0x52: ['REDUCE', (m) => { const args = m.pop(); m.push(m.call(m.pop(), args)); }], // 'R' f(*args)
  0x81: ['NEWOBJ', (m) => { const args = m.pop(); m.push(m.call(m.pop(), args)); }], // cls.__new__(cls, *args)
  0x92: ['NEWOBJ_EX', (m) => { m.pop(); const args = m.pop(); m.push(m.call(m.pop(), args)); }], // kwargs dropped
  0x62: ['BUILD', (m) => { // 'b' obj.__setstate__(state): kept as data on inert objects, ignored elsewhere
    const state = m.pop();
    const obj = m.top();
    if (obj instanceof PyObject) obj.state = state;
  }],
  // -- persistent ids: torch's storages
  0x51: ['BINPERSID', (m) => { // 'Q'
    const pid = m.pop();
    const load = m.o.persistentLoad;
    if (!load) return m.fail('a persistent id, but this file type has no storages');
    m.push(load(pid));
  }],
};

/** Opcodes we recognise and refuse (for the message); any other byte is not an opcode at all. */
const REFUSED_OPS: Record<number, string> = {
  0x69: 'INST (instantiates a class by name)',
  0x6f: 'OBJ (instantiates a class)',
  0x82: 'EXT1 (copyreg extension registry)',
  0x83: 'EXT2 (copyreg extension registry)',
  0x84: 'EXT4 (copyreg extension registry)',
  0x50: 'PERSID (text persistent id)',
  0x49: 'INT (text protocol 0)',
  0x4c: 'LONG (text protocol 0)',
  0x46: 'FLOAT (text protocol 0)',
  0x53: 'STRING (text protocol 0)',
  0x56: 'UNICODE (text protocol 0)',
  0x67: 'GET (text protocol 0)',
  0x70: 'PUT (text protocol 0)',
  0x97: 'NEXT_BUFFER (out-of-band buffers)',
  0x98: 'READONLY_BUFFER (out-of-band buffers)',
};

/** Run the pickle that starts at `o.start` (default 0) up to its STOP. */
export function unpickle(bytes: Uint8Array, o: UnpickleOptions): Unpickled {
  let current = 'start';
  const m = new Machine(bytes, o, () => current);
  while (!m.result) {
    const at = m.pos;
    const code = m.u8();
    const op = OPS[code];
    if (!op) {
      const hex = `0x${code.toString(16).padStart(2, '0')}`;
      const known = REFUSED_OPS[code];
      if (!known) throw new CheckpointError(`${o.file}: not a valid pickle: byte ${hex} at offset ${at} is not an opcode`, o.file);
      throw new UnsafePickleError(
        `${o.file}: refused to load: the pickle uses opcode ${known} at byte ${at}, outside the set a state dict needs; nothing from the file was run`,
        o.file,
        undefined,
        known.split(' ')[0],
      );
    }
    current = `${op[0]} at byte ${at}`;
    op[1](m);
  }
  return m.result;
}
