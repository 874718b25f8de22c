/**
 * The training job: data set + model + trainer + checkpoints + report, from options to a run folder:
 *   DIR/metrics.jsonl          a header {run_id}, then one record per step ({step, loss, …}) and per epoch ({epoch, test_acc, …})
 *   DIR/checkpoint.safetensors the last good checkpoint (resume with `visionmix train --resume DIR`)
 *   DIR/model.safetensors      final weights, timm key names (loadable with `loadWeights`)
 *   DIR/curves.svg             loss and accuracy curves
 *   DIR/run.json               the run's configuration
 *   DIR/checkpoint.prev.safetensors  the checkpoint before the last (fallback if the last is corrupt)
 *   DIR/.visionmix.lock        while a job runs in the folder: its pid (see io/run_lock.ts)
 *
 * Nothing a user owns is overwritten or mixed: a folder that holds a run is refused as `--out`, a
 * job locks its folder before writing anything, and `--resume` checks that the checkpoint belongs to
 * the run described by the folder's run.json and metrics.jsonl, and that an image folder still holds
 * the files the run started with.
 */
import { trainingCurves } from '../analysis/svg.js';
import { ConfigError, DataError } from '../errors.js';
import { hasCheckpoint, loadCheckpoint, restoreLatestFromPrevious, saveCheckpoint } from '../io/checkpoint.js';
import { appendJsonLine, pathExists, writeTextFile } from '../io/files.js';
import { hostMemoryBytes } from '../io/host.js';
import { MetricsLog } from '../io/metrics_log.js';
import { checkNewRunFolder, checkOutsideData, createRunFolder, readRunConfig, removeStaleTempFiles, runFolderFiles, writeRunConfig } from '../io/run_folder.js';
import { lockRunFolder, type RunLock } from '../io/run_lock.js';
import { writeSafetensors } from '../io/safetensors.js';
import { parseCheckpointMeta } from '../train/schemas.js';
import { describeCheckpoint } from '../io/pytorch_format.js';
import type { VisionModel } from '../models/base.js';
import type { ModelSpec, RawConfig } from '../models/registry.js';
import { defaultThreads } from '../runtime/node_machine.js';
import type { Engine } from './engine.js';
import { DEFAULT_TRAIN_CONFIG, Trainer, validateConfig, type Checkpoint, type CheckpointMeta, type EvalResult, type MetricsRecord, type TrainConfig, type TrainerEvent, type TrainingTask } from '../train/trainer.js';
import { writePng } from '../io/png.js';
import { createFcmae, type Fcmae } from './fcmae.js';
import { checkTaskName, trainingTask, type TaskName } from './training_tasks.js';
import { checkTrainInputSize } from './input_size.js';
import { scaledBatchSize } from '../data/multiscale_sampler.js';
import { backboneKeys } from '../train/trainer.js';
import { IMAGENET_TRAIN_IMAGES, recipePreset, scaleRecipeToRun } from '../train/recipes.js';
import type { FolderDataConfig } from './folder_data.js';
import { openImageFolder, summariseDataFiles } from './image_folder.js';
import { describeRun, differingSettings, isObject, parseRunConfig, runFingerprint, runIdentity, runModelOverrides, runTask, upgradeRunConfig, RUN_FORMAT, type RunConfig } from './run_config.js';
import { checkDataFiles, defaultFolderOptions, isFashionMnistSpec, loadRunData, type RunData } from './run_data.js';

// The run's configuration and data live beside this file; their public names are this module's too.
export { RUN_FORMAT, readRunFolderConfig, runFingerprint, runModelOverrides, runTask, upgradeRunConfig, type RunConfig } from './run_config.js';
export { defaultFolderOptions, isFashionMnistSpec, loadDataSpec, openRunTestData } from './run_data.js';

export interface TrainJobOptions {
  model: ModelSpec;
  modelOverrides?: RawConfig;
  data: string;
  out: string;
  train?: Partial<TrainConfig>;
  threads?: number;
  /** FCMAE options: pretrain `model` as an FCMAE encoder instead of training a classifier (task 'fcmae'). */
  fcmae?: RawConfig;
  /** The task (default: 'fcmae' with `fcmae` options, else 'classification'). */
  task?: TaskName;
  /** Token labelling: per-token label maps of the training images (a safetensors file; train/token_labels.ts). */
  tokenLabels?: string;
  /** Image-folder data: how to read it (the classes are filled in from the folder). */
  folder?: Omit<FolderDataConfig, 'classes'>;
  /** Fine-tune from these weights (a file, `hf:org/repo`, or a run folder's model.safetensors). */
  init?: { weights: string; weightsKey?: string };
  /**
   * The recipe the train settings came from: its warm-up and EMA are scaled to this run's length
   * once the data's size is known (`scaleRecipeToRun`), except what the user set (`keepWarmup`, `keepEma`).
   */
  scaleRecipe?: { name: string; keepWarmup: boolean; keepEma: boolean };
}

export interface RunHooks {
  onEvent?: (e: TrainerEvent) => void;
  /** Stop after this many steps (tests, and the kill/resume check). */
  stopAfterSteps?: number;
  /** Something the user should know that does not stop the job (threads capped, checkpoint fallback). */
  onWarning?: (message: string) => void;
  /** Abort (Ctrl-C): the step in flight finishes, a checkpoint is written, InterruptedError is thrown. */
  signal?: AbortSignal;
  /** Runs after training while the folder is still locked (the demo writes its report here). */
  whileLocked?: (result: TrainResult) => Promise<void>;
}

/** What `train --resume` may change: everything else is the run's own (run.json). */
export interface ResumeOptions {
  /** Train to this many epochs in all (more than the run had: extends its cosine schedule from here on). */
  epochs?: number;
  threads?: number;
  /** Continue although the image folder's files changed since the run started (`--accept-data-change`). */
  acceptDataChange?: boolean;
}

export interface TrainResult {
  dir: string;
  /** The last evaluation of this session; null when it evaluated nothing (no test set, or a resume that only wrote the final model). */
  final: EvalResult | null;
  /** Whether the run has test (val) data at all. */
  hasTestSet: boolean;
  model: VisionModel;
  steps: number;
}

/**
 * Threads for ONNX Runtime: at most the cores there are — more only make every thread wait for a
 * core (1000 threads on 2 cores: no step finishes in a minute). `source` names where the number
 * came from in the warning.
 */
function capThreads(threads: number | undefined, warn?: (m: string) => void, source = `--threads ${threads}`): number {
  const cores = defaultThreads();
  if (threads === undefined) return cores;
  if (!(Number.isInteger(threads) && threads >= 1)) throw new ConfigError(`--threads must be a positive integer (got ${threads})`);
  if (threads > cores) {
    warn?.(`${source} is more than the ${cores} cores of this machine; using ${cores}`);
    return cores;
  }
  return threads;
}

/** The model a run trains, its task, and the FCMAE around it when it pretrains one. */
interface RunModel {
  model: VisionModel;
  task?: TrainingTask<unknown>;
  fcmae?: Fcmae;
}

function buildModel(engine: Engine, rc: RunConfig, data: RunData): RunModel {
  const seed = rc.train.seed;
  if (runTask(rc) === 'fcmae') {
    const fcmae = createFcmae(engine, rc.model, rc.fcmae ?? {}, { in_chans: data.channels, ...rc.modelOverrides }, { seed });
    return { model: fcmae.net, fcmae };
  }
  return { model: engine.createModel(rc.model, { ...runModelOverrides(rc, data.numClasses, data.channels), seed }) };
}

/**
 * The data sets the classifier's classes and the input channels: a `--config` that says otherwise
 * (num_classes 5 on a 10-class folder, in_chans 1 on RGB images) is refused rather than silently
 * replaced (run.json would then record the user's value, not the one used).
 */
function checkModelFitsData(rc: RunConfig, data: RunData): void {
  const given = (snake: string, camel: string): unknown => {
    for (const src of [isObject(rc.model) ? rc.model : {}, rc.modelOverrides] as Record<string, unknown>[])
      for (const k of [snake, camel]) if (src[k] !== undefined) return src[k];
    return undefined;
  };
  const classes = given('num_classes', 'numClasses');
  if (runTask(rc) !== 'fcmae' && classes !== undefined && classes !== data.numClasses)
    throw new ConfigError(
      `--config num_classes ${JSON.stringify(classes)} conflicts with --data ${rc.data}, which has ${data.numClasses} classes; ` +
        "drop num_classes from --config (the data's classes set it)",
    );
  const chans = given('in_chans', 'inChans');
  if (chans !== undefined && chans !== data.channels)
    throw new ConfigError(
      `--config in_chans ${JSON.stringify(chans)} conflicts with --data ${rc.data}, whose images are read with ${data.channels} channel${data.channels === 1 ? '' : 's'}; ` +
        "drop in_chans from --config (the data's channels set it)",
    );
}

/** The run's task on its model; FCMAE runs write reconstructions into the run folder after each epoch. */
function withTask(rm: RunModel, rc: RunConfig, dir: string, data: RunData): RunModel {
  const { mean, std } = data.test as { mean?: readonly number[]; std?: readonly number[] } | null ?? {};
  const task = trainingTask(runTask(rc), {
    model: rm.model,
    labelSmoothing: rc.train.labelSmoothing,
    seed: rc.train.seed,
    fcmae: rm.fcmae,
    onReconstructions: (epoch, image) => writePng(runFolderFiles(dir).reconstructions(epoch), image),
    mean,
    std,
    tokenLabels: data.tokenLabels,
  });
  return { ...rm, task };
}

async function runWith(
  engine: Engine,
  rc: RunConfig,
  dir: string,
  data: RunData,
  run: RunModel,
  resumeFrom: Checkpoint | null,
  hooks: RunHooks,
): Promise<TrainResult> {
  const { model } = run;
  const files = runFolderFiles(dir);
  const log = new MetricsLog(files.metrics);
  const identity = runIdentity(rc);
  const io = {
    createSession: engine.trainStepSessions({ threads: rc.threads }),
    saveCheckpoint: (ckpt: Checkpoint) => saveCheckpoint(dir, ckpt, rc, identity),
    writeMetrics: (r: MetricsRecord) => log.write(r),
    now: () => performance.now(),
    // An engine on WebGPU (Node's `device: 'webgpu'`) needs its graphs lowered for it.
    ...(await engine.emitOptions()),
  };
  let trainer;
  try {
    trainer = await Trainer.create<unknown>(model, rc.train, data.train, data.test, io, run.task);
  } catch (e) {
    await data.close();
    throw e;
  }
  if (resumeFrom) {
    trainer.restore(resumeFrom);
    log.open(identity.id, resumeFrom.meta.metricsCount);
  } else {
    log.open(identity.id);
  }
  // Compiles go to their own log (their timings differ between runs, and a resumed process compiles
  // again): the evidence that multi-scale training compiles each side's step once.
  const onEvent = (e: TrainerEvent) => {
    if (e.type === 'compile') appendJsonLine(files.compiles, { shape: e.shape, seconds: e.seconds, at: new Date().toISOString() });
    hooks.onEvent?.(e);
  };
  try {
    const final = await trainer.run(onEvent, hooks.stopAfterSteps, hooks.signal);
    const finished = trainer.finished;
    if (finished) {
      const metadata = {
        visionmix_model: JSON.stringify(rc.model),
        visionmix_overrides: JSON.stringify(runModelOverrides(rc, data.numClasses, data.channels)),
      };
      await writeSafetensors(files.weights, new Map(Object.entries(model.stateDict())), metadata);
      // The EMA weights too, when kept: evaluated every epoch beside the raw ones (test_acc_ema).
      if (rc.train.emaDecay > 0) {
        trainer.step.syncToModel(true);
        await writeSafetensors(files.emaWeights, new Map(Object.entries(model.stateDict())), metadata);
        trainer.step.syncToModel(false);
      }
      // A pretrained encoder is what fine-tuning starts from: under a classifier's names, no decoder.
      if (run.fcmae) await writeSafetensors(files.encoder, run.fcmae.encoderStateDict(), { visionmix_model: JSON.stringify(rc.model) });
    }
    writeTextFile(files.curves, trainingCurves(MetricsLog.read(log.path), { title: `${model.name} on ${rc.data}`, labelSmoothing: runTask(rc) === 'fcmae' ? 0 : rc.train.labelSmoothing }));
    return { dir, final, hasTestSet: data.test !== null, model, steps: trainer.step.stepCount };
  } finally {
    await trainer.release();
  }
}

/** Train in a locked folder, then run `whileLocked`; the lock is released however it ends. */
async function runLocked(dir: string, job: string, hooks: RunHooks, body: (lock: RunLock) => Promise<TrainResult>): Promise<TrainResult> {
  const lock = lockRunFolder(dir, job);
  try {
    const result = await body(lock);
    await hooks.whileLocked?.(result);
    return result;
  } finally {
    lock.release();
  }
}

/** A recipe's warm-up and EMA for a run shorter than the paper's (train/recipes.ts has the rule); says what it chose. */
function scaleToRun(rc: RunConfig, o: NonNullable<TrainJobOptions['scaleRecipe']>, trainCount: number, onWarning?: (m: string) => void): void {
  const t = rc.train;
  const recipe = recipePreset(o.name);
  const stepsPerEpoch = Math.ceil(trainCount / t.batchSize);
  const s = scaleRecipeToRun(recipe, { epochs: t.epochs, stepsPerEpoch, keepWarmup: o.keepWarmup, keepEma: o.keepEma });
  if (!o.keepWarmup) {
    t.warmupEpochs = s.warmupEpochs;
    if (s.warmupSteps !== null) t.warmupSteps = s.warmupSteps;
  }
  if (!o.keepEma) t.emaDecay = s.emaDecay;
  if (s.changes.length)
    onWarning?.(
      `this run (${t.epochs} epochs, ~${t.epochs * stepsPerEpoch} steps) is far shorter than recipe '${o.name}' (${recipe.epochs} epochs of ImageNet, ` +
        `${Math.round((recipe.epochs * IMAGENET_TRAIN_IMAGES) / recipe.batchSize)} steps), ` +
        `so its schedule is scaled to this run: ${s.changes.join('; ')}. Give --warmup-epochs / --ema to choose them yourself.`,
    );
}

export async function trainJob(engine: Engine, o: TrainJobOptions, hooks: RunHooks = {}): Promise<TrainResult> {
  const rc: RunConfig = {
    format: RUN_FORMAT,
    model: o.model,
    modelOverrides: o.modelOverrides ?? {},
    data: o.data,
    train: { ...DEFAULT_TRAIN_CONFIG, ...o.train },
    threads: capThreads(o.threads, hooks.onWarning),
    runId: globalThis.crypto.randomUUID(),
    ...(o.fcmae ? { fcmae: o.fcmae } : {}),
    ...(o.task ? { task: checkTaskName(o.task) } : {}),
    ...(o.tokenLabels ? { tokenLabels: o.tokenLabels } : {}),
    ...(o.init ? { init: o.init } : {}),
  };
  if (o.fcmae && o.task && o.task !== 'fcmae') throw new ConfigError(`--task ${o.task}: FCMAE options were given too (they belong to --task fcmae)`);
  // Everything that can be wrong with the options is checked before the run folder is created.
  checkNewRunFolder(o.out);
  if (isFashionMnistSpec(rc.data)) {
    if (o.folder) throw new ConfigError(`augmentation, Mixup/CutMix and --recipe need an image folder as --data (augmentations run on image files), not ${rc.data}`);
  } else {
    if (!pathExists(rc.data))
      throw new ConfigError(`--data '${rc.data}' is not a known data set (fashion-mnist, fashion-mnist:PATH, fashion-mnist:bundled) nor an existing image folder`);
    checkOutsideData(o.out, rc.data);
    if (runTask(rc) === 'fcmae') throw new ConfigError(`--data ${rc.data}: FCMAE pretraining reads Fashion-MNIST (fashion-mnist, fashion-mnist:PATH or fashion-mnist:bundled) for now`);
    if (rc.train.multiScale) throw new ConfigError(`--multi-scale works with Fashion-MNIST data; an image folder (${rc.data}) is read at one --size`);
    const dataset = openImageFolder(rc.data, { split: o.folder?.split, valFraction: o.folder?.valFraction, seed: rc.train.seed });
    // One class is no classification: every prediction would be "right" (100% accuracy, nothing learnt).
    if (dataset.classes.length < 2)
      throw new DataError(
        `--data ${rc.data} has ${dataset.classes.length} class folder (${dataset.classes.join(', ')}); a classifier needs at least 2 classes, one sub-folder each`,
      );
    rc.folder = { ...defaultFolderOptions(), ...o.folder, classes: [...dataset.classes] };
    rc.dataFiles = summariseDataFiles(rc.data, dataset);
  }
  const data = await loadRunData(rc, hooks.onWarning);
  try {
    if (o.scaleRecipe) scaleToRun(rc, o.scaleRecipe, data.train.count, hooks.onWarning);
    checkModelFitsData(rc, data);
    const built = buildModel(engine, rc, data);
    const model = built.model;
    validateConfig(rc.train, data.train.count);
    checkTrainInputSize(model, rc.train.inputSize, rc.train.batchSize, data.minSize, hostMemoryBytes(), '--size', rc.train.microBatch);
    // Multi-scale: every side, with its scaled batch and its scaled images, must fit the model too.
    for (const r of rc.train.multiScale ?? [])
      checkTrainInputSize(model, r, scaledBatchSize(r, rc.train.inputSize, rc.train.batchSize), Math.round((data.minSize * r) / rc.train.inputSize), hostMemoryBytes(), '--multi-scale', rc.train.microBatch);
    // Fine-tuning: the backbone from the given weights, a fresh classifier for this run's classes.
    if (rc.init) {
      const init = rc.init;
      await model.loadWeights(init.weights, {
        backboneOnly: true,
        weightsKey: init.weightsKey,
        // A checkpoint with several state dicts (model and model_ema): say which one the run starts from.
        onCheckpoint: (info) => {
          if (info.candidates.length > 1 || info.strippedPrefix) hooks.onWarning?.(describeCheckpoint(init.weights, info));
        },
      });
    }
    if (rc.train.freezeBackbone) backboneKeys(model);
    const run = withTask(built, rc, o.out, data); // a task the model cannot do is refused before the folder exists
    createRunFolder(o.out);
    return await runLocked(o.out, 'train', hooks, async (lock) => {
      // Again under the lock: another job may have started a run here since the check above.
      checkNewRunFolder(o.out, '--out', lock);
      removeStaleTempFiles(o.out);
      writeRunConfig(o.out, rc);
      // Said once the run starts (a job refused for another reason has nothing to warn about).
      warnIfWarmupOnly(rc.train, hooks.onWarning);
      return runWith(engine, rc, o.out, data, run, null, hooks);
    });
  } finally {
    await data.close();
  }
}

/**
 * A warm-up as long as the run (`--epochs 1` with the default 1-epoch warm-up) trains at a rising
 * learning rate that never reaches its peak nor decays: allowed (a deliberate choice is possible),
 * but never silently.
 */
function warnIfWarmupOnly(t: TrainConfig, onWarning?: (m: string) => void): void {
  if (t.warmupSteps !== undefined || !(t.warmupEpochs > 0 && t.warmupEpochs >= t.epochs)) return;
  onWarning?.(
    `the warm-up (--warmup-epochs ${t.warmupEpochs}) lasts the whole run (--epochs ${t.epochs}): the learning rate rises linearly ` +
      `the whole time and never reaches --lr ${t.lr} nor decays; give --warmup-epochs below ${t.epochs} (e.g. ${t.epochs / 10}) to train at the peak`,
  );
}

/**
 * Continue the run in `dir` from its checkpoint. Only `options` may differ from the run's own
 * settings; the checkpoint must belong to the run that the folder's run.json describes.
 */
export async function resumeJob(engine: Engine, dir: string, hooks: RunHooks = {}, options: ResumeOptions = {}): Promise<TrainResult> {
  if (!pathExists(dir)) throw new DataError(`no checkpoint to resume in ${dir} (the folder does not exist)`);
  const threads = options.threads === undefined ? undefined : capThreads(options.threads, hooks.onWarning);
  return runLocked(dir, 'train --resume', hooks, async () => {
    removeStaleTempFiles(dir);
    if (!hasCheckpoint(dir) && pathExists(runFolderFiles(dir).config))
      throw new DataError(
        `no checkpoint to resume in ${dir}: the run was stopped before its first checkpoint; start it again with another --out, or delete ${dir} first`,
      );
    const loaded = await loadCheckpoint<CheckpointMeta>(dir, parseCheckpointMeta);
    const ckptWhere = `the config saved in ${loaded.path}`;
    const fromCheckpoint = parseRunConfig(loaded.runConfig, ckptWhere);
    // run.json as written, and as read now: a run made before a config key changed meaning (an older
    // format) has fingerprints taken from the old spelling.
    const rawFile = readRunConfig(dir);
    const fileAsWritten = rawFile === null ? null : parseRunConfig(rawFile, runFolderFiles(dir).config, true);
    const fileConfig = fileAsWritten && upgradeRunConfig(fileAsWritten);
    let rc: RunConfig;
    if (fileConfig === null) {
      hooks.onWarning?.(`${runFolderFiles(dir).config} is missing; using the configuration saved in the checkpoint and writing it back`);
      rc = fromCheckpoint;
    } else {
      rc = fileConfig;
      // The checkpoint must be this run's: same id (when both record one) and same fingerprint.
      const ckptId = loaded.identity?.id ?? fromCheckpoint.runId;
      const sameId = ckptId === undefined || rc.runId === undefined || ckptId === rc.runId;
      const ckptPrint = loaded.identity?.fingerprint ?? runFingerprint(parseRunConfig(loaded.runConfig, ckptWhere, true));
      if (!sameId)
        throw new DataError(
          `checkpoint ${loaded.path} belongs to another run (${describeRun(fromCheckpoint, ckptId)}) than ` +
            `${runFolderFiles(dir).config} (${describeRun(rc, rc.runId)}); resuming would mix the two runs' metrics. ` +
            `Resume the folder the checkpoint came from, or move the checkpoint away and start a new run.`,
        );
      if (ckptPrint !== runFingerprint(rc) && ckptPrint !== runFingerprint(fileAsWritten!)) {
        // Same run, other settings: run.json was edited (or the checkpoint's config differs) — say what.
        const changed = differingSettings(fromCheckpoint, rc);
        throw new DataError(
          `${runFolderFiles(dir).config} does not match the settings run ${rc.runId ?? '(no id)'} was checkpointed with ` +
            `(${changed.length ? `different: ${changed.join(', ')}` : 'its settings differ'}); was run.json edited? ` +
            `A run resumes with its own settings (only --epochs and --threads may change): restore run.json, or start a new run with the new settings.`,
        );
      }
    }
    // The metrics already in the folder must be this checkpoint's run's too (run.json may be gone,
    // and with it the check above): otherwise two histories would be merged into one log.
    const ckptRunId = loaded.identity?.id ?? fromCheckpoint.runId;
    const logRunId = MetricsLog.runId(runFolderFiles(dir).metrics);
    if (logRunId !== null && ckptRunId !== undefined && logRunId !== ckptRunId)
      throw new DataError(
        `checkpoint ${loaded.path} belongs to run ${ckptRunId}, but ${runFolderFiles(dir).metrics} holds the metrics of run ${logRunId}; ` +
          `resuming would merge the two runs' histories. Resume the folder the checkpoint came from, or move the checkpoint away and start a new run.`,
      );
    if (loaded.fallback) {
      hooks.onWarning?.(`${loaded.fallback.reason}; resuming from the previous checkpoint ${loaded.path} (step ${loaded.ckpt.train.step}) instead`);
      restoreLatestFromPrevious(dir);
    }
    const done = loaded.ckpt.meta.epoch;
    if (options.epochs !== undefined) {
      if (!(Number.isInteger(options.epochs) && options.epochs >= 1)) throw new ConfigError(`--epochs must be a positive integer (got ${options.epochs})`);
      if (options.epochs < done)
        throw new ConfigError(`--epochs ${options.epochs} is fewer than the ${done} epochs ${dir} has already trained; give ${done} or more`);
    }
    const epochs = options.epochs ?? rc.train.epochs;
    if (done >= epochs && pathExists(runFolderFiles(dir).weights))
      throw new ConfigError(
        `${dir} has already finished: ${done}/${rc.train.epochs} epochs, model.safetensors written. To train it longer, give --epochs N with N > ${done}.`,
      );
    rc = { ...rc, train: { ...rc.train, epochs }, threads: threads ?? capThreads(rc.threads, hooks.onWarning, `run.json's threads ${rc.threads}`) };
    const dataFiles = checkDataFiles(rc, options.acceptDataChange === true, hooks.onWarning);
    if (dataFiles) rc = { ...rc, dataFiles };
    // Written back when it changed, or to record an older run.json in today's format (its keys renamed).
    if (fileConfig === null || fileAsWritten?.format !== RUN_FORMAT || epochs !== fileConfig.train.epochs || rc.threads !== fileConfig.threads || dataFiles)
      writeRunConfig(dir, rc);
    const data = await loadRunData(rc, hooks.onWarning);
    try {
      return await runWith(engine, rc, dir, data, withTask(buildModel(engine, rc, data), rc, dir, data), loaded.ckpt, hooks);
    } finally {
      await data.close();
    }
  });
}
