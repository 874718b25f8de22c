/**
 * What train/ needs of a compiled graph, owned here so that the training code does not depend on
 * the runtime layer: the entry (tasks/) injects a factory that builds runtime sessions
 * (runtime/session.ts's `Session` has this shape), and tests may inject their own.
 */
import type { Tensor } from '../tensor.js';

/** A compiled ONNX graph that can be run, profiled and released. */
export interface GraphSession {
  run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
  /** Flush ORT's profile, when the session was created with one. */
  endProfiling(): void;
  release(): Promise<void>;
}

/** Compile ONNX model bytes into a session; `label` names the graph in error messages. */
export type SessionFactory = (bytes: Uint8Array, label: string) => Promise<GraphSession>;
