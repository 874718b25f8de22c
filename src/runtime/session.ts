/**
 * ONNX Runtime sessions over an injected ort module (onnxruntime-node in Node, onnxruntime-web in
 * browsers: both implement onnxruntime-common's API). Tensors cross the boundary as views, not
 * copies, where the API allows: inputs wrap our typed arrays, outputs are wrapped as returned.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import { RuntimeError } from '../errors.js';
import { Tensor, type DType, type TensorData } from '../tensor.js';

/** The part of an onnxruntime module (node or web) that visionmix uses. */
export interface OrtModule {
  /** A file path works in Node only (external data files are found beside it). */
  InferenceSession: { create(model: Uint8Array | string, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: new (type: OrtTensor.Type, data: TensorData, dims: readonly number[]) => OrtTensor;
}

export interface SessionOptions {
  /** Intra-op threads (default: ORT's choice). */
  threads?: number;
  /** ORT's CPU memory arena: faster, but doubles peak memory on training graphs. */
  memArena?: boolean;
  /**
   * ORT's memory pattern: after the first run, plan every intermediate of the graph into one block
   * (default true). See TRAIN_STEP_SESSION for why train steps turn it off.
   */
  memPattern?: boolean;
  /** Graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write ORT's optimised model here (debugging; Node only). */
  optimizedModelPath?: string;
  /** Collect an ORT profile with this file prefix (Node only). */
  profilePrefix?: string;
  /** Execution providers in order of preference (default ['cpu']; the browser uses 'wasm' / 'webgpu'). */
  executionProviders?: string[];
  /** A label for error messages (model name, graph kind). */
  label?: string;
  /**
   * Outputs to leave on the device (onnxruntime-web's `preferredOutputLocation: 'gpu-buffer'`; only
   * with the WebGPU EP): they come back as `OrtDeviceValue`s, which later runs take as inputs.
   */
  keepOnDevice?: readonly string[];
}

/**
 * Session options for train-step graphs. The memory pattern plans all of a step's intermediates
 * into one block, which the CPU arena then serves from a chunk rounded up to its next power-of-two
 * growth: the ConvNeXt V2-atto b32 224² step peaked at 4.2 GB of RSS with the pattern and 2.25 GB
 * without it (the arena alone, reusing freed blocks), at the same speed (the two timed interleaved
 * in one process: 2.81 s without, 3.03 s with, fastest of five). The arena keeps its default (on in Node, where steps are slower without it, ENGINE.md;
 * off in browsers, where it only grows the wasm heap).
 */
export const TRAIN_STEP_SESSION: Readonly<SessionOptions> = { memPattern: false };

const ORT_TYPES: Partial<Record<DType, OrtTensor.Type>> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  uint8: 'uint8',
  bool: 'bool',
};

function dtypeOf(t: OrtTensor): DType {
  return (t.type === 'bool' ? 'bool' : t.type) as DType;
}

function fromOrt(t: OrtTensor): Tensor {
  return new Tensor(t.data as TensorData as never, t.dims as number[], dtypeOf(t));
}

/**
 * An output left on the device (a WebGPU buffer): fed back to a run as it is; `download` copies it
 * to the host. train/session.ts's `DeviceValue` has this shape.
 */
export class OrtDeviceValue {
  constructor(readonly ort: OrtTensor) {}

  get shape(): readonly number[] {
    return this.ort.dims;
  }

  get dtype(): DType {
    return dtypeOf(this.ort);
  }

  async download(): Promise<Tensor> {
    const data = await this.ort.getData();
    return new Tensor(data as TensorData as never, [...this.ort.dims], this.dtype);
  }

  dispose(): void {
    this.ort.dispose();
  }
}

export class Session {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: InferenceSession,
    readonly label: string,
  ) {}

  static async create(ort: OrtModule, model: Uint8Array | string, opts: SessionOptions = {}): Promise<Session> {
    const label = opts.label ?? 'graph';
    const options: InferenceSession.SessionOptions = {
      executionProviders: opts.executionProviders ?? ['cpu'],
      graphOptimizationLevel: opts.optimization ?? 'all',
      enableCpuMemArena: opts.memArena ?? true,
      enableMemPattern: opts.memPattern ?? true,
      executionMode: 'sequential',
      interOpNumThreads: 1,
      logSeverityLevel: 3,
    };
    if (opts.threads !== undefined) options.intraOpNumThreads = opts.threads;
    if (opts.keepOnDevice?.length && options.executionProviders?.[0] === 'webgpu')
      options.preferredOutputLocation = Object.fromEntries(opts.keepOnDevice.map((n) => [n, 'gpu-buffer' as const]));
    if (opts.optimizedModelPath) options.optimizedModelFilePath = opts.optimizedModelPath;
    if (opts.profilePrefix) {
      options.enableProfiling = true;
      options.profileFilePrefix = opts.profilePrefix;
    }
    try {
      return new Session(ort, await ort.InferenceSession.create(model, options), label);
    } catch (err) {
      throw new RuntimeError(`ONNX Runtime could not load the ${label} graph: ${(err as Error).message}`);
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  private toOrt(name: string, t: Tensor): OrtTensor {
    const type = ORT_TYPES[t.dtype];
    if (!type) throw new RuntimeError(`${this.label}: input '${name}' has dtype ${t.dtype}, which cannot be fed to ONNX Runtime`);
    return new this.ort.Tensor(type, t.data, t.shape);
  }

  run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
  run(feeds: Record<string, Tensor | OrtDeviceValue>, fetches?: readonly string[]): Promise<Record<string, Tensor | OrtDeviceValue>>;
  async run(feeds: Record<string, Tensor | OrtDeviceValue>, fetches?: readonly string[]): Promise<Record<string, Tensor | OrtDeviceValue>> {
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = v instanceof OrtDeviceValue ? v.ort : this.toOrt(k, v);
    let out: InferenceSession.ReturnType;
    try {
      out = fetches ? await this.session.run(ortFeeds, fetches as string[]) : await this.session.run(ortFeeds);
    } catch (err) {
      throw new RuntimeError(`ONNX Runtime failed running the ${this.label} graph: ${(err as Error).message}`);
    }
    const res: Record<string, Tensor | OrtDeviceValue> = {};
    for (const [k, v] of Object.entries(out)) res[k] = v.location === 'cpu' || v.location === undefined ? fromOrt(v) : new OrtDeviceValue(v);
    return res;
  }

  endProfiling(): void {
    this.session.endProfiling();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

interface CacheEntry {
  session: Promise<Session>;
  /** Calls holding the session right now: an entry in use is never evicted. */
  users: number;
  /** Dropped from the cache while in use: released when its last user is done. */
  retired: boolean;
}

function dispose(e: CacheEntry): void {
  void e.session.then((s) => s.release()).catch(() => undefined);
}

/** A session borrowed from a `SessionCache`: call `release()` when the run is over. */
export interface Lease {
  session: Session;
  release(): void;
}

/**
 * An LRU of compiled sessions keyed by (graph, input shapes, options), bounded by `capacity`.
 * Sessions are reference-counted: a session that a pending call still uses is never released,
 * even past capacity (the cache then holds more until those calls finish, and trims itself again).
 */
export class SessionCache {
  private entries = new Map<string, CacheEntry>();

  constructor(private capacity = 8) {
    SessionCache.checkCapacity(capacity);
  }

  static checkCapacity(capacity: number): void {
    if (!(Number.isInteger(capacity) && capacity >= 1))
      throw new RuntimeError(`session cache size must be an integer ≥ 1, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  setCapacity(capacity: number): void {
    SessionCache.checkCapacity(capacity);
    this.capacity = capacity;
    this.trim();
  }

  /** Borrow the session for `key`, building it on a miss. The lease must be released. */
  async acquire(key: string, build: () => Promise<Session>): Promise<Lease> {
    let e = this.entries.get(key);
    if (e) {
      // Most recently used last.
      this.entries.delete(key);
      this.entries.set(key, e);
    } else {
      e = { session: build(), users: 0, retired: false };
      this.entries.set(key, e);
    }
    e.users++;
    const entry = e;
    let session: Session;
    try {
      session = await entry.session;
    } catch (err) {
      entry.users--;
      // A failed build must not poison the cache.
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw err;
    }
    this.trim();
    let released = false;
    return {
      session,
      release: () => {
        if (released) return;
        released = true;
        entry.users--;
        if (entry.retired && entry.users === 0) dispose(entry);
        else this.trim();
      },
    };
  }

  /** Release idle sessions, least recently used first, until the cache fits its capacity. */
  private trim(): void {
    if (this.entries.size <= this.capacity) return;
    for (const [key, e] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      if (e.users > 0) continue;
      this.entries.delete(key);
      dispose(e);
    }
  }

  /**
   * Drop the sessions whose keys match (all by default): idle ones are released now, those in use
   * when their last user is done.
   */
  clear(matches: (key: string) => boolean = () => true): void {
    for (const [key, e] of [...this.entries]) {
      if (!matches(key)) continue;
      this.entries.delete(key);
      if (e.users === 0) dispose(e);
      else e.retired = true;
    }
  }
}
