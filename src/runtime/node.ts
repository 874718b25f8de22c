/**
 * The Node runtime: onnxruntime-node and the machine's core count. The Node entry (src/index.ts)
 * completes it with a weights reader from io/ (runtime/ does not read files) and hands it to its
 * engine.
 */
// First: sets ORT_DISABLE_TELEMETRY before onnxruntime-node loads.
import './node_env.js';
import { totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { RuntimeError } from '../errors.js';
import { NCHWC_DOMAIN, serializeModel, type OnnxModel } from '../graph/emit.js';
import { Tensor } from '../tensor.js';
import { defaultThreads, runtimeVersions } from './node_machine.js';
import type { Runtime } from './runtime.js';
import { Session, type OrtModule, type SessionOptions } from './session.js';

export const nodeOrt: OrtModule = ort as unknown as OrtModule;

/**
 * Where onnxruntime-node runs the graphs: 'cpu' (default), 'webgpu' (the WebGPU EP built into
 * onnxruntime-node 1.30 on linux-x64, Dawn over Vulkan: it needs a GPU with a Vulkan driver and the
 * Vulkan loader, libvulkan.so.1), or 'auto' (WebGPU when an adapter exists, else the CPU, said once).
 */
export type NodeDevice = 'cpu' | 'webgpu' | 'auto';

/** Why onnxruntime-node's WebGPU EP could not start, in a user's words (its own message is Dawn's). */
function whyNoWebGpu(err: unknown): string {
  const m = (err as Error)?.message ?? String(err);
  if (/Failed to get a WebGPU adapter|No supported adapters/i.test(m))
    return 'no WebGPU adapter: this machine has no GPU that Dawn can use (it needs a Vulkan driver and the Vulkan loader libvulkan.so.1)';
  return `onnxruntime-node's WebGPU EP failed to start: ${m.split('\n')[0]}`;
}

export function nodeRuntime(readWeights: Runtime['readWeights'], o: { device?: NodeDevice; log?: (message: string) => void } = {}): Runtime & { device(): Promise<'cpu' | 'webgpu'> } {
  const requested = o.device ?? 'cpu';
  if (!['cpu', 'webgpu', 'auto'].includes(requested)) throw new RuntimeError(`device must be 'cpu', 'webgpu' or 'auto', got ${JSON.stringify(requested)}`);
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  // 'auto' is settled by the first session: a WebGPU session that starts means an adapter exists.
  let settled: 'cpu' | 'webgpu' | null = requested === 'auto' ? null : requested;
  const providers = (d: 'cpu' | 'webgpu') => (d === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu']);
  const sessions: OrtModule = {
    InferenceSession: {
      async create(model, options) {
        const d = settled ?? 'webgpu';
        try {
          const s = await nodeOrt.InferenceSession.create(model, { ...options, executionProviders: providers(d) });
          settled ??= d;
          return s;
        } catch (err) {
          if (d !== 'webgpu') throw err;
          if (settled === 'webgpu') throw new RuntimeError(`device 'webgpu': ${whyNoWebGpu(err)}`);
          settled = 'cpu';
          log(`visionmix: device 'auto' runs on the CPU (${whyNoWebGpu(err)})`);
          return nodeOrt.InferenceSession.create(model, { ...options, executionProviders: providers('cpu') });
        }
      },
    },
    Tensor: nodeOrt.Tensor,
  };
  return {
    name: `onnxruntime-node ${runtimeVersions().onnxruntimeNode}${requested === 'cpu' ? '' : ` (${requested})`}`,
    ort: requested === 'cpu' ? nodeOrt : sessions,
    executionProviders: requested === 'cpu' ? ['cpu'] : ['webgpu', 'cpu'],
    maxThreads: defaultThreads,
    memoryBytes: totalmem,
    readWeights,
    warn: (message) => process.emitWarning(message, { code: 'VISIONMIX' }),
    device: async () => settled ?? 'cpu',
    // Graphs for the WebGPU EP are lowered for it (graph/emit.ts); 'auto' emits them so too until it is settled on the CPU.
    emitTarget: async () => (requested === 'cpu' || settled === 'cpu' ? 'cpu' : 'webgpu'),
    nchwcBlock: async () => (requested === 'cpu' || settled === 'cpu' ? nchwcBlockSize() : 0),
  };
}

let nchwcBlockProbe: Promise<number> | undefined;

/**
 * ONNX Runtime's NCHWc block size on this machine, for graphs that use its NCHWc kernels directly
 * (graph/ops/conv_nchwc.ts): MLAS picks it from the CPU (16 with AVX-512, 8 with AVX2, 1 where it
 * has no NCHWc kernels). Read once per process from a ReorderInput of four channels (the fewest it
 * takes), which pads the channels to the block; 0 where the kernels are not there at all.
 */
export function nchwcBlockSize(): Promise<number> {
  nchwcBlockProbe ??= (async () => {
    const probe: OnnxModel = {
      name: 'nchwc-block-probe',
      opset: 17,
      producer: 'visionmix',
      nodes: [{ opType: 'ReorderInput', domain: NCHWC_DOMAIN, inputs: ['x'], outputs: ['y'], attrs: {}, name: 'reorder' }],
      initializers: [],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4, 1, 1] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [], shapeUnknown: true }],
      metadata: [],
      domains: { [NCHWC_DOMAIN]: 1 },
    };
    try {
      const session = await Session.create(nodeOrt, serializeModel(probe).model, { threads: 1, label: 'NCHWc block probe' });
      const { y } = await session.run({ x: new Tensor(new Float32Array(4), [1, 4, 1, 1], 'float32') });
      await session.release();
      // 4 back: a block of 4 or less, nothing to block the channels by.
      const block = (y as Tensor).shape[1]!;
      return block > 4 ? block : 0;
    } catch {
      return 0;
    }
  })();
  return nchwcBlockProbe;
}

/** A session on onnxruntime-node (tests, benchmarks and tools that compile graphs themselves); `model` may be a file path. */
export function createNodeSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<Session> {
  return Session.create(nodeOrt, model, opts);
}
