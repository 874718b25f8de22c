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

/** `https://…`, `s3://…`, `file://…` and the like. */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;
/** timm / Hugging Face hub ids: `hf-hub:org/name`, `hf_hub:…`, `timm/convnext_tiny.fb_in1k`, `org/name`. */
const HUB_LIKE = /^(hf[-_]hub:|timm\/)|^[\w.-]+\/[\w.-]+$/;

const EXPECTED = 'expected the path of a local .safetensors file';

export async function readWeightsSource(source: string): Promise<Map<string, Tensor>> {
  if (pathExists(source)) return readSafetensors(source);
  if (URL_LIKE.test(source))
    throw new WeightsError(
      `weights '${source}' is a URL, not a local file: downloading weights is not available yet; ${EXPECTED} (download it first)`,
    );
  if (HUB_LIKE.test(source) && !source.endsWith('.safetensors'))
    throw new WeightsError(
      `weights '${source}' is not a local file; if it is a hub id, hub download is not available yet; ${EXPECTED}`,
    );
  throw new WeightsError(`weights file not found: ${source} (${EXPECTED})`);
}
