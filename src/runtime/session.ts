/**
 * ONNX Runtime sessions (onnxruntime-node). Tensors cross the boundary as views, not copies, where
 * the API allows: inputs wrap our typed arrays, outputs are wrapped as returned.
 */
import * as ort from 'onnxruntime-node';
import { RuntimeError } from '../errors.js';
import { Tensor, type DType, type TensorData } from '../tensor.js';

export interface SessionOptions {
  /** Intra-op threads (default: all cores, at most os cores). */
  threads?: number;
  /** ORT's CPU memory arena: faster, but doubles peak memory on training graphs. */
  memArena?: boolean;
  /** Graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write ORT's optimised model here (debugging). */
  optimizedModelPath?: string;
  /** Collect an ORT profile with this file prefix. */
  profilePrefix?: string;
  /** A label for error messages (model name, graph kind). */
  label?: string;
}

const ORT_TYPES: Partial<Record<DType, ort.Tensor.Type>> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  uint8: 'uint8',
  bool: 'bool',
};

function toOrt(t: Tensor): ort.Tensor {
  const type = ORT_TYPES[t.dtype];
  if (!type) throw new RuntimeError(`dtype ${t.dtype} cannot be fed to ONNX Runtime`);
  return new ort.Tensor(type, t.data as never, t.shape);
}

function fromOrt(t: ort.Tensor): Tensor {
  const dtype = (t.type === 'bool' ? 'bool' : t.type) as DType;
  return new Tensor(t.data as TensorData as never, t.dims as number[], dtype);
}

export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly label: string,
  ) {}

  static async create(model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const label = opts.label ?? 'graph';
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: opts.optimization ?? 'all',
      enableCpuMemArena: opts.memArena ?? true,
      executionMode: 'sequential',
      interOpNumThreads: 1,
      logSeverityLevel: 3,
    };
    if (opts.threads !== undefined) options.intraOpNumThreads = opts.threads;
    if (opts.optimizedModelPath) options.optimizedModelFilePath = opts.optimizedModelPath;
    if (opts.profilePrefix) {
      options.enableProfiling = true;
      options.profileFilePrefix = opts.profilePrefix;
    }
    try {
      return new Session(await ort.InferenceSession.create(model, options), label);
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

  async run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = fetches ? await this.session.run(ortFeeds, fetches as string[]) : await this.session.run(ortFeeds);
    } catch (err) {
      throw new RuntimeError(`ONNX Runtime failed running the ${this.label} graph: ${(err as Error).message}`);
    }
    const res: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(out)) res[k] = fromOrt(v);
    return res;
  }

  endProfiling(): void {
    this.session.endProfiling();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** A small LRU of compiled sessions keyed by (graph identity, input shapes, options). */
export class SessionCache {
  private entries = new Map<string, Promise<Session>>();

  constructor(private readonly capacity = 4) {}

  get(key: string, build: () => Promise<Session>): Promise<Session> {
    let s = this.entries.get(key);
    if (s) {
      this.entries.delete(key);
      this.entries.set(key, s);
      return s;
    }
    s = build();
    // A failed build must not poison the cache.
    s.catch(() => this.entries.delete(key));
    this.entries.set(key, s);
    while (this.entries.size > this.capacity) {
      const [oldKey, old] = this.entries.entries().next().value as [string, Promise<Session>];
      this.entries.delete(oldKey);
      void old.then((x) => x.release()).catch(() => undefined);
    }
    return s;
  }

  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const s of all) await s.then((x) => x.release()).catch(() => undefined);
  }
}
