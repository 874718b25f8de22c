/** Resolve a weights source (a local safetensors file for now) to a state dict. */
import { existsSync } from 'node:fs';
import { WeightsError } from '../errors.js';
import { readSafetensors } from '../io/safetensors.js';
import type { Tensor } from '../tensor.js';

export async function readWeightsSource(source: string): Promise<Map<string, Tensor>> {
  if (existsSync(source)) return readSafetensors(source);
  throw new WeightsError(`weights file not found: ${source}`);
}
