/**
 * Hand-off to timm for training at scale (issue 24.5): a run (or a model) as the three files a timm
 * user needs, with no conversion step —
 *   OUT/model.safetensors  the weights under timm's keys (the official ones for CMT and GLNet), strict-loadable
 *                          into timm.create_model(architecture, num_classes=N, **model_args) — load_state_dict,
 *                          pretrained_cfg_overlay=dict(file=…, num_classes=N), or train.py --initial-checkpoint;
 *   OUT/config.json        timm's hub config: architecture, num_classes, num_features, model_args,
 *                          label_names, pretrained_cfg (input_size, crop_pct, mean, std, interpolation,
 *                          classifier, first_conv) — what `timm.create_model('local-dir:OUT')` reads;
 *   OUT/train.sh           timm's train.py with the arguments of the run's recipe (optimizer, lr, schedule,
 *                          warm-up, Mixup/CutMix, RandAugment, random erasing, drop path, EMA, layer
 *                          decay, label smoothing, batch, input size), under torchrun for DDP.
 * Argument names are timm's train.py (huggingface/pytorch-image-models); where visionmix does something
 * train.py has no flag for, train.sh says so in a comment rather than silently dropping it.
 */
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD } from '../data/fashion_mnist.js';
import { ConfigError } from '../errors.js';
import { ensureFolder, pathExists, resolvePath, samePath, writeTextFile } from '../io/files.js';
import { runFolderFiles } from '../io/run_folder.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { TimmArchitecture, VisionModel } from '../models/base.js';
import type { Engine } from './engine.js';
import { runClassifier } from './classify.js';
import type { RunConfig } from './train.js';
import type { FolderDataConfig } from './folder_data.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../train/trainer.js';

export interface TimmHandoffOptions {
  /** Hand over the run's EMA weights (model_ema.safetensors) instead of its raw ones. */
  ema?: boolean;
}

export interface TimmHandoffResult {
  dir: string;
  /** The files written, in OUT. */
  files: string[];
  architecture: TimmArchitecture;
}

/** The eval transform and labels of what is handed over. */
interface DataView {
  classes: readonly string[];
  inputSize: [number, number, number];
  cropPct: number;
  interpolation: string;
  mean: readonly number[];
  std: readonly number[];
}

/**
 * Write OUT/model.safetensors, OUT/config.json and OUT/train.sh for a finished run folder, or for a
 * model (its pretrained config, or a 224² ImageNet-normalised default; train.sh without a recipe).
 */
export async function timmHandoff(engine: Engine, source: string | VisionModel, outDir: string, o: TimmHandoffOptions = {}): Promise<TimmHandoffResult> {
  let model: VisionModel;
  let rc: RunConfig | null = null;
  let view: DataView;
  if (typeof source === 'string') {
    if (samePath(source, outDir)) throw new ConfigError(`-o ${outDir} is the run folder itself; write the hand-off into another folder`);
    const clf = await runClassifier(engine, source);
    model = clf.model;
    rc = clf.run!;
    if (o.ema) {
      const ema = runFolderFiles(source).emaWeights;
      if (!pathExists(ema)) throw new ConfigError(`--ema: ${source} has no EMA weights (model_ema.safetensors); the run was trained without --ema`);
      await model.loadWeights(ema);
    }
    view = runDataView(rc, clf.classes ?? [], clf.inputShape);
  } else {
    if (o.ema) throw new ConfigError('ema: only a run folder has EMA weights; pass the EMA weights loaded into the model instead');
    model = source;
    const p = model.pretrainedConfig;
    view = {
      classes: [],
      inputSize: [...(p?.inputSize ?? model.defaultInputSize)] as [number, number, number],
      cropPct: p?.cropPct ?? 0.875,
      interpolation: p?.interpolation ?? 'bicubic',
      mean: p?.mean ?? [0.485, 0.456, 0.406],
      std: p?.std ?? [0.229, 0.224, 0.225],
    };
  }
  // Asked first: a network timm cannot build is refused before anything is written.
  const arch = model.timmArchitecture();
  if (pathExists(outDir) && pathExists(runFolderFiles(outDir).config))
    throw new ConfigError(`-o ${outDir} holds a training run (run.json); write the hand-off into another folder`);
  ensureFolder(outDir, '-o');
  const files = { weights: resolvePath(outDir, 'model.safetensors'), config: resolvePath(outDir, 'config.json'), script: resolvePath(outDir, 'train.sh') };
  await writeSafetensors(files.weights, new Map(Object.entries(model.stateDict())));
  writeTextFile(files.config, JSON.stringify(timmConfig(model, arch, view), null, 2) + '\n');
  writeTextFile(files.script, trainScript(model, arch, view, rc, typeof source === 'string' ? source : null));
  return { dir: outDir, files: ['model.safetensors', 'config.json', 'train.sh'], architecture: arch };
}

function runDataView(rc: RunConfig, classes: readonly string[], inputShape: readonly number[]): DataView {
  const [c, h, w] = inputShape as [number, number, number];
  if (rc.folder) return { classes, inputSize: [c, h, w], cropPct: rc.folder.cropPct, interpolation: rc.folder.evalInterpolation, mean: rc.folder.mean, std: rc.folder.std };
  // Fashion-MNIST: 28×28 grey images centre-padded (not resized) to the input size.
  return { classes: classes.length ? classes : FASHION_MNIST_CLASSES, inputSize: [c, h, w], cropPct: 1, interpolation: 'bilinear', mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] };
}

/** timm's config.json (what push_to_hf_hub writes and load_model_config_from_hf reads). */
function timmConfig(model: VisionModel, arch: TimmArchitecture, view: DataView): Record<string, unknown> {
  const inTimm = arch.source === 'timm';
  return {
    architecture: arch.architecture,
    num_classes: model.numClasses,
    num_features: model.numFeatures,
    global_pool: model.globalPool,
    model_args: arch.modelArgs,
    ...(view.classes.length ? { label_names: view.classes } : {}),
    pretrained_cfg: {
      tag: 'visionmix',
      input_size: view.inputSize,
      fixed_input_size: false,
      interpolation: view.interpolation,
      crop_pct: view.cropPct,
      crop_mode: 'center',
      mean: view.mean,
      std: view.std,
      num_classes: model.numClasses,
      first_conv: model.firstConv,
      classifier: model.classifierPath,
    },
    ...(inTimm
      ? {}
      : {
          note:
            `timm has no ${model.family}: '${arch.architecture}' is the official repository's model ` +
            `(${(arch.source as { repo: string }).repo}, ${(arch.source as { file: string }).file}), whose keys model.safetensors has; ` +
            `that file registers its factories with timm's @register_model, so timm.create_model and train.py find them once it is imported`,
        }),
  };
}

// ---- train.sh ------------------------------------------------------------------------------------------

/** A number as train.py reads it (shortest round-trip form). */
const num = (v: number): string => String(v);

/** A value of --model-kwargs, as Python's ast.literal_eval reads it (timm's ParseKwargs). */
function pyLiteral(v: unknown): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return num(v);
  if (typeof v === 'string') return JSON.stringify(v).replace(/^"|"$/g, "'").replace(/\\"/g, '"');
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(',')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `'${k}':${pyLiteral(x)}`).join(',')}}`;
  throw new ConfigError(`cannot write ${String(v)} as a Python literal`);
}

/** Single-quoted for the shell. */
const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function trainScript(model: VisionModel, arch: TimmArchitecture, view: DataView, rc: RunConfig | null, runDir: string | null): string {
  const t: TrainConfig = rc?.train ?? DEFAULT_TRAIN_CONFIG;
  const notes: string[] = [];
  const args: string[][] = [];
  const add = (...a: string[]) => args.push(a);

  // Model: name, keywords, weights.
  add('--model', arch.architecture);
  const kwargs = Object.entries(arch.modelArgs);
  if (kwargs.length) add('--model-kwargs', ...kwargs.map(([k, v]) => sh(`${k}=${pyLiteral(v)}`)));
  add('--initial-checkpoint', '"$HERE/model.safetensors"');
  notes.push(
    '--initial-checkpoint continues from these weights (strict load, same classes); to fine-tune on other classes',
    'use --pretrained --pretrained-path "$HERE/model.safetensors" instead (timm replaces the classifier); drop both to train from scratch.',
  );
  add('--num-classes', String(model.numClasses));
  add('--in-chans', String(view.inputSize[0]));
  add('--img-size', String(view.inputSize[1]));
  add('--crop-pct', num(view.cropPct), '--interpolation', view.interpolation);
  add('--mean', ...view.mean.map(num));
  add('--std', ...view.std.map(num));
  if (arch.dropPathRate > 0) add('--drop-path', num(arch.dropPathRate));
  if (arch.dropRate > 0) add('--drop', num(arch.dropRate));

  // Batch and optimizer.
  add('-b', String(t.batchSize));
  notes.push(
    `-b is per process in timm; visionmix's batch (${t.batchSize}) was the global batch. With N processes pass -b ${t.batchSize}/N to keep`,
    `the recipe, or keep -b and scale --lr linearly (timm computes it for you from --lr-base ${num(t.lr)} --lr-base-size ${t.batchSize} --lr-base-scale linear without --lr).`,
  );
  const opt = t.optimizer;
  if (opt.kind === 'adamw') {
    add('--opt', 'adamw', '--opt-betas', ...(opt.betas ?? [0.9, 0.999]).map(num), '--opt-eps', num(opt.eps ?? 1e-8), '--weight-decay', num(opt.weightDecay ?? 0.05));
  } else {
    add('--opt', opt.nesterov ? 'sgd' : 'momentum', '--momentum', num(opt.momentum ?? 0.9), '--weight-decay', num(opt.weightDecay ?? 0));
    notes.push(`timm's 'sgd' is SGD with Nesterov momentum, 'momentum' without: the run used ${opt.nesterov ? 'Nesterov' : 'plain'} momentum.`);
  }
  if (t.decayAll) {
    add('--opt-kwargs', 'filter_bias_and_bn=False');
    notes.push('weight decay on every parameter (decayAll): timm exempts biases and norms unless filter_bias_and_bn=False.');
  }
  add('--lr', num(t.lr));
  if (t.clipGradNorm > 0) add('--clip-grad', num(t.clipGradNorm), '--clip-mode', 'norm');
  if (t.layerDecay) {
    add('--layer-decay', num(t.layerDecay.decay));
    notes.push(
      `layer decay ${t.layerDecay.decay} ('${t.layerDecay.mode}'): timm numbers layers with the model's group_matcher; visionmix's '${t.layerDecay.mode}' ids follow the official ConvNeXt-V2 code where they differ.`,
    );
  }
  if (t.freezeBackbone) notes.push("the run trained the classifier only (--freeze-backbone); train.py has no such flag.");

  // Schedule: per update, linear warm-up from warmup_lr, then half-cosine to min_lr over the rest.
  const warm = t.warmupSteps !== undefined ? 0 : t.warmupEpochs;
  const wholeWarm = Math.round(warm);
  add('--sched', 'cosine', '--sched-on-updates');
  if (wholeWarm > 0 && wholeWarm < t.epochs) {
    add('--epochs', String(t.epochs - wholeWarm), '--warmup-epochs', String(wholeWarm), '--warmup-prefix');
    notes.push(
      `${t.epochs} epochs in all: with --warmup-prefix timm runs ${wholeWarm} warm-up epoch(s) before its --epochs ${t.epochs - wholeWarm} of cosine decay, as visionmix's schedule does.`,
    );
  } else {
    add('--epochs', String(t.epochs), '--warmup-epochs', String(wholeWarm));
    if (wholeWarm > 0) notes.push(`the warm-up (${wholeWarm} epochs) spans the whole run of ${t.epochs} epochs.`);
  }
  if (warm !== wholeWarm) notes.push(`visionmix warmed up for ${warm} epochs; timm's --warmup-epochs takes whole epochs (${wholeWarm} here).`);
  if (t.warmupSteps !== undefined)
    notes.push(`visionmix warmed up for ${t.warmupSteps} updates; timm counts warm-up in epochs: set --warmup-epochs to ${t.warmupSteps} / (updates per epoch) and add --warmup-prefix.`);
  add('--warmup-lr', num(t.warmupLr ?? 0), '--min-lr', num(t.minLr));
  add('--smoothing', num(t.labelSmoothing));
  if (t.emaDecay > 0) add('--model-ema', '--model-ema-decay', num(t.emaDecay));
  add('--seed', String(t.seed));

  // Data and augmentation.
  const folder: FolderDataConfig | undefined = rc?.folder;
  if (folder) {
    const a = folder.augment;
    const [lo, hi] = a.scale ?? [0.08, 1];
    const [rlo, rhi] = a.ratio ?? [3 / 4, 4 / 3];
    add('--scale', num(lo), num(hi), '--ratio', num(rlo), num(rhi), '--hflip', num(a.hflip ?? 0.5));
    add('--train-interpolation', a.interpolation ?? 'bicubic');
    if (a.autoAugment) add('--aa', a.autoAugment);
    // timm ignores colour jitter when RandAugment is on; without it, 0 turns timm's default 0.4 off.
    const jitter = a.colorJitter == null ? 0 : typeof a.colorJitter === 'number' ? a.colorJitter : a.colorJitter[0];
    add('--color-jitter', num(jitter));
    if (Array.isArray(a.colorJitter)) notes.push(`colour jitter [${a.colorJitter}] per brightness/contrast/saturation: train.py takes one strength.`);
    add('--reprob', num(a.reProb ?? 0), ...((a.reProb ?? 0) > 0 ? ['--remode', a.reMode ?? 'pixel', '--recount', String(a.reCount ?? 1)] : []));
    const m = folder.mixup;
    if (m) {
      add('--mixup', num(m.mixupAlpha ?? 1), '--cutmix', num(m.cutmixAlpha ?? 0),
        '--mixup-prob', num(m.prob ?? 1), '--mixup-switch-prob', num(m.switchProb ?? 0.5), '--mixup-mode', m.mode ?? 'batch');
    }
    const held = `held out ${folder.valFraction ?? 0.1} of each class for val`;
    if (folder.split === 'folders' || folder.split === 'auto') add('--train-split', 'train', '--val-split', 'val');
    if (folder.split === 'auto') notes.push(`the run's split 'auto' read the folder's train/ and val/ sub-folders, or without them ${held}: train.py needs the sub-folders.`);
    else if (folder.split !== 'folders') notes.push(`the run ${folder.split === 'none' ? 'had no val split' : held}: give train.py an image folder with train/ and val/ sub-folders.`);
  } else if (rc) {
    add('--dataset', 'torch/fashion_mnist', '--dataset-download', '--input-img-mode', 'L');
    notes.push(
      `the run read Fashion-MNIST with visionmix's own augmentation (random crops after ${t.cropPad}-pixel padding, flips), which train.py has no flag for;`,
      "timm applies its RandomResizedCrop (--scale) and flips instead. DATA is where torchvision keeps the data set.",
    );
  }

  const runLine = runDir ? `# from the visionmix run ${runDir}${rc?.runId ? ` (run ${rc.runId})` : ''}.` : "# from a visionmix model (no run: visionmix's default training settings).";
  const header = [
    '#!/usr/bin/env bash',
    "# Train this network at scale with timm's train.py (PyTorch DDP via torchrun), written by `visionmix export-timm`",
    runLine,
    ...(arch.source === 'timm'
      ? []
      : [
          `# timm has no ${model.family}: ${arch.architecture} is defined by the official code (${arch.source.repo}, ${arch.source.file}),`,
          "# which registers it with timm's registry: put that file on PYTHONPATH and import it before train.py builds the model",
          '# (e.g. a wrapper that imports it, then runs train.main()).',
        ]),
    '# Usage: TIMM=path/to/pytorch-image-models DATA=path/to/data NPROC=8 bash train.sh [more train.py arguments]',
    '#',
    ...notes.map((n) => `# ${n}`),
  ];
  const body = [
    'set -euo pipefail',
    'HERE="$(cd "$(dirname "$0")" && pwd)"',
    ': "${TIMM:?set TIMM to a checkout of huggingface/pytorch-image-models}"',
    ': "${DATA:?set DATA to the training data folder}"',
    'torchrun --nproc_per_node="${NPROC:-1}" "$TIMM/train.py" "$DATA" \\',
    ...args.map((a) => `  ${a.join(' ')} \\`),
    '  "$@"',
  ];
  return [...header, ...body].join('\n') + '\n';
}
