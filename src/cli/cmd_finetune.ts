/**
 * `visionmix finetune`: start from trained weights (a file, a hub reference, a run folder, or the
 * registry tag's own with --pretrained), replace the classifier for the data's classes, and train
 * with `train`'s loop: the same run folder, checkpoints, exact resume, EMA report, and a paper's
 * recipe with layer-wise lr decay.
 */
import { ConfigError } from '../errors.js';
import { defineCommand } from './args.js';
import { TRAIN_OPTIONS, runTraining } from './cmd_train.js';
import type { CliIO, CommandArgs } from './main.js';
import { FOLDER_OPTIONS } from './recipe_options.js';

export const spec = defineCommand({
  name: 'finetune',
  summary: 'Fine-tune trained weights on an image folder (new classifier, recipe presets, layer decay, EMA)',
  description:
    "Loads every weight of --weights but the classifier's (a fresh one is made for the data's classes; every " +
    'other key must match the model), then trains as `visionmix train` does. --weights is a .safetensors/.pth/.pt ' +
    "file, hf:org/repo[@rev][:file], or a finished run folder (its model.safetensors; an FCMAE pretraining run's " +
    'encoder.safetensors; without --model, the network that run trained). --pretrained takes the registry tag\'s own hub weights. With --recipe the paper\'s ' +
    'hyper-parameters fill every flag not given (lr scaled to --batch; for a run shorter than the paper\'s, its warm-up and EMA are ' +
    'scaled to the run and printed). Without --size the run trains at the size the weights were trained at (a weight tag\'s, a run ' +
    "folder's). With --ema the EMA weights are evaluated " +
    'every epoch beside the raw ones (test_acc_ema) and saved as DIR/model_ema.safetensors.',
  options: {
    ...TRAIN_OPTIONS,
    ...FOLDER_OPTIONS,
    weights: { type: 'string', placeholder: 'src', description: 'weights to start from: file, hf:org/repo, or a run folder' },
    pretrained: { type: 'boolean', description: "start from the --model tag's own pretrained weights (hub, cached)" },
    weightsKey: { type: 'string', placeholder: 'key', description: "PyTorch checkpoints: the state dict to start from (default: 'model', 'state_dict', 'model_ema', … or a bare dict)" },
    numClasses: { type: 'int', min: 1, description: "classes of the new classifier (default, and must equal: the data's class folders)" },
  },
  examples: [
    'visionmix finetune --model convnextv2_atto.fcmae_ft_in1k --pretrained --data photos/ --recipe convnextv2-ft --epochs 10 --batch 32 --size 224 --out runs/ft',
    'visionmix finetune --weights runs/fm04 --data fm59/ --layer-decay 0.9 --mixup 0.8 --cutmix 1.0 --out runs/fm59-ft   # the network runs/fm04 trained',
    'visionmix finetune --resume runs/ft',
  ],
});

export async function run({ values: v, given }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  if (v.resume) {
    for (const k of ['weights', 'pretrained', 'numClasses', 'weightsKey'] as const)
      if (given.has(k)) throw new ConfigError(`--${k === 'numClasses' ? 'num-classes' : k === 'weightsKey' ? 'weights-key' : k} cannot be used with --resume: the run already started from its weights`);
    return runTraining(v, given, io, { command: 'finetune' });
  }
  if (v.weights && v.pretrained) throw new ConfigError('give either --weights or --pretrained, not both');
  const { resolveInitWeights, runFolderModel } = await import('../tasks/finetune.js');
  if (!v.model) {
    // A run folder says which network it trained.
    const fromRun = v.weights !== undefined ? runFolderModel(v.weights) : undefined;
    if (!fromRun) throw new ConfigError('--model is required (a registry name or weight tag, or a family with --config), unless --weights is a run folder');
    if (given.has('config')) throw new ConfigError(`--config needs --model; without it the model and its config come from the run folder ${v.weights}`);
    v = { ...v, model: fromRun.model, config: fromRun.config };
  }
  const weights = resolveInitWeights(v.model!, { weights: v.weights, pretrained: v.pretrained });
  if (v.numClasses !== undefined) {
    const { countFolderClasses } = await import('../tasks/finetune.js');
    const found = countFolderClasses(v.data, v.valSplit, v.valFraction, v.seed);
    if (found !== v.numClasses) throw new ConfigError(`--num-classes ${v.numClasses}, but --data ${v.data} has ${found} class folders`);
  }
  // The size the weights were trained at, unless --size says otherwise (warned when far from it).
  const { finetuneInputSize } = await import('../tasks/finetune.js');
  const sz = finetuneInputSize(v.model!, v.weights, v.size, given.has('size'));
  if (!given.has('size') && sz.from) io.stderr.write(`note: input size ${sz.size}, the weights' (${sz.from}); --size overrides\n`);
  if (sz.warning) io.stderr.write(`warning: ${sz.warning}\n`);
  v = { ...v, size: sz.size };
  return runTraining(v, given, io, { command: 'finetune', recipe: v, init: { weights, ...(v.weightsKey !== undefined ? { weightsKey: v.weightsKey } : {}) } });
}
