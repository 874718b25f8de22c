/**
 * Resolve a weights source to a state dict (name → Tensor): a local safetensors file, or a hub
 * reference `hf:org/repo[@revision][:file]` downloaded into the cache (io/hub.ts). Node-only (file
 * system), hence in `io/`: the browser entry brings its own resolver (fetch) behind the same
 * `Runtime.readWeights` hook.
 */
import { WeightsError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { pathExists } from './files.js';
import { hubFile, parseHubRef, type HubOptions } from './hub.js';
import { readSafetensors } from './safetensors.js';

export type ReadWeightsOptions = Pick<HubOptions, 'onProgress' | 'offline' | 'cacheDir' | 'hubUrl' | 'accessToken'>;

export async function readWeightsSource(source: string, o: ReadWeightsOptions = {}): Promise<Map<string, Tensor>> {
  if (typeof source !== 'string' || source === '') throw new WeightsError(`weights source must be a file path or hf:org/repo, got ${JSON.stringify(source)}`);
  const hub = parseHubRef(source);
  if (hub) return readSafetensors(await hubFile(hub, o));
  if (pathExists(source)) return readSafetensors(source);
  if (/^https?:\/\//.test(source))
    throw new WeightsError(`weights source ${source} is a URL: give a local file, or a hub repository as hf:org/name (e.g. hf:timm/convnext_atto.d2_in1k)`);
  if (source.startsWith('hf:')) throw new WeightsError(`weights source ${source}: a hub reference is hf:org/name[@revision][:file]`);
  throw new WeightsError(`weights file not found: ${source}${/^[\w.-]+\/[\w.-]+$/.test(source) ? ` (for the hub repository, write hf:${source})` : ''}`);
}
