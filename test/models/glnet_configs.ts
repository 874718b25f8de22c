/** Small GLNet configs shared by the GLNet tests: the golden cases' shapes, both stage layouts. */
import type { FamilySpec } from '../../src/models/registry.js';

/** The 4G family's layout (overlapping stem, CPE, mlp_dw, MHSA in stages 2–3, layer scale), tiny. */
export const TINY_G = {
  family: 'glnet',
  norm_layer: 'BatchNorm2d',
  mixing_modes: ['glmix', 'glmix', 'glmix.mha_nchw', 'mha_nchw'],
  slot_init: 'ada_avgpool',
  cpe_ks: 3,
  downsample_style: 'ovlp',
  mlp_dw: true,
  depth: [1, 1, 2, 1],
  embed_dim: [16, 32, 48, 64],
  mlp_ratios: [3, 3, 3, 3],
  head_dim: 8,
  num_slots: 9,
  layerscale: 1e-4,
  num_classes: 10,
} satisfies FamilySpec<'glnet'>;

/** The Swin-Tiny layout (non-overlapping downsampling, GLMix ×3, token MHSA), tiny. */
export const TINY_STL = {
  family: 'glnet',
  norm_layer: 'BatchNorm2d',
  mixing_modes: ['glmix', 'glmix', 'glmix', 'mha'],
  slot_init: 'ada_avgpool',
  transition_layout: 'norm.proj',
  depth: [1, 1, 2, 1],
  embed_dim: [16, 32, 48, 64],
  head_dim: 8,
  num_slots: 4,
  num_classes: 10,
} satisfies FamilySpec<'glnet'>;
