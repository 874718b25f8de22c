/**
 * Pretrained weights of GLNet, as the official repository (rayleizhu/GLMix, MIT licence) releases them:
 * ImageNet-1k classifiers at 224², evaluated with a bicubic resize to 256 and a 224 centre crop,
 * ImageNet mean/std (spec §12). The checkpoints are PyTorch files on OneDrive, linked from the
 * repository's README (no hub id); converted to safetensors they load directly with `loadWeights`.
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

export const GLNET_PRETRAINED: readonly PretrainedConfig[] = [
  { tag: 'glnet_stl.in1k', ...IN1K },
  { tag: 'glnet_stl_paramslot.in1k', ...IN1K },
  { tag: 'glnet_4g.in1k', ...IN1K },
  { tag: 'glnet_9g.in1k', ...IN1K },
  { tag: 'glnet_16g.in1k', ...IN1K },
  { tag: 'glnet_4g_tklb.in1k', ...IN1K },
  { tag: 'glnet_9g_tklb.in1k', ...IN1K },
];

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
