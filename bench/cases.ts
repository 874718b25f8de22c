/** The suite's list of cases (the case builders are in cases_*.ts). */
import { checkpointRssCase, featuresCase, loaderCase } from './cases_data.js';
import { inferenceCase, webPeerCase } from './cases_inference.js';
import { fcmaeStepsCase, trainStepCase } from './cases_training.js';
import { exportedFilesCase, int8GemmCase } from './cases_export.js';
import { webBundleCase } from './cases_web.js';
import type { BenchCase } from './types.js';

/** The suite, in run order. Training cases go here too (section 'training'). */
export const cases: BenchCase[] = [
  // FCMAE pretraining: the step at mask 0.6 against the same step with (almost) nothing masked. First,
  // in a fresh process: after the other cases (sessions and arenas come and go) it measured 0.59–0.67
  // in full runs against 0.56–0.58 alone, the two big train graphs being the most sensitive to that.
  fcmaeStepsCase(32),
  inferenceCase('convnext_tiny', 'ConvNeXt-T', 1, 224, true),
  inferenceCase('convnext_tiny', 'ConvNeXt-T', 8),
  inferenceCase('convnextv2_tiny', 'ConvNeXt V2-T', 1),
  inferenceCase('convnextv2_tiny', 'ConvNeXt V2-T', 8),
  // The other families at their own resolution, batch 1: their time over ConvNeXt-T b1 (`comparisons`).
  inferenceCase('cmt_s', 'CMT-S', 1, 224, true),
  inferenceCase('glnet_4g', 'GLNet-4G', 1, 224, true),
  inferenceCase('mobilevit_xxs', 'MobileViT-XXS', 1, 256, true),
  webPeerCase('convnext_tiny', 'ConvNeXt-T'),
  // Exported files: int8 against fp32, interleaved (issue 24's 2× goal).
  exportedFilesCase(1),
  exportedFilesCase(8),
  int8GemmCase(),
  trainStepCase('convnextv2_atto', 'ConvNeXt V2-A', 32, 224),
  // The model and batch of the Fashion-MNIST run in this file (1 channel, 2×2 stem, 32² input).
  trainStepCase(
    { family: 'convnextv2', depths: [2, 2, 4, 2], dims: [32, 64, 128, 256], stem_stride: 2, in_chans: 1, num_classes: 10 },
    'ConvNeXt V2 (Fashion-MNIST config)',
    128,
    32,
    { warmup: 3, iters: 10 },
  ),
  // The other families' Fashion-MNIST runs (bench/records), for their fraction of the GEMM peak.
  trainStepCase(
    {
      family: 'mobilevit',
      layer1: { out: 16, exp: 2, n: 1, stride: 1 },
      layer2: { out: 24, exp: 2, n: 2, stride: 1 },
      layer3: { out: 48, exp: 2, stride: 2, dim: 64, depth: 2 },
      layer4: { out: 64, exp: 2, stride: 2, dim: 80, depth: 2 },
      layer5: { out: 80, exp: 2, stride: 1, dim: 96, depth: 2 },
      in_chans: 1,
      num_classes: 10,
    },
    'MobileViT (Fashion-MNIST config)',
    128,
    32,
    { warmup: 2, iters: 6 },
  ),
  trainStepCase(
    { family: 'cmt', img_size: 32, embed_dims: [32, 64, 128, 256], stem_channel: 16, fc_dim: 256, depths: [2, 2, 4, 2], mlp_ratios: [4, 4, 4, 4], sr_ratios: [2, 1, 1, 1], in_chans: 1, num_classes: 10 },
    'CMT (Fashion-MNIST config)',
    128,
    32,
    { warmup: 2, iters: 6 },
  ),
  trainStepCase(
    {
      family: 'glnet',
      norm_layer: 'BatchNorm2d',
      downsample_style: 'ovlp',
      mixing_modes: ['glmix', 'glmix', 'mha_nchw', 'mha_nchw'],
      slot_init: 'ada_avgpool',
      num_slots: 16,
      cpe_ks: 3,
      mlp_dw: true,
      depth: [2, 2, 4, 2],
      embed_dim: [32, 64, 128, 256],
      mlp_ratios: [3, 3, 3, 3],
      head_dim: 32,
      in_chans: 1,
      num_classes: 10,
    },
    'GLNet (Fashion-MNIST config)',
    128,
    32,
    { warmup: 2, iters: 6 },
  ),
  loaderCase(2, 32, 224),
  featuresCase('convnext_atto', 'ConvNeXt-A', 100, 32),
  checkpointRssCase(),
  webBundleCase(),
];
