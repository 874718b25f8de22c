/**
 * Pretrained weights of GLNet, as the official repository (rayleizhu/GLMix, MIT licence) releases them:
 * ImageNet-1k classifiers at 224², evaluated with a bicubic resize to 256 and a 224 centre crop,
 * ImageNet mean/std (spec §12). The checkpoints are PyTorch files on OneDrive (no hub id), at the
 * share URLs of the official code's `_glnet_ckpt_urls` (models/glnet.py), saved there as
 * `<name>.pth`; `pretrained: true` downloads them into the cache and reads them as PyTorch
 * checkpoints, from the entry `GLNET_CHECKPOINT_KEY` names.
 */
import type { PretrainedConfig } from '../pretrained.js';

const IN1K = {
  numClasses: 1000,
  inputSize: [3, 224, 224],
  cropPct: 0.875,
  cropMode: 'center',
  interpolation: 'bicubic',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  license: 'mit',
} as const satisfies Omit<PretrainedConfig, 'tag'>;

/** The official code's OneDrive share ids, by model name. */
const SHARES: Readonly<Record<string, string>> = {
  glnet_4g: 'u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5RzlEalNfQU1xbkpRaVgxP2U9dE9raEhQ',
  glnet_9g: 'u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5RUdGUTZrZldWLXdWWmVpP2U9d1d3Ujh6',
  glnet_16g: 'u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5amFCeEMzaC1COENIV01tP2U9R2ZSMGtn',
  glnet_stl: 'u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5QkZhQUlMRU11X2R0YmJWP2U9OUdoaGkz',
  glnet_stl_paramslot: 'u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5RzBlYXQ1ekNFOXVwY1FSP2U9dm1ibW8x',
  glnet_4g_tklb: 'u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5QVdjT2RsVFVhMkozdnNYP2U9d0U0Y2gx',
  glnet_9g_tklb: 'u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5blBFY2ctZkM3WkRDTUV0P2U9Ynd1ZmVS',
};

const release = (name: string) => ({
  url: `https://api.onedrive.com/v1.0/shares/${SHARES[name]!}/root/content`,
  fileName: `${name}.pth`,
  weightsKey: GLNET_CHECKPOINT_KEY[name]!,
});

/**
 * Where a release checkpoint keeps the weights: its `model` entry, except glnet_16g, whose published
 * accuracy (85.0) is that of the EMA weights under `model_ema` (spec §13).
 */
export const GLNET_CHECKPOINT_KEY: Readonly<Record<string, 'model' | 'model_ema'>> = {
  glnet_stl: 'model',
  glnet_stl_paramslot: 'model',
  glnet_4g: 'model',
  glnet_9g: 'model',
  glnet_16g: 'model_ema',
  glnet_4g_tklb: 'model',
  glnet_9g_tklb: 'model',
};

export const GLNET_PRETRAINED: readonly PretrainedConfig[] = [
  { tag: 'glnet_stl.in1k', ...IN1K, ...release('glnet_stl') },
  { tag: 'glnet_stl_paramslot.in1k', ...IN1K, ...release('glnet_stl_paramslot') },
  { tag: 'glnet_4g.in1k', ...IN1K, ...release('glnet_4g') },
  { tag: 'glnet_9g.in1k', ...IN1K, ...release('glnet_9g') },
  { tag: 'glnet_16g.in1k', ...IN1K, ...release('glnet_16g') },
  { tag: 'glnet_4g_tklb.in1k', ...IN1K, ...release('glnet_4g_tklb') },
  { tag: 'glnet_9g_tklb.in1k', ...IN1K, ...release('glnet_9g_tklb') },
];
