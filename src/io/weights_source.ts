/**
 * Resolve a weights source to a state dict (name → Tensor): a local file — safetensors or a PyTorch
 * checkpoint (`torch.save`, zip or legacy; told apart by their first bytes, not the extension) — a
 * hub reference `hf:org/repo[@revision][:file]` (io/hub.ts) or a URL `https://…[#sha256=…]`
 * (io/url_cache.ts), both downloaded into the cache. Node-only (file
 * system), hence in `io/`: the browser entry brings its own resolver (fetch) behind the same
 * `Runtime.readWeights` hook.
 */
import { WeightsError } from '../errors.js';
import type { ReadWeightsOptions as ModelReadOptions } from '../models/base.js';
import type { Tensor } from '../tensor.js';
import { pathExists } from './files.js';
import { hubFile, parseHubRef, type HubOptions } from './hub.js';
import { readPytorchFile, sniffWeightsFile } from './pytorch.js';
import { readSafetensors } from './safetensors.js';
import { isWeightsUrl, urlFile } from './url_cache.js';

export type ReadWeightsOptions = Pick<HubOptions, 'onProgress' | 'offline' | 'cacheDir' | 'hubUrl' | 'accessToken'> &
  Pick<ModelReadOptions, 'weightsKey' | 'onCheckpoint'> & {
    /** A URL source's sha256 when known (e.g. a pretrained tag's record). */
    sha256?: string;
  };

/** `s3://…`, `file://…` and the like (http(s) is handled above). */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;
/** Hub ids written the timm way (`hf-hub:org/name`, `hf_hub:…`) or bare (`timm/convnext_tiny.fb_in1k`, `org/name`). */
const HUB_LIKE = /^(hf[-_]hub:|timm\/)|^[\w.-]+\/[\w.-]+$/;

export async function readWeightsSource(source: string, o: ReadWeightsOptions = {}): Promise<Map<string, Tensor>> {
  if (typeof source !== 'string' || source === '') throw new WeightsError(`weights source must be a file path, hf:org/repo or https://…, got ${JSON.stringify(source)}`);
  const hub = parseHubRef(source);
  if (hub) return readWeightsFile(await hubFile(hub, o), o);
  if (isWeightsUrl(source)) return readWeightsFile(await urlFile(source, o), o);
  if (pathExists(source)) return readWeightsFile(source, o);
  if (source.startsWith('hf:')) throw new WeightsError(`weights source ${source}: a hub reference is hf:org/name[@revision][:file]`);
  if (URL_LIKE.test(source))
    throw new WeightsError(
      `weights '${source}' is a URL of a kind not downloaded: give an https:// URL, a local .safetensors or .pth file, or a hub repository as hf:org/name (e.g. hf:timm/convnext_atto.d2_in1k)`,
    );
  if (HUB_LIKE.test(source) && !/\.(safetensors|pth|pt|bin|ckpt)$/.test(source)) {
    const repo = source.replace(/^hf[-_]hub:/, '');
    throw new WeightsError(`weights '${source}' is not a local file; for the hub repository write hf:${repo}`);
  }
  throw new WeightsError(`weights file not found: ${source} (expected a local .safetensors or PyTorch .pth/.pt file, or hf:org/repo)`);
}

/** A local weights file of either kind. PyTorch checkpoints report which state dict they gave through `onCheckpoint`. */
export async function readWeightsFile(path: string, o: Pick<ReadWeightsOptions, 'weightsKey' | 'onCheckpoint'> = {}): Promise<Map<string, Tensor>> {
  const format = await sniffWeightsFile(path);
  if (format === 'zip' || format === 'legacy') {
    const { tensors, info } = await readPytorchFile(path, { weightsKey: o.weightsKey });
    o.onCheckpoint?.(info);
    return tensors;
  }
  if (o.weightsKey !== undefined) throw new WeightsError(`${path}: a weights key ('${o.weightsKey}') applies to PyTorch checkpoints; this is a safetensors file`);
  return readSafetensors(path);
}
