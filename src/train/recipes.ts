/**
 * The papers' training recipes as data: presets that fill every hyper-parameter of a run (optimizer,
 * schedule, augmentation, Mixup/CutMix, label smoothing, EMA), each value overridable. A trainer or
 * `visionmix finetune --recipe NAME` reads them; nothing here runs anything.
 *
 * Sources (../shared/spec):
 *  - 'convnext': ConvNeXt's ImageNet-1K recipe (convnext.md §6: official main.py + TRAINING.md).
 *  - 'convnextv2-ft': ConvNeXt V2-Tiny fine-tuning (convnext.md §5.5), with layer decay 0.9 "single".
 *  - 'deit': DeiT's timm recipe as CMT and GLNet use it (cmt.md §10, glnet.md §12; DeiT main.py
 *    defaults: lr 5e-4 per 512 images, 5 warmup epochs from 1e-6, EMA 0.99996). CMT and GLNet
 *    change lr, warmup and EMA per model size (their tables); override those.
 *  - 'mobilevit': MobileViT's deliberately basic recipe (mobilevit.md §5.2): RandomResizedCrop
 *    (bilinear) + flip only, AdamW with weight decay 0.01 on every parameter, warm-up from 2e-4 over
 *    3000 iterations, EMA 0.9995.
 * `lr` is the paper's learning rate at its total `batchSize`; `scaledLr` applies the linear scaling
 * rule (lr × batch / reference batch) the papers use.
 */
import { ConfigError } from '../errors.js';
import type { TrainTransformConfig } from '../data/train_transform.js';
import { createTrainTransform } from '../data/train_transform.js';
import type { LayerDecayMode } from './layer_decay.js';
import { Mixup, type MixupOptions } from './mixup.js';
import type { AdamWOptions } from './optim.js';

/** The augmentation part of a recipe: the train transform without the model-specific size and normalisation. */
export type RecipeAugment = Omit<TrainTransformConfig, 'inputSize' | 'mean' | 'std' | 'channelOrder'>;

export interface Recipe {
  name: string;
  /** Where the values come from. */
  source: string;
  optimizer: AdamWOptions;
  /** Weight decay on every parameter (MobileViT), not only matrices and kernels. */
  decayAll: boolean;
  /** Learning rate at `batchSize` images per step (scale with `scaledLr`). */
  lr: number;
  batchSize: number;
  epochs: number;
  warmupEpochs: number;
  /** Warm-up length in iterations instead of epochs (MobileViT); null: use warmupEpochs. */
  warmupIterations: number | null;
  /** Learning rate at the start of the warm-up. */
  warmupLr: number;
  minLr: number;
  /** Global gradient-norm clip (0: off). */
  clipGradNorm: number;
  labelSmoothing: number;
  /** EMA decay of the weights (0: off). */
  emaDecay: number;
  augment: RecipeAugment;
  /** Mixup/CutMix (label smoothing comes from `labelSmoothing`); null: off. */
  mixup: Omit<MixupOptions, 'numClasses' | 'labelSmoothing'> | null;
  /** Layer-wise lr decay for fine-tuning; null: off. */
  layerDecay: { decay: number; mode: LayerDecayMode } | null;
}

const ADAMW: AdamWOptions = { kind: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05 };

/** timm's ImageNet train augmentation as ConvNeXt, DeiT, CMT and GLNet use it. */
const TIMM_AUGMENT: RecipeAugment = {
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
  interpolation: 'bicubic',
  hflip: 0.5,
  autoAugment: 'rand-m9-mstd0.5-inc1',
  // Set in the papers' commands, but timm turns colour jitter off when RandAugment is on.
  colorJitter: 0.4,
  reProb: 0.25,
  reMode: 'pixel',
  reCount: 1,
};

const TIMM_MIXUP: Recipe['mixup'] = { mixupAlpha: 0.8, cutmixAlpha: 1.0, prob: 1.0, switchProb: 0.5, mode: 'batch' };

const CONVNEXT: Recipe = {
  name: 'convnext',
  source: 'ConvNeXt ImageNet-1K (spec convnext.md §6)',
  optimizer: ADAMW,
  decayAll: false,
  lr: 4e-3,
  batchSize: 4096,
  epochs: 300,
  warmupEpochs: 20,
  warmupIterations: null,
  warmupLr: 0,
  minLr: 1e-6,
  clipGradNorm: 0,
  labelSmoothing: 0.1,
  emaDecay: 0.9999,
  augment: TIMM_AUGMENT,
  mixup: TIMM_MIXUP,
  layerDecay: null,
};

export const RECIPES: Readonly<Record<string, Recipe>> = {
  convnext: CONVNEXT,
  // Same augmentation, Mixup/CutMix, smoothing and EMA; lr 8e-4 × 1024/256, 40 warm-up epochs.
  'convnextv2-ft': {
    ...CONVNEXT,
    name: 'convnextv2-ft',
    source: 'ConvNeXt V2-Tiny fine-tuning (spec convnext.md §5.5)',
    lr: 3.2e-3,
    batchSize: 1024,
    warmupEpochs: 40,
    layerDecay: { decay: 0.9, mode: 'single' },
  },
  deit: {
    name: 'deit',
    source: "DeiT's timm recipe as CMT and GLNet use it (spec cmt.md §10, glnet.md §12)",
    optimizer: ADAMW,
    decayAll: false,
    lr: 5e-4,
    batchSize: 512,
    epochs: 300,
    warmupEpochs: 5,
    warmupIterations: null,
    warmupLr: 1e-6,
    minLr: 1e-5,
    clipGradNorm: 0,
    labelSmoothing: 0.1,
    emaDecay: 0.99996,
    augment: TIMM_AUGMENT,
    mixup: TIMM_MIXUP,
    layerDecay: null,
  },
  mobilevit: {
    name: 'mobilevit',
    source: 'MobileViT (spec mobilevit.md §5.2)',
    optimizer: { ...ADAMW, weightDecay: 0.01 },
    decayAll: true,
    lr: 2e-3,
    batchSize: 1024,
    epochs: 300,
    warmupEpochs: 0,
    warmupIterations: 3000,
    warmupLr: 2e-4,
    minLr: 2e-4,
    clipGradNorm: 0,
    labelSmoothing: 0.1,
    emaDecay: 0.9995,
    augment: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], interpolation: 'bilinear', hflip: 0.5, autoAugment: null, colorJitter: null, reProb: 0 },
    mixup: null,
    layerDecay: null,
  },
};

/** Recipe fields that may be overridden, with the sub-objects merged key by key. */
export type RecipeOverrides = Partial<Omit<Recipe, 'name' | 'source' | 'optimizer' | 'augment' | 'mixup' | 'layerDecay'>> & {
  optimizer?: Partial<AdamWOptions>;
  augment?: Partial<RecipeAugment>;
  mixup?: Partial<NonNullable<Recipe['mixup']>> | null;
  layerDecay?: Recipe['layerDecay'];
};

const RECIPE_KEYS = new Set(Object.keys(CONVNEXT).filter((k) => k !== 'name' && k !== 'source'));
const AUGMENT_KEYS = new Set(['scale', 'ratio', 'interpolation', 'hflip', 'autoAugment', 'colorJitter', 'reProb', 'reMode', 'reCount']);
const MIXUP_KEYS = new Set(['mixupAlpha', 'cutmixAlpha', 'cutmixMinmax', 'prob', 'switchProb', 'mode', 'correctLam']);
const OPTIMIZER_KEYS = new Set(['betas', 'eps', 'weightDecay']);

function checkKeys(where: string, given: object, known: Set<string>): void {
  for (const k of Object.keys(given))
    if (!known.has(k)) throw new ConfigError(`recipe: unknown option \`${where}${k}\` (known: ${[...known].map((x) => where + x).join(', ')})`);
}

/**
 * A preset by name with `overrides` applied, checked as a whole: an unknown preset or option, or a
 * value the augmentation, Mixup or layer-decay code would refuse, is a ConfigError naming it.
 */
export function recipePreset(name: string, overrides: RecipeOverrides = {}): Recipe {
  const base = RECIPES[name];
  if (!base) throw new ConfigError(`unknown recipe '${name}' (known: ${Object.keys(RECIPES).join(', ')})`);
  checkKeys('', overrides, RECIPE_KEYS);
  if (overrides.augment) checkKeys('augment.', overrides.augment, AUGMENT_KEYS);
  if (overrides.mixup) checkKeys('mixup.', overrides.mixup, MIXUP_KEYS);
  if (overrides.optimizer) checkKeys('optimizer.', overrides.optimizer, OPTIMIZER_KEYS);
  const r: Recipe = {
    ...base,
    ...overrides,
    optimizer: { ...base.optimizer, ...overrides.optimizer, kind: 'adamw' },
    augment: { ...base.augment, ...overrides.augment },
    mixup: overrides.mixup === null ? null : base.mixup || overrides.mixup ? ({ ...base.mixup, ...overrides.mixup } as Recipe['mixup']) : null,
    layerDecay: overrides.layerDecay === undefined ? base.layerDecay : overrides.layerDecay,
  };
  checkRecipe(r);
  return r;
}

function checkRecipe(r: Recipe): void {
  const positive = ['lr', 'batchSize', 'epochs'] as const;
  for (const k of positive) if (!(typeof r[k] === 'number' && r[k] > 0 && Number.isFinite(r[k]))) throw new ConfigError(`recipe: \`${k}\` must be a positive number, got ${r[k]}`);
  for (const k of ['warmupEpochs', 'warmupLr', 'minLr', 'clipGradNorm'] as const)
    if (!(typeof r[k] === 'number' && r[k] >= 0 && Number.isFinite(r[k]))) throw new ConfigError(`recipe: \`${k}\` must be a number ≥ 0, got ${r[k]}`);
  if (r.warmupIterations !== null && !(Number.isInteger(r.warmupIterations) && r.warmupIterations >= 0))
    throw new ConfigError(`recipe: \`warmupIterations\` must be a non-negative integer or null, got ${r.warmupIterations}`);
  if (!(r.labelSmoothing >= 0 && r.labelSmoothing < 1)) throw new ConfigError(`recipe: \`labelSmoothing\` must be in [0, 1), got ${r.labelSmoothing}`);
  if (!(r.emaDecay >= 0 && r.emaDecay < 1)) throw new ConfigError(`recipe: \`emaDecay\` must be in [0, 1) (0: off), got ${r.emaDecay}`);
  if (!(typeof r.optimizer.weightDecay === 'number' && r.optimizer.weightDecay >= 0))
    throw new ConfigError(`recipe: \`optimizer.weightDecay\` must be ≥ 0, got ${r.optimizer.weightDecay}`);
  if (r.layerDecay) {
    if (!(r.layerDecay.decay > 0 && r.layerDecay.decay <= 1)) throw new ConfigError(`recipe: \`layerDecay.decay\` must be in (0, 1], got ${r.layerDecay.decay}`);
    if (r.layerDecay.mode !== 'single' && r.layerDecay.mode !== 'group')
      throw new ConfigError(`recipe: \`layerDecay.mode\` must be 'single' or 'group', got ${JSON.stringify(r.layerDecay.mode)}`);
  }
  // The augmentation and Mixup code check their own options: build them once on dummy sizes.
  createTrainTransform({ ...r.augment, inputSize: [3, 8, 8], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  if (r.mixup) new Mixup({ ...r.mixup, numClasses: 2, labelSmoothing: r.labelSmoothing });
}

/** The linear scaling rule: the recipe's lr for `batchSize` images per step. */
export function scaledLr(r: Recipe, batchSize: number): number {
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new ConfigError(`scaledLr: batch size must be a positive integer, got ${batchSize}`);
  return (r.lr * batchSize) / r.batchSize;
}

/** The recipe's train transform for a model input size and normalisation. */
export function recipeTransform(r: Recipe, inputSize: readonly [number, number, number], mean: readonly [number, number, number], std: readonly [number, number, number]): TrainTransformConfig {
  return { ...r.augment, inputSize, mean, std };
}

/** ImageNet-1k's training images: the papers' recipes run `epochs × IMAGENET_TRAIN_IMAGES / batchSize` steps. */
export const IMAGENET_TRAIN_IMAGES = 1_281_167;

export interface RecipeRunScale {
  /** Warm-up for this run: in epochs, or in steps for recipes that count it in iterations (MobileViT). */
  warmupEpochs: number;
  warmupSteps: number | null;
  emaDecay: number;
  /** What was changed, for the user ('warm-up 1.33 epochs (recipe: 40 of 300 epochs)'); empty when nothing was. */
  changes: string[];
}

/**
 * A recipe's warm-up and EMA for a run shorter than the paper's. The rule (documented in the README):
 * - warm-up keeps its share of the run: `warmupEpochs × epochs / recipe.epochs` when `epochs` is
 *   below the recipe's (MobileViT's iteration count likewise, as a share of the paper's steps);
 * - EMA keeps its averaging horizon `1 / (1 − decay)` as the same share of the run's optimisation
 *   steps as in the paper (`recipe.epochs × IMAGENET_TRAIN_IMAGES / recipe.batchSize` steps), and is
 *   only ever lowered: `decay' = min(decay, 1 − 1 / (share × runSteps))`, off when that horizon is
 *   under 2 steps. (EMA at 0.9999 averages over 10k steps: a 300-step fine-tune never leaves its
 *   initialisation.)
 * `keepWarmup` / `keepEma`: the user set that value; it is left alone.
 */
export function scaleRecipeToRun(
  r: Recipe,
  run: { epochs: number; stepsPerEpoch: number; keepWarmup?: boolean; keepEma?: boolean },
): RecipeRunScale {
  const paperSteps = (r.epochs * IMAGENET_TRAIN_IMAGES) / r.batchSize;
  const runSteps = run.epochs * run.stepsPerEpoch;
  const out: RecipeRunScale = { warmupEpochs: r.warmupEpochs, warmupSteps: r.warmupIterations, emaDecay: r.emaDecay, changes: [] };
  if (!run.keepWarmup && run.epochs < r.epochs) {
    if (r.warmupIterations !== null) {
      out.warmupSteps = Math.round((r.warmupIterations / paperSteps) * runSteps);
      out.changes.push(`warm-up ${out.warmupSteps} steps (recipe: ${r.warmupIterations} of ${Math.round(paperSteps)})`);
    } else if (r.warmupEpochs > 0) {
      out.warmupEpochs = Number(((r.warmupEpochs * run.epochs) / r.epochs).toFixed(3));
      out.changes.push(`warm-up ${out.warmupEpochs} epochs (recipe: ${r.warmupEpochs} of ${r.epochs})`);
    }
  }
  if (!run.keepEma && r.emaDecay > 0) {
    const horizon = (1 / (1 - r.emaDecay) / paperSteps) * runSteps;
    const decay = horizon < 2 ? 0 : Number((1 - 1 / horizon).toFixed(6));
    if (decay < r.emaDecay) {
      out.emaDecay = decay;
      out.changes.push(
        decay === 0
          ? `EMA off (the recipe's ${r.emaDecay} averages over ${Math.round(1 / (1 - r.emaDecay))} steps, far more than this run's ${runSteps})`
          : `EMA decay ${decay} (recipe: ${r.emaDecay}; averaging over ~${Math.round(horizon)} of this run's ${runSteps} steps, as over ${Math.round(1 / (1 - r.emaDecay))} of the paper's ${Math.round(paperSteps)})`,
      );
    }
  }
  return out;
}
