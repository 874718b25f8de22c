/**
 * Pretrained weight tags of MobileViT v1: timm's converted copies of ml-cvnets' ImageNet-1k
 * checkpoints (facts from timm 1.0.29, ../shared/data/pretrained/timm_pretrained_cfgs.json, which
 * test/models/mobilevit.test.ts compares this table against). First conv `stem.conv`, classifier `head.fc`.
 *
 * Input: the image scaled to [0, 1] and nothing else (mean 0, std 1); eval resizes to 256/0.9 with
 * bicubic interpolation and centre-crops 256.
 *
 * Channel order: ml-cvnets trained these networks on images read by OpenCV, i.e. BGR (spec §6), and
 * its own `mobilevit_*.pt` files expect BGR. timm evaluates the hosted copies on RGB (PIL) input and
 * reports 68.94 / 74.62 / 78.30 top-1, the papers' 69.0 / 74.8 / 78.4, so these tags say RGB. Load an
 * ml-cvnets checkpoint with `loadWeights(file, { channelOrder: 'BGR' })` to reverse its stem's input
 * channels, so that it too takes RGB (see MobileViT.adaptStateDict).
 */
import type { PretrainedConfig } from '../pretrained.js';

const CVNETS = {
  numClasses: 1000,
  inputSize: [3, 256, 256],
  cropPct: 0.9,
  cropMode: 'center',
  interpolation: 'bicubic',
  mean: [0, 0, 0],
  std: [1, 1, 1],
  license: 'cvnets-license',
  channelOrder: 'RGB',
} as const satisfies Omit<PretrainedConfig, 'tag' | 'hubId'>;

export const MOBILEVIT_PRETRAINED: readonly PretrainedConfig[] = [
  { tag: 'mobilevit_xxs.cvnets_in1k', hubId: 'timm/mobilevit_xxs.cvnets_in1k', ...CVNETS },
  { tag: 'mobilevit_xs.cvnets_in1k', hubId: 'timm/mobilevit_xs.cvnets_in1k', ...CVNETS },
  { tag: 'mobilevit_s.cvnets_in1k', hubId: 'timm/mobilevit_s.cvnets_in1k', ...CVNETS },
];
