/**
 * A pool of worker threads (piscina) for CPU-heavy data work (decoding, augmentation), and the helper
 * a worker uses to hand its result back without a copy.
 *
 * Failures never pass silently: a task whose worker throws or dies rejects its `run()` promise with a
 * DataError naming the pool and the task, piscina replaces the dead worker (the pool stays usable),
 * and an error the pool reports outside any task (an uncaught exception in an idle worker) fails the
 * next `run()` with that error.
 */
import { Piscina, transferableSymbol, valueSymbol } from 'piscina';
import { DataError } from '../errors.js';

export interface WorkerPoolOptions {
  /** Worker threads (default 2). */
  threads?: number;
  /** For messages: what the pool does ("image loader"). */
  label?: string;
}

export class WorkerPool {
  private readonly pool: Piscina;
  private poolError: Error | null = null;
  readonly threads: number;
  readonly label: string;

  /** `filename`: the worker module (a file URL or path) whose default export handles a task. */
  constructor(filename: URL | string, o: WorkerPoolOptions = {}) {
    this.threads = o.threads ?? 2;
    this.label = o.label ?? 'worker pool';
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new DataError(`${this.label}: threads must be a positive integer, got ${this.threads}`);
    this.pool = new Piscina({
      filename: filename instanceof URL ? filename.href : filename,
      minThreads: this.threads,
      maxThreads: this.threads,
      // Tasks may be queued ahead of the threads (prefetch); keep idle workers alive between epochs.
      idleTimeout: 60_000,
    });
    this.pool.on('error', (err: Error) => {
      this.poolError = err;
    });
  }

  /** Run one task; `transfer`: buffers moved (not copied) into the worker. */
  async run<T>(task: unknown, what: string, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.poolError) {
      const err = this.poolError;
      this.poolError = null;
      throw new DataError(`${this.label}: a worker failed outside a task (${err.message}); ${what} was not run`);
    }
    try {
      return (await this.pool.run(task, { transferList: transfer })) as T;
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new DataError(`${this.label}: a worker failed on ${what}: ${(err as Error).message ?? String(err)}`);
    }
  }

  /** Stop the workers; tasks still queued are rejected. */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/**
 * In a worker: return `value` with `buffers` moved to the calling thread (no copy). The buffers must
 * not be used by the worker afterwards.
 */
export function transferResult<T extends object>(value: T, buffers: ArrayBuffer[]): T {
  const wrapped = {
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return value;
    },
  };
  return Piscina.move(wrapped as unknown as ArrayBuffer) as unknown as T;
}
