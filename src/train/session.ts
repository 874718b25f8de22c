/**
 * What train/ needs of a compiled graph, owned here so that the training code does not depend on
 * the runtime layer: the entry (tasks/) injects a factory that builds runtime sessions
 * (runtime/session.ts's `Session` has this shape), and tests may inject their own.
 */
import type { DType, Tensor } from '../tensor.js';

/**
 * A value a session left on its device (a WebGPU buffer, `keepOnDevice`): fed to a later run as it
 * is, without a copy through the host; `download` brings it back (async), `dispose` frees it.
 */
export interface DeviceValue {
  readonly shape: readonly number[];
  readonly dtype: DType;
  download(): Promise<Tensor>;
  dispose(): void;
}

/** A compiled ONNX graph that can be run, profiled and released. */
export interface GraphSession {
  run(feeds: Record<string, Tensor | DeviceValue>, fetches?: readonly string[]): Promise<Record<string, Tensor | DeviceValue>>;
  /** Flush ORT's profile, when the session was created with one. */
  endProfiling(): void;
  release(): Promise<void>;
}

/**
 * Compile ONNX model bytes into a session; `label` names the graph in error messages. Outputs named in
 * `keepOnDevice` stay on the device where the runtime can keep them (onnxruntime-web on WebGPU), as
 * DeviceValues; elsewhere they come back as Tensors.
 */
export type SessionFactory = (bytes: Uint8Array, label: string, o?: { keepOnDevice?: readonly string[] }) => Promise<GraphSession>;
