/**
 * The options of training on an image folder (`train` and `finetune`): a recipe preset
 * (`--recipe convnext|convnextv2-ft|deit|mobilevit`), each of whose values a flag may override, plus
 * the folder's split, the loader's workers and what to do with unreadable images.
 *
 * Precedence: a flag given on the command line, then the recipe, then the flag's default. The
 * recipe's batch size is the paper's (1024–4096 images on many GPUs); it is not taken: `--batch`
 * stays the machine's choice and the recipe's learning rate is scaled linearly to it (`scaledLr`).
 */
import { ConfigError } from '../errors.js';
import { RECIPES, recipePreset, scaledLr, type Recipe } from '../train/recipes.js';
import type { TrainConfig } from '../train/trainer.js';
import type { FolderDataConfig } from '../tasks/folder_data.js';

export const FOLDER_OPTIONS = {
  recipe: {
    type: 'string',
    choices: Object.keys(RECIPES) as [string, ...string[]],
    placeholder: 'name',
    description:
      "a paper's recipe (image-folder data): fills optimizer, schedule, augmentation, Mixup/CutMix, smoothing, EMA and layer decay; any flag given overrides its value; lr is scaled to --batch",
  },
  aa: { type: 'string', placeholder: 'spec', description: "RandAugment, timm's syntax (e.g. rand-m9-mstd0.5-inc1), or 'none'" },
  reprob: { type: 'number', min: 0, max: 1, description: 'random-erasing probability' },
  hflip: { type: 'number', min: 0, max: 1, description: 'horizontal-flip probability' },
  minScale: { type: 'number', min: 0.001, max: 1, description: 'smallest RandomResizedCrop area (default 0.08)' },
  mixup: { type: 'number', min: 0, description: 'Mixup α (0: off)' },
  cutmix: { type: 'number', min: 0, description: 'CutMix α (0: off)' },
  mixupProb: { type: 'number', min: 0, max: 1, description: 'probability of mixing a batch' },
  mixupSwitchProb: { type: 'number', min: 0, max: 1, description: 'probability of CutMix rather than Mixup when both are on' },
  mixupMode: { type: 'string', choices: ['batch', 'pair', 'elem'] as const, description: 'one λ per batch, per pair or per image' },
  layerDecay: { type: 'number', min: 0.01, max: 1, description: 'layer-wise lr decay (fine-tuning), e.g. 0.9' },
  layerDecayMode: { type: 'string', choices: ['single', 'group'] as const, description: "ConvNeXt V2's layer ids: 'single' (Atto–Tiny) or 'group' (Base and up)" },
  freezeBackbone: { type: 'boolean', description: 'train the classifier only; every other weight keeps its value' },
  warmupLr: { type: 'number', min: 0, description: 'lr at the start of the warm-up (default 0)' },
  valSplit: {
    type: 'string',
    choices: ['auto', 'folders', 'fraction', 'none'] as const,
    default: 'auto',
    description: "image folders: val split from train/ and val/ sub-folders, a seeded fraction of each class, or none ('auto': folders if there are)",
  },
  valFraction: { type: 'number', min: 0.001, max: 0.999, description: 'share of each class held out for val when the folder has no train/ and val/ (default 0.1)' },
  cropPct: { type: 'number', min: 0.05, max: 1, default: 0.875, description: 'eval: resize to --size / crop-pct, then centre-crop' },
  workers: { type: 'int', min: 1, default: 2, description: 'decode + augment worker threads' },
  onBadImage: { type: 'string', choices: ['stop', 'skip'] as const, default: 'stop', description: 'an unreadable image: stop naming it, or leave it out and count it' },
} as const;

/** The flags of FOLDER_OPTIONS and of the shared training options that a recipe fills. */
export interface RecipeFlagValues {
  recipe?: string;
  aa?: string;
  reprob?: number;
  hflip?: number;
  minScale?: number;
  mixup?: number;
  cutmix?: number;
  mixupProb?: number;
  mixupSwitchProb?: number;
  mixupMode?: 'batch' | 'pair' | 'elem';
  layerDecay?: number;
  layerDecayMode?: 'single' | 'group';
  freezeBackbone?: boolean;
  warmupLr?: number;
  valSplit: 'auto' | 'folders' | 'fraction' | 'none';
  valFraction?: number;
  cropPct: number;
  workers: number;
  onBadImage: 'stop' | 'skip';
  batch: number;
  lr: number;
  epochs: number;
  warmupEpochs: number;
  minLr: number;
  weightDecay: number;
  labelSmoothing: number;
  ema: number;
  clipGrad: number;
}

/** Flags that only mean something with image-folder data. */
const FOLDER_ONLY = ['recipe', 'aa', 'reprob', 'hflip', 'minScale', 'mixup', 'cutmix', 'mixupProb', 'mixupSwitchProb', 'mixupMode', 'valSplit', 'valFraction', 'cropPct', 'workers', 'onBadImage'];

export interface RecipeSettings {
  /** Training settings (explicit flags win over the recipe). */
  train: Partial<TrainConfig>;
  /** How the image folder is read; undefined for Fashion-MNIST data. */
  folder?: Omit<FolderDataConfig, 'classes'>;
}

/**
 * Training and folder settings from the flags and the recipe. `folderData`: the --data is an image
 * folder (the augmentation flags need one); `defaults` fills what neither the flags nor a recipe set.
 */
export function recipeSettings(
  v: RecipeFlagValues,
  given: ReadonlySet<string>,
  folderData: boolean,
  defaults: Omit<FolderDataConfig, 'classes'>,
): RecipeSettings {
  if (!folderData) {
    const misplaced = FOLDER_ONLY.filter((k) => given.has(k));
    if (misplaced.length)
      throw new ConfigError(
        `${misplaced.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')} need an image folder as --data ` +
          '(augmentation and Mixup/CutMix run on image files); Fashion-MNIST in memory gets random crops and flips',
      );
  }
  const r: Recipe | null = v.recipe ? recipePreset(v.recipe) : null;
  const pick = <T>(flag: keyof RecipeFlagValues, fromRecipe: T | undefined, fallback: T): T =>
    given.has(flag) ? (v[flag] as T) : fromRecipe !== undefined ? fromRecipe : fallback;
  const train: Partial<TrainConfig> = {
    lr: pick('lr', r ? scaledLr(r, v.batch) : undefined, v.lr),
    epochs: pick('epochs', r?.epochs, v.epochs),
    warmupEpochs: pick('warmupEpochs', r?.warmupEpochs, v.warmupEpochs),
    minLr: pick('minLr', r?.minLr, v.minLr),
    labelSmoothing: pick('labelSmoothing', r?.labelSmoothing, v.labelSmoothing),
    emaDecay: pick('ema', r?.emaDecay, v.ema),
    clipGradNorm: pick('clipGrad', r?.clipGradNorm, v.clipGrad),
    warmupLr: pick('warmupLr', r?.warmupLr, 0),
    decayAll: r?.decayAll ?? false,
    freezeBackbone: v.freezeBackbone ?? false,
  };
  train.minLr = Math.min(train.minLr!, train.lr!);
  // MobileViT's warm-up is counted in iterations; an explicit --warmup-epochs replaces it.
  if (r?.warmupIterations != null && !given.has('warmupEpochs')) train.warmupSteps = r.warmupIterations;
  // The recipe's AdamW, unless --optimizer was given (then the flags build it, as without a recipe).
  if (r && !given.has('optimizer')) train.optimizer = { ...r.optimizer, weightDecay: pick('weightDecay', r.optimizer.weightDecay, v.weightDecay) };
  const decay = pick('layerDecay', r?.layerDecay?.decay, undefined as number | undefined);
  if (decay !== undefined) train.layerDecay = { decay, mode: pick('layerDecayMode', r?.layerDecay?.mode, 'single' as const) };
  else if (given.has('layerDecayMode')) throw new ConfigError('--layer-decay-mode needs --layer-decay (or a recipe with layer decay)');
  if (!folderData) return { train };

  const base = r?.augment ?? defaults.augment;
  const aa = given.has('aa') ? (v.aa === 'none' ? null : v.aa!) : base.autoAugment;
  const augment = {
    ...base,
    autoAugment: aa,
    reProb: pick('reprob', base.reProb, 0),
    hflip: pick('hflip', base.hflip, 0.5),
    scale: given.has('minScale') ? ([v.minScale!, 1] as [number, number]) : base.scale,
  };
  const mixupBase = r?.mixup ?? null;
  const mixupAlpha = pick('mixup', mixupBase?.mixupAlpha, 0);
  const cutmixAlpha = pick('cutmix', mixupBase?.cutmixAlpha, 0);
  const mixupGiven = ['mixupProb', 'mixupSwitchProb', 'mixupMode'].filter((k) => given.has(k));
  if (mixupAlpha === 0 && cutmixAlpha === 0 && mixupGiven.length)
    throw new ConfigError(`--${mixupGiven[0]!.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} needs --mixup or --cutmix (an α > 0)`);
  const mixup =
    mixupAlpha > 0 || cutmixAlpha > 0
      ? {
          mixupAlpha,
          cutmixAlpha,
          prob: pick('mixupProb', mixupBase?.prob, 1),
          switchProb: pick('mixupSwitchProb', mixupBase?.switchProb, 0.5),
          mode: pick('mixupMode', mixupBase?.mode, 'batch' as const),
        }
      : null;
  const folder: Omit<FolderDataConfig, 'classes'> = {
    ...defaults,
    split: v.valSplit,
    ...(v.valFraction !== undefined ? { valFraction: v.valFraction } : {}),
    augment,
    mixup,
    cropPct: v.cropPct,
    workers: v.workers,
    onBadImage: v.onBadImage,
  };
  return { train, folder };
}
