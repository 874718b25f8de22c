/**
 * `visionmix pretrain`: FCMAE self-supervised pretraining of a ConvNeXt encoder (ConvNeXt V2 §3):
 * the same run folder, progress, checkpoints and exact resume as `train`, plus a PNG of
 * reconstructions after every epoch and, when finished, encoder.safetensors to fine-tune from.
 */
import { defineCommand } from './args.js';
import { TRAIN_OPTIONS, fcmaeKind, runTraining } from './cmd_train.js';
import type { CliIO, CommandArgs } from './main.js';

/** train's options without label smoothing: a reconstruction loss has no labels to smooth. */
const { labelSmoothing: _noLabels, ...PRETRAIN_TRAIN_OPTIONS } = TRAIN_OPTIONS;

export const spec = defineCommand({
  name: 'pretrain',
  summary: 'FCMAE-pretrain a ConvNeXt encoder (masked reconstruction); --resume continues a run',
  description:
    'Masks --mask-ratio of the --patch-size × --patch-size patches of every image (the patch must equal the ' +
    "encoder's total stride: 32 for a 4×4 stem, 16 for 2×2, 8 for 1×1), encodes the visible ones with the masked " +
    'ConvNeXt and reconstructs the image with a one-block decoder; the loss is the (normalised-pixel) MSE of the ' +
    'masked patches. Writes what train writes, plus DIR/reconstructions_epochNNN.png (input, masked input, ' +
    'reconstruction, reconstruction pasted into the masked patches) and, when finished, DIR/encoder.safetensors ' +
    '(the encoder under a classifier\'s names). AdamW with β₂ = 0.95 as the paper; no label smoothing.',
  options: {
    ...PRETRAIN_TRAIN_OPTIONS,
    maskRatio: { type: 'number', min: 0.01, max: 0.99, default: 0.6, description: 'fraction of patches masked per image' },
    patchSize: { type: 'int', min: 1, default: 32, description: "masking patch side (the encoder's total stride)" },
    decoderDim: { type: 'int', min: 1, default: 512, description: 'decoder width' },
    decoderDepth: { type: 'int', min: 1, default: 1, description: 'decoder ConvNeXt V2 blocks' },
    normPixLoss: { type: 'boolean', default: true, description: 'normalise each target patch by its mean and variance (--no-norm-pix-loss: raw pixels)' },
    requireGrn: { type: 'boolean', default: true, description: 'refuse encoders without GRN (--no-require-grn to study FCMAE without it)' },
  },
  examples: [
    'visionmix pretrain --model convnextv2 --config \'{"depths":[2,2,4,2],"dims":[32,64,128,256],"patch_size":1}\' --patch-size 8 --decoder-dim 128 --data fashion-mnist --epochs 20 --out runs/fcmae',
    'visionmix pretrain --resume runs/fcmae',
  ],
});

export function run({ values: v, given }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const fcmae = {
    mask_ratio: v.maskRatio,
    patch_size: v.patchSize,
    decoder_embed_dim: v.decoderDim,
    decoder_depth: v.decoderDepth,
    norm_pix_loss: v.normPixLoss,
    require_grn: v.requireGrn,
  };
  return runTraining({ ...v, labelSmoothing: 0 }, given, io, fcmaeKind(fcmae, 'pretrain'));
}
