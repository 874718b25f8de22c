/**
 * Resolve a weights source to a state dict (name → Tensor). Today a source is a local safetensors
 * file; hub ids with a download cache will be resolved here too, so that `loadWeights` callers keep
 * passing one string. Node-only (file system), hence in `io/`: the browser entry will bring its own
 * resolver (fetch) behind the same `ModelBackend.readWeights` hook.
 */
import { WeightsError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { pathExists } from './files.js';
import { readSafetensors } from './safetensors.js';

export async function readWeightsSource(source: string): Promise<Map<string, Tensor>> {
  if (pathExists(source)) return readSafetensors(source);
  throw new WeightsError(`weights file not found: ${source}`);
}
