/**
 * The browser runtime: onnxruntime-web, loaded on first use (importing the entry loads no wasm), on
 * its wasm (CPU) or WebGPU execution provider. The browser entry (src/web.ts) completes it with a
 * weights reader (fetch + Cache API, io/web_weights.ts) and hands it to its engine.
 *
 * Threads: onnxruntime-web runs multi-threaded only where the page is cross-origin isolated (served
 * with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`,
 * which give it SharedArrayBuffer); elsewhere it uses one thread. ORT fixes the count when it first
 * starts, so it is set here before the first session and said once in the console.
 *
 * WebGPU uses ORT's native WebGPU EP build (`onnxruntime-web/webgpu`), not the JSEP build
 * (`ort.min.mjs`), which returns wrong shapes or zeros without an error on some of our graphs
 * (ENGINE.md, "The browser, measured"). Nodes the WebGPU EP cannot run fall back to wasm.
 */
import { RuntimeError } from '../errors.js';
import type { Runtime } from './runtime.js';
import type { OrtModule } from './session.js';

export type WebDevice = 'wasm' | 'webgpu' | 'auto';

/** The parts of onnxruntime-web's module beyond `OrtModule` that the runtime sets up. */
export interface OrtWebModule extends OrtModule {
  env: { wasm: { numThreads?: number; wasmPaths?: unknown }; logLevel?: string };
}

export interface WebRuntimeOptions {
  /** 'wasm' (CPU), 'webgpu', or 'auto' (WebGPU when the browser gives an adapter, else wasm). Default 'auto'. */
  device?: WebDevice;
  /**
   * wasm threads (default: up to 4 of the machine's cores when cross-origin isolated, else 1).
   * More than one needs a cross-origin isolated page.
   */
  numThreads?: number;
  /**
   * Where onnxruntime-web comes from (default: `import('onnxruntime-web/wasm')`, or
   * `import('onnxruntime-web/webgpu')` for WebGPU). Pass your own to use a CDN copy or set
   * `env.wasm.wasmPaths` first.
   */
  loadOrt?: (device: 'wasm' | 'webgpu') => Promise<OrtWebModule>;
  /** Where info lines go (default console.info). */
  log?: (message: string) => void;
  /**
   * Graph compiles (a session per model, input shape and outputs; the first one on WebGPU also
   * compiles shaders, which can take seconds): 'compile' when one starts, 'compiled' when it is ready.
   */
  onCompile?: (e: CompileEvent) => void;
}

export interface CompileEvent {
  status: 'compile' | 'compiled';
  device: 'wasm' | 'webgpu';
  /** Size of the ONNX graph. */
  bytes: number;
  /** Milliseconds the compile took ('compiled'). */
  ms?: number;
}

interface WebGlobals {
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number; gpu?: { requestAdapter(): Promise<unknown> } };
}

const web = globalThis as unknown as WebGlobals;

async function defaultLoadOrt(device: 'wasm' | 'webgpu'): Promise<OrtWebModule> {
  // Two literal specifiers, so that bundlers see (and can split out) both builds.
  const m = device === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
  return m as unknown as OrtWebModule;
}

/** Whether the browser gives a WebGPU adapter (false where there is no `navigator.gpu`). */
export async function hasWebGpu(): Promise<boolean> {
  try {
    return (await web.navigator?.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
}

/** The thread count onnxruntime-web gets, and the line that says why. */
export function chooseThreads(requested: number | undefined, isolated: boolean, cores: number): { threads: number; note: string } {
  if (requested !== undefined && !(Number.isInteger(requested) && requested >= 1))
    throw new RuntimeError(`numThreads must be an integer ≥ 1, got ${JSON.stringify(requested)}`);
  if (!isolated)
    return {
      threads: 1,
      note:
        `1 thread: the page is not cross-origin isolated${requested && requested > 1 ? ` (numThreads ${requested} asked for)` : ''}; ` +
        'serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp for multi-threaded wasm',
    };
  const threads = requested ?? Math.max(1, Math.min(4, cores));
  return { threads, note: `${threads} thread${threads > 1 ? 's' : ''} (cross-origin isolated)` };
}

/**
 * A runtime on onnxruntime-web. `readWeights` comes from the entry (runtime/ reads no files). The
 * module is loaded, the device chosen and the thread count fixed on the first session.
 */
export function webRuntime(readWeights: Runtime['readWeights'], o: WebRuntimeOptions = {}): Runtime & { device(): Promise<'wasm' | 'webgpu'> } {
  const requested = o.device ?? 'auto';
  if (!['wasm', 'webgpu', 'auto'].includes(requested)) throw new RuntimeError(`device must be 'wasm', 'webgpu' or 'auto', got ${JSON.stringify(requested)}`);
  const { threads, note } = chooseThreads(o.numThreads, web.crossOriginIsolated === true, web.navigator?.hardwareConcurrency ?? 1);
  const log = o.log ?? ((m: string) => console.info(m));
  let device: Promise<'wasm' | 'webgpu'> | null = null;
  const chosen = () =>
    (device ??= (async () => {
      if (requested !== 'auto') return requested;
      return (await hasWebGpu()) ? 'webgpu' : 'wasm';
    })());
  let loaded: OrtWebModule | null = null;
  let loading: Promise<OrtWebModule> | null = null;
  const load = () =>
    (loading ??= (async () => {
      const d = await chosen();
      let m: OrtWebModule;
      try {
        m = await (o.loadOrt ?? defaultLoadOrt)(d);
      } catch (err) {
        throw new RuntimeError(`could not load onnxruntime-web (${d}): ${(err as Error).message}; it is a peer dependency of visionmix/web (npm install onnxruntime-web)`);
      }
      m.env.wasm.numThreads = threads;
      log(`visionmix: onnxruntime-web on ${d === 'webgpu' ? 'WebGPU (wasm for the rest)' : 'wasm'}, ${note}`);
      loaded = m;
      return m;
    })());
  const providers = async () => ((await chosen()) === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm']);
  const ort: OrtModule = {
    InferenceSession: {
      async create(model, options) {
        const m = await load();
        const d = await chosen();
        const start = performance.now();
        o.onCompile?.({ status: 'compile', device: d, bytes: model.length });
        const session = await m.InferenceSession.create(model, { ...options, executionProviders: await providers() });
        o.onCompile?.({ status: 'compiled', device: d, bytes: model.length, ms: performance.now() - start });
        return session;
      },
    },
    get Tensor() {
      if (!loaded) throw new RuntimeError('onnxruntime-web is not loaded yet (a tensor was made before any session)');
      return loaded.Tensor;
    },
  };
  return {
    name: `onnxruntime-web (${requested})`,
    ort,
    executionProviders: requested === 'wasm' ? ['wasm'] : ['webgpu', 'wasm'],
    maxThreads: () => threads,
    // onnxruntime-web's wasm heap is 32-bit: at most 4 GiB, whatever the machine has.
    memoryBytes: () => 4 * 2 ** 30,
    readWeights,
    warn: (message) => console.warn(`visionmix: ${message}`),
    // The CPU arena only grows the wasm heap, which never shrinks.
    sessionDefaults: { memArena: false },
    device: chosen,
    emitTarget: async () => ((await chosen()) === 'webgpu' ? 'webgpu' : 'wasm'),
  };
}
