/**
 * Pretrained weights of CMT: the four ImageNet-1k checkpoints of the official release (CMT is not in
 * timm, so these are not timm tags; values from ../shared/spec/cmt.md §1, §10). They are published as
 * GitHub release assets of ggjy/CMT.pytorch (`cmt_tiny.pth`, …), not on the Hugging Face hub: no hub id.
 *
 * Release URLs and file names from the official README (huawei-noah/Efficient-AI-Backbones,
 * cmt_pytorch/README.md; the assets are GitHub releases of ggjy/CMT.pytorch, tag release-v1); each
 * checkpoint keeps its weights under 'model'.
 *
 * Preprocessing: the official evaluation (`datasets.py`) resizes the shorter side to
 * int(256/224 · res), bicubic, and centre-crops res — crop 0.875 at every resolution (size / 0.875,
 * floored, is exactly int(256/224 · res) for 160, 192, 224 and 256). The `_cfg()` in cmt.py says
 * crop_pct 0.9, but nothing in the release evaluates with it; the README accuracies come from
 * datasets.py. ImageNet mean/std, RGB. Licence: Apache-2.0 (cmt_pytorch/License.txt).
 */
import type { PretrainedConfig } from '../pretrained.js';

const COMMON = {
  numClasses: 1000,
  cropPct: 0.875,
  cropMode: 'center',
  interpolation: 'bicubic',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  license: 'apache-2.0',
} as const satisfies Omit<PretrainedConfig, 'tag' | 'inputSize'>;

const RELEASE = 'https://github.com/ggjy/CMT.pytorch/releases/download/release-v1';
const release = (fileName: string) => ({ url: `${RELEASE}/${fileName}`, fileName, weightsKey: 'model' });

export const CMT_PRETRAINED: readonly PretrainedConfig[] = [
  { tag: 'cmt_ti.in1k', inputSize: [3, 160, 160], ...COMMON, ...release('cmt_tiny.pth') },
  { tag: 'cmt_xs.in1k', inputSize: [3, 192, 192], ...COMMON, ...release('cmt_xs.pth') },
  { tag: 'cmt_s.in1k', inputSize: [3, 224, 224], ...COMMON, ...release('cmt_small.pth') },
  { tag: 'cmt_b.in1k', inputSize: [3, 256, 256], ...COMMON, ...release('cmt_base.pth') },
];
