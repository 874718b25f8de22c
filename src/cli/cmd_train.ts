/** `visionmix train`: train or fine-tune a model; `--resume DIR` continues a run exactly. */
import { readdirSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { MetricsLog } from '../io/metrics_log.js';
import { runFolderFiles } from '../io/run_folder.js';
import { defineCommand, flagName, parseConfigJson } from './args.js';
import { withInterrupts } from './interrupt.js';
import type { CliIO, CommandArgs } from './main.js';
import { trainProgress } from './train_progress.js';
import { FOLDER_OPTIONS, recipeSettings, type RecipeFlagValues } from './recipe_options.js';

/** The options of a training run (`train`, and `pretrain` which adds its own). */
export const TRAIN_OPTIONS = {
  model: { type: 'string', short: 'm', placeholder: 'name', description: "registry name (see 'visionmix models') or a family (e.g. convnextv2, cmt) with --config" },
  config: { type: 'string', placeholder: 'json', description: 'model config overrides as JSON, e.g. \'{"depths":[2,2,6,2],"dims":[40,80,160,320]}\'' },
  data: {
    type: 'string',
    default: 'fashion-mnist',
    placeholder: 'spec',
    description: 'fashion-mnist | fashion-mnist:PATH | fashion-mnist:bundled | an image folder (a sub-folder per class; train/ and val/ inside, or a --val-fraction)',
  },
  epochs: { type: 'int', min: 1, default: 10, description: 'epochs' },
  batch: { type: 'int', min: 1, default: 64, short: 'b', description: 'batch size' },
  microBatch: {
    type: 'int',
    min: 1,
    placeholder: 'n',
    description:
      'run each batch as micro-batches of at most n images and sum their gradients before the update (gradient accumulation): the memory of n images, the update of the whole batch (BatchNorm normalises per micro-batch)',
  },
  lr: { type: 'number', positive: true, default: 2e-3, description: 'peak learning rate' },
  minLr: { type: 'number', min: 0, default: 1e-6, description: 'final learning rate of the cosine schedule' },
  warmupEpochs: { type: 'number', min: 0, default: 1, description: 'linear warmup (epochs, may be fractional)' },
  optimizer: { type: 'string', choices: ['adamw', 'sgd'] as const, default: 'adamw', description: 'optimizer' },
  weightDecay: { type: 'number', min: 0, default: 0.05, description: 'weight decay (not on norms, biases, GRN, layer scale)' },
  momentum: { type: 'number', min: 0, max: 1, default: 0.9, description: 'SGD momentum' },
  labelSmoothing: { type: 'number', min: 0, max: 0.99, default: 0.1, description: 'label smoothing' },
  dropPath: { type: 'number', min: 0, max: 0.99, description: 'stochastic depth rate (linear over blocks)' },
  ema: { type: 'number', min: 0, max: 0.999999, default: 0, description: 'EMA decay of the weights (0: off)' },
  clipGrad: { type: 'number', min: 0, default: 0, description: 'clip gradients to this global norm (0: off)' },
  size: { type: 'int', min: 8, default: 32, description: 'square input size (images are padded to it)' },
  multiScale: {
    type: 'ints',
    min: 8,
    placeholder: 'sides',
    description: "multi-scale training (MobileViT): a side drawn per batch from these, batch scaled by (size/side)², images scaled with it; e.g. 24,28,32",
  },
  cropPad: { type: 'int', min: 0, default: 4, description: 'random-crop padding in pixels (0: no random shift)' },
  seed: { type: 'int', default: 0, description: 'seed for init, shuffling, augmentation and drop path' },
  ckptEvery: { type: 'int', min: 0, default: 200, description: 'checkpoint every N steps (and every epoch)' },
  threads: { type: 'int', min: 1, description: 'intra-op threads (default and most: all cores; more are capped with a warning)' },
  out: { type: 'string', short: 'o', placeholder: 'dir', description: 'run folder (must not hold a run already)' },
  resume: {
    type: 'string',
    placeholder: 'dir',
    description:
      "continue the run in this folder from its last checkpoint, with the run's own settings; only --epochs (train longer: the cosine schedule is stretched from there on), --threads and --accept-data-change may be given with it",
  },
  acceptDataChange: {
    type: 'boolean',
    description:
      'with --resume: continue although files were added to, removed from or changed in the image folder since the run started (refused otherwise: the steps per epoch, schedule and batches change)',
  },
} as const;

export const spec = defineCommand({
  name: 'train',
  summary: 'Train a model (AdamW, cosine + warmup, label smoothing, drop path, EMA); --resume continues a run',
  description:
    'Writes DIR/run.json (the settings), DIR/metrics.jsonl (a first line with the run_id, then a record per step with step and loss, and per epoch with ' +
    'epoch and test_acc), DIR/checkpoint.safetensors (atomic and checksummed, every --ckpt-every steps and each epoch; ' +
    'the one before is kept as checkpoint.prev.safetensors), DIR/curves.svg and, when finished, DIR/model.safetensors ' +
    '(timm key names). The folder is locked while the job runs, and --out refuses a folder that holds a run. ' +
    'Ctrl-C writes a checkpoint of the last finished step before exiting. Data: fashion-mnist (Debian package ' +
    'dataset-fashion-mnist), fashion-mnist:PATH (a folder with the four IDX files) or fashion-mnist:bundled ' +
    '(the subset shipped with visionmix).',
  options: {
    ...TRAIN_OPTIONS,
    task: {
      type: 'string',
      choices: ['classification', 'token-labelling', 'fcmae'] as const,
      default: 'classification',
      description:
        "what is trained: classification (cross-entropy); token-labelling (class head + per-token head, each token taking the image's label: " +
        'models with a token-labelling head, e.g. glnet_4g_tklb); fcmae (FCMAE masked-autoencoder pretraining with its defaults — the path of `visionmix pretrain`, which sets its options)',
    },
    tokenLabels: {
      type: 'string',
      placeholder: 'file',
      description:
        'with --task token-labelling: a safetensors file of per-token label maps of the training images (token_labels: int [N, h, w] or float32 [N, h, w, K], in the data set\'s order; each token takes the cell under its centre after crop and flip)',
    },
    ...FOLDER_OPTIONS,
  },
  examples: [
    'visionmix train --model convnextv2_atto --data fashion-mnist --epochs 10 --batch 64 --lr 2e-3 --seed 0 --out runs/atto',
    'visionmix train --model glnet --config \'{"embed_dim":[32,64,128,256],"depth":[1,1,1,1],"tklb":true}\' --task token-labelling --out runs/tklb',
    'visionmix train --model convnextv2_atto --data photos/ --recipe convnext --epochs 30 --batch 32 --size 224 --out runs/photos',
    'visionmix train --resume runs/atto',
    'visionmix train --resume runs/atto --epochs 20',
  ],
});

/** The options that may be given with --resume; every other one belongs to the run (run.json). */
const RESUME_OPTIONS = new Set(['resume', 'epochs', 'threads', 'acceptDataChange']);

export function run({ values: v, given }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  // FCMAE pretraining is one task: `train --task fcmae` is `pretrain` with its default options.
  if (v.task === 'fcmae') return runTraining({ ...v, labelSmoothing: 0 }, given, io, fcmaeKind({}, 'train'));
  if (v.tokenLabels !== undefined && v.task !== 'token-labelling') throw new ConfigError('--token-labels needs --task token-labelling');
  return runTraining(v, given, io, { recipe: v, task: v.task, tokenLabels: v.tokenLabels });
}

/**
 * `VISIONMIX_TRAIN_IMAGES=N`: train on the first N images of a Fashion-MNIST split only (the
 * demo's --steps for every command: a quick end-to-end check, e.g. of the README's commands).
 */
function quickTrainImages(data: string): { trainImages?: number } {
  const raw = process.env.VISIONMIX_TRAIN_IMAGES;
  if (raw === undefined || raw === '') return {};
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`VISIONMIX_TRAIN_IMAGES must be a positive integer, got ${JSON.stringify(raw)}`);
  // Image folders are read by the loader as a whole: the variable applies to Fashion-MNIST only.
  return data === 'fashion-mnist' || data.startsWith('fashion-mnist:') ? { trainImages: n } : {};
}

/**
 * What a run folder holds, for the closing line: the files a user looks for (an FCMAE run's
 * encoder.safetensors and reconstruction PNGs, the EMA weights) named as they are on disk.
 */
function runFolderContents(dir: string): string {
  const names = new Set(readdirSync(dir));
  const known = ['metrics.jsonl', 'curves.svg', 'checkpoint.safetensors', 'model.safetensors', 'model_ema.safetensors', 'encoder.safetensors'];
  const parts = known.filter((n) => names.has(n));
  const recon = [...names].filter((n) => /^reconstructions_epoch\d+\.png$/.test(n)).sort();
  if (recon.length === 1) parts.push(recon[0]!);
  else if (recon.length > 1) parts.push(`${recon[0]} … ${recon[recon.length - 1]} (reconstructions)`);
  return parts.join(', ');
}

/** FCMAE pretraining (`pretrain`, `train --task fcmae`): its options, AdamW's β₂ = 0.95 as the paper. */
export function fcmaeKind(fcmae: Record<string, unknown>, command: string): TrainingKind {
  return { fcmae, beta2: 0.95, command, task: 'fcmae' };
}

/** What `pretrain` adds to a training run: FCMAE options, and the optimizer's β₂. */
export interface TrainingKind {
  fcmae?: Record<string, unknown>;
  beta2?: number;
  /** The command, for the resume hint. */
  command?: string;
  /** Recipe and image-folder flags (`train`, `finetune`). */
  recipe?: RecipeFlagValues;
  /** Fine-tuning: start from these weights, a new classifier for the data's classes. */
  init?: { weights: string; weightsKey?: string };
  /** The task (default: fcmae with FCMAE options, else classification). */
  task?: 'classification' | 'token-labelling' | 'fcmae';
  /** Token labelling: per-token label maps of the training images. */
  tokenLabels?: string;
}

type TrainValues = CommandArgs<{ name: 'train'; options: typeof TRAIN_OPTIONS }>['values'];

/** Start (or resume) a training run from parsed options: `train` and `pretrain` share it. */
export async function runTraining(v: TrainValues, given: ReadonlySet<string>, io: CliIO, kind: TrainingKind): Promise<number> {
  const engine = (await import('./engine.js')).nodeEngine();
  const { trainJob, resumeJob, isFashionMnistSpec, defaultFolderOptions } = await import('../tasks/train.js');
  const { familyNames } = await import('../models/registry.js');
  const warn = (m: string) => io.stderr.write(`warning: ${m}\n`);
  const command = kind.command ?? 'train';
  const dir = v.resume ?? v.out;
  if (v.resume) {
    const others = [...given].filter((k) => !RESUME_OPTIONS.has(k));
    if (others.length)
      throw new ConfigError(
        `${others.map(flagName).join(', ')} cannot be used with --resume: a resumed run keeps its own settings (${v.resume}/run.json); ` +
          'only --epochs (to train longer), --threads and --accept-data-change may be given',
      );
  } else {
    if (given.has('acceptDataChange')) throw new ConfigError('--accept-data-change is for --resume DIR (a new run records the data as it is)');
    if (!v.model) throw new ConfigError("--model is required (or --resume DIR); see 'visionmix models'");
    if (!v.out) throw new ConfigError('--out DIR is required: the folder for metrics, checkpoints and the final model');
  }
  // The progress printer learns epochs and batch size from the trainer's start event.
  const onEvent = trainProgress(io.stderr);
  return withInterrupts(io.stderr, `visionmix ${command} --resume ${dir}`, async (signal) => {
    let result;
    if (v.resume) {
      result = await resumeJob(engine, v.resume, { onEvent, onWarning: warn, signal }, { epochs: given.has('epochs') ? v.epochs : undefined, threads: v.threads, acceptDataChange: v.acceptDataChange === true });
    } else {
      const overrides = v.config ? parseConfigJson(v.config) : {};
      if (v.dropPath !== undefined) overrides.drop_path_rate = v.dropPath;
      // --model is a family (a custom config) or a registry name / weight tag (overrides on top).
      const family = familyNames().includes(v.model!);
      if ('family' in overrides && overrides.family !== v.model)
        throw new ConfigError(`--config says family ${JSON.stringify(overrides.family)} but --model is '${v.model}'; drop the 'family' key or make them agree`);
      const recipe = kind.recipe ? recipeSettings(kind.recipe, given, !isFashionMnistSpec(v.data), defaultFolderOptions()) : { train: {} };
      // A warm-up as long as the run: the lr never reaches its peak, and the cosine decay never starts.
      const epochs = recipe.train.epochs ?? v.epochs;
      if (given.has('warmupEpochs') && v.warmupEpochs >= epochs)
        throw new ConfigError(`--warmup-epochs ${v.warmupEpochs} ≥ --epochs ${epochs}: the whole run would be warm-up (the lr never reaches its peak); give fewer warm-up epochs`);
      result = await trainJob(
        engine,
        {
          ...(recipe.folder ? { folder: recipe.folder } : {}),
          ...(kind.init ? { init: kind.init } : {}),
          ...(kind.recipe?.recipe ? { scaleRecipe: { name: kind.recipe.recipe, keepWarmup: given.has('warmupEpochs'), keepEma: given.has('ema') } } : {}),
          model: family ? { family: v.model!, ...overrides } : v.model!,
          modelOverrides: family ? {} : overrides,
          data: v.data,
          out: v.out!,
          threads: v.threads,
          fcmae: kind.fcmae,
          ...(kind.task ? { task: kind.task } : {}),
          ...(kind.tokenLabels ? { tokenLabels: kind.tokenLabels } : {}),
          train: {
            epochs: v.epochs,
            batchSize: v.batch,
            ...(v.microBatch !== undefined ? { microBatch: v.microBatch } : {}),
            lr: v.lr,
            minLr: Math.min(v.minLr, v.lr),
            warmupEpochs: v.warmupEpochs,
            optimizer:
              v.optimizer === 'sgd'
                ? { kind: 'sgd', momentum: v.momentum, weightDecay: v.weightDecay }
                : { kind: 'adamw', betas: [0.9, kind.beta2 ?? 0.999], eps: 1e-8, weightDecay: v.weightDecay },
            labelSmoothing: v.labelSmoothing,
            emaDecay: v.ema,
            clipGradNorm: v.clipGrad,
            inputSize: v.size,
            cropPad: v.cropPad,
            multiScale: v.multiScale,
            seed: v.seed,
            checkpointEvery: v.ckptEvery,
            ...recipe.train,
            ...quickTrainImages(v.data),
          },
        },
        { onEvent, onWarning: warn, signal },
      );
    }
    const outcome = !result.final
      ? result.hasTestSet
        ? lastEvaluation(result.dir)
        : 'no test set'
      : Number.isNaN(result.final.accuracy)
        ? `test loss ${result.final.loss.toFixed(4)}`
        : `test accuracy ${(result.final.accuracy * 100).toFixed(2)}%`;
    io.stdout.write(`finished ${result.steps} steps: ${outcome}\nrun folder: ${result.dir} (${runFolderContents(result.dir)})\n`);
    return 0;
  });
}

/**
 * A resume that only had the final model left to write evaluates nothing: report the run's last
 * evaluation from its metrics instead of "no test set".
 */
function lastEvaluation(dir: string): string {
  const last = MetricsLog.read(runFolderFiles(dir).metrics).filter((r) => r.test_loss !== undefined).at(-1);
  if (!last) return 'not evaluated';
  return typeof last.test_acc === 'number'
    ? `test accuracy ${(last.test_acc * 100).toFixed(2)}% (epoch ${last.epoch}, evaluated before this resume)`
    : `test loss ${Number(last.test_loss).toFixed(4)} (epoch ${last.epoch}, evaluated before this resume)`;
}
