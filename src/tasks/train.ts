/**
 * The training job: data set + model + trainer + checkpoints + report, from options to a run folder:
 *   DIR/metrics.jsonl          one record per step ({step, loss, …}) and per epoch ({epoch, test_acc, …})
 *   DIR/checkpoint.safetensors the last good checkpoint (resume with `visionmix train --resume DIR`)
 *   DIR/model.safetensors      final weights, timm key names (loadable with `loadWeights`)
 *   DIR/curves.svg             loss and accuracy curves
 *   DIR/run.json               the run's configuration
 *   DIR/checkpoint.prev.safetensors  the checkpoint before the last (fallback if the last is corrupt)
 *   DIR/.visionmix.lock        while a job runs in the folder: its pid (see io/run_lock.ts)
 *
 * Nothing a user owns is overwritten or mixed: a folder that holds a run is refused as `--out`, a
 * job locks its folder before writing anything, and `--resume` checks that the checkpoint belongs to
 * the run described by the folder's run.json.
 */
import { trainingCurves } from '../analysis/svg.js';
import { ConfigError, DataError } from '../errors.js';
import type { FashionMnist } from '../data/fashion_mnist.js';
import { hasCheckpoint, loadCheckpoint, restoreLatestFromPrevious, saveCheckpoint, type RunIdentity } from '../io/checkpoint.js';
import { BUNDLED_FASHION_MNIST_DIR, DEFAULT_FASHION_MNIST_DIR, loadFashionMnist } from '../io/fashion_mnist_files.js';
import { appendJsonLine, pathExists, writeTextFile } from '../io/files.js';
import { hostMemoryBytes } from '../io/host.js';
import { MetricsLog } from '../io/metrics_log.js';
import { checkNewRunFolder, createRunFolder, readRunConfig, removeStaleTempFiles, runFolderFiles, writeRunConfig } from '../io/run_folder.js';
import { lockRunFolder, type RunLock } from '../io/run_lock.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { VisionModel } from '../models/base.js';
import type { ModelSpec, RawConfig } from '../models/registry.js';
import { defaultThreads } from '../runtime/node_machine.js';
import type { Engine } from './engine.js';
import { DEFAULT_TRAIN_CONFIG, Trainer, validateConfig, type Checkpoint, type CheckpointMeta, type EvalResult, type MetricsRecord, type TrainConfig, type TrainerEvent, type TrainingTask } from '../train/trainer.js';
import { writePng } from '../io/png.js';
import { createFcmae, type Fcmae } from './fcmae.js';
import { checkTaskName, trainingTask, type TaskName } from './training_tasks.js';
import { canonicalJson, fnv1a64 } from '../util/hash.js';
import { checkTrainInputSize } from './input_size.js';
import { scaledBatchSize } from '../data/multiscale_sampler.js';
import type { ImageDataset } from '../data/transforms.js';
import type { EvalData, TrainBatches } from '../train/batches.js';
import { backboneKeys } from '../train/trainer.js';
import { BASIC_AUGMENT, IMAGENET_MEAN, IMAGENET_STD, openFolderData, type FolderDataConfig } from './folder_data.js';
import { openImageFolder } from './image_folder.js';

export interface RunConfig {
  model: ModelSpec;
  /** Config overrides applied on top of a registry model (num_classes, in_chans, drop_path_rate, …). */
  modelOverrides: RawConfig;
  data: string;
  train: TrainConfig;
  threads: number;
  /** Random id of the run, given when it starts; checkpoints record it (absent in older run.json). */
  runId?: string;
  /** FCMAE pretraining options: the run pretrains `model` as the encoder of an FCMAE (`visionmix pretrain`). */
  fcmae?: RawConfig;
  /** What is trained (tasks/training_tasks.ts; absent in older run.json: 'fcmae' when `fcmae` is set, else 'classification'). */
  task?: TaskName;
  /** How an image-folder `data` is read (classes, split, augmentation, Mixup/CutMix, normalisation). */
  folder?: FolderDataConfig;
  /** Fine-tuning: the weights the run started from (the classifier is replaced for its classes). */
  init?: { weights: string };
}

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
  /** Image-folder data: how to read it (the classes are filled in from the folder). */
  folder?: Omit<FolderDataConfig, 'classes'>;
  /** Fine-tune from these weights (a file, `hf:org/repo`, or a run folder's model.safetensors). */
  init?: { weights: string };
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
}

export interface TrainResult {
  dir: string;
  final: EvalResult | null;
  model: VisionModel;
  steps: number;
}

/**
 * `fashion-mnist` (Debian's dataset-fashion-mnist), `fashion-mnist:PATH`, or `fashion-mnist:bundled`
 * (the 6000/1000-image subset shipped in the repo).
 */
export async function loadDataSpec(spec: string): Promise<FashionMnist> {
  const [name, ...rest] = spec.split(':');
  const arg = rest.join(':');
  if (name !== 'fashion-mnist')
    throw new ConfigError(
      `--data '${spec}' is not a known data set (use fashion-mnist, fashion-mnist:PATH, fashion-mnist:bundled` +
        `${isFashionMnistSpec(spec) ? '' : ', or a folder of class sub-folders for train/finetune'})`,
    );
  const dir = arg === '' ? DEFAULT_FASHION_MNIST_DIR : arg === 'bundled' ? BUNDLED_FASHION_MNIST_DIR : arg;
  if (!pathExists(dir)) throw new DataError(`--data: folder ${dir} does not exist${arg === '' ? ' (apt-get install dataset-fashion-mnist, or use fashion-mnist:bundled)' : ''}`);
  return loadFashionMnist(dir);
}

/** A Fashion-MNIST data spec (anything else given to train/finetune is an image folder). */
export function isFashionMnistSpec(spec: string): boolean {
  return spec === 'fashion-mnist' || spec.startsWith('fashion-mnist:');
}

/** A run's data, whichever kind: what the trainer iterates and what the model must be built for. */
interface RunData {
  train: ImageDataset | TrainBatches;
  test: EvalData | null;
  numClasses: number;
  channels: number;
  /** Training images are padded, never shrunk, to the input size: its minimum (1 for folders: images are resized). */
  minSize: number;
  /** Release worker threads. */
  close(): Promise<void>;
}

async function loadRunData(rc: RunConfig, onWarning?: (m: string) => void): Promise<RunData> {
  if (!rc.folder) {
    const { train, test } = await loadDataSpec(rc.data);
    return { train, test, numClasses: train.classes.length, channels: train.channels, minSize: Math.max(train.height, train.width), close: async () => {} };
  }
  const t = rc.train;
  const f = openFolderData(rc.data, rc.folder, { batchSize: t.batchSize, size: t.inputSize, seed: t.seed, labelSmoothing: t.labelSmoothing, onWarning });
  return { train: f.train, test: f.test, numClasses: rc.folder.classes.length, channels: 3, minSize: 1, close: () => f.train.close() };
}

/**
 * The test data of a finished run (`visionmix eval`): its own data's test split — an image folder's
 * val split — or `spec` instead. Call `close` when done (folder data runs worker threads).
 */
export async function openRunTestData(rc: RunConfig, spec?: string): Promise<{ test: EvalData; close(): Promise<void> }> {
  const run = spec === undefined || spec === rc.data ? rc : { ...rc, data: spec };
  if (run.folder && !isFashionMnistSpec(run.data)) {
    const data = await loadRunData(run);
    if (!data.test) {
      await data.close();
      throw new ConfigError(`--data ${run.data} has no val split to evaluate on (split '${run.folder.split}')`);
    }
    return { test: data.test, close: data.close };
  }
  if (!isFashionMnistSpec(run.data)) throw new ConfigError(`--data ${run.data}: the run was trained on ${rc.data}; evaluate it on Fashion-MNIST data`);
  return { test: (await loadDataSpec(run.data)).test, close: async () => {} };
}

/** The model config a run actually uses: classes and input channels from its data, then the user's overrides. */
export function runModelOverrides(rc: RunConfig, numClasses: number, channels: number): RawConfig {
  return { num_classes: numClasses, in_chans: channels, ...rc.modelOverrides };
}

/**
 * Hash of everything that determines a run's numbers: model config, data, training settings and
 * seed. Not the epoch count (`--resume --epochs` may extend it) nor the thread count.
 */
export function runFingerprint(rc: RunConfig): string {
  const { epochs: _epochs, ...train } = rc.train;
  const { workers: _workers, ...folder } = rc.folder ?? ({} as Partial<FolderDataConfig>);
  return fnv1a64(
    canonicalJson({
      model: rc.model,
      modelOverrides: rc.modelOverrides,
      data: rc.data,
      train,
      ...(rc.fcmae ? { fcmae: rc.fcmae } : {}),
      ...(rc.task ? { task: rc.task } : {}),
      ...(rc.folder ? { folder } : {}),
      ...(rc.init ? { init: rc.init } : {}),
    }),
  );
}

function runIdentity(rc: RunConfig): RunIdentity {
  return { id: rc.runId ?? 'none', fingerprint: runFingerprint(rc) };
}

function describeRun(rc: RunConfig, id: string | undefined): string {
  const model = typeof rc.model === 'string' ? rc.model : JSON.stringify(rc.model);
  return `run ${id ?? '(no id)'}: model ${model}, data ${rc.data}, seed ${rc.train.seed}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Check the fields a run config needs; anything else → DataError naming `where`. */
function parseRunConfig(raw: unknown, where: string): RunConfig {
  const bad = (what: string) => new DataError(`${where} is not a visionmix run configuration: ${what}`);
  if (!isObject(raw)) throw bad('expected a JSON object');
  if (!(typeof raw.model === 'string' || isObject(raw.model))) throw bad("'model' must be a registry name or a config object");
  if (typeof raw.data !== 'string') throw bad("'data' must be a data set spec string");
  if (!isObject(raw.train)) throw bad("'train' must be an object");
  for (const key of ['epochs', 'batchSize', 'lr', 'seed', 'inputSize'] as const)
    if (typeof raw.train[key] !== 'number') throw bad(`'train.${key}' must be a number`);
  if (raw.modelOverrides !== undefined && !isObject(raw.modelOverrides)) throw bad("'modelOverrides' must be an object");
  if (raw.runId !== undefined && typeof raw.runId !== 'string') throw bad("'runId' must be a string");
  return {
    ...(raw as unknown as RunConfig),
    modelOverrides: (raw.modelOverrides as RawConfig | undefined) ?? {},
    train: { ...DEFAULT_TRAIN_CONFIG, ...(raw.train as Partial<TrainConfig>) },
    threads: typeof raw.threads === 'number' ? raw.threads : defaultThreads(),
  };
}

/** The run config of a finished or running run folder (its run.json), for eval/predict. */
export function readRunFolderConfig(dir: string): RunConfig | null {
  const raw = readRunConfig(dir);
  return raw === null ? null : parseRunConfig(raw, runFolderFiles(dir).config);
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

/** The run's task: run.json's, or (older run folders) FCMAE when FCMAE options are set. */
export function runTask(rc: RunConfig): TaskName {
  return rc.task ?? (rc.fcmae ? 'fcmae' : 'classification');
}

function buildModel(engine: Engine, rc: RunConfig, data: RunData): RunModel {
  const seed = rc.train.seed;
  if (runTask(rc) === 'fcmae') {
    const fcmae = createFcmae(engine, rc.model, rc.fcmae ?? {}, { in_chans: data.channels, ...rc.modelOverrides }, { seed });
    return { model: fcmae.net, fcmae };
  }
  return { model: engine.createModel(rc.model, { ...runModelOverrides(rc, data.numClasses, data.channels), seed }) };
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
  });
  return { ...rm, task };
}

function sessionFactory(engine: Engine, threads: number) {
  // The CPU arena stays on: it doubles the train step's peak memory (ENGINE.md), but without it
  // steps run ~50% slower, and these models are small.
  return (bytes: Uint8Array, label: string) => engine.createSession(bytes, { threads, label, memArena: true });
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
    createSession: sessionFactory(engine, rc.threads),
    saveCheckpoint: (ckpt: Checkpoint) => saveCheckpoint(dir, ckpt, rc, identity),
    writeMetrics: (r: MetricsRecord) => log.write(r),
    now: () => performance.now(),
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
    log.open(resumeFrom.meta.metricsCount);
  } else {
    log.open();
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
    return { dir, final, model, steps: trainer.step.stepCount };
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

export async function trainJob(engine: Engine, o: TrainJobOptions, hooks: RunHooks = {}): Promise<TrainResult> {
  const rc: RunConfig = {
    model: o.model,
    modelOverrides: o.modelOverrides ?? {},
    data: o.data,
    train: { ...DEFAULT_TRAIN_CONFIG, ...o.train },
    threads: capThreads(o.threads, hooks.onWarning),
    runId: globalThis.crypto.randomUUID(),
    ...(o.fcmae ? { fcmae: o.fcmae } : {}),
    ...(o.task ? { task: checkTaskName(o.task) } : {}),
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
    if (runTask(rc) === 'fcmae') throw new ConfigError(`--data ${rc.data}: FCMAE pretraining reads Fashion-MNIST (fashion-mnist, fashion-mnist:PATH or fashion-mnist:bundled) for now`);
    if (rc.train.multiScale) throw new ConfigError(`--multi-scale works with Fashion-MNIST data; an image folder (${rc.data}) is read at one --size`);
    rc.folder = { ...defaultFolderOptions(), ...o.folder, classes: [...openImageFolder(rc.data, { split: o.folder?.split, valFraction: o.folder?.valFraction, seed: rc.train.seed }).classes] };
  }
  const data = await loadRunData(rc, hooks.onWarning);
  try {
    const built = buildModel(engine, rc, data);
    const model = built.model;
    validateConfig(rc.train, data.train.count);
    checkTrainInputSize(model, rc.train.inputSize, rc.train.batchSize, data.minSize, hostMemoryBytes());
    // Multi-scale: every side, with its scaled batch and its scaled images, must fit the model too.
    for (const r of rc.train.multiScale ?? [])
      checkTrainInputSize(model, r, scaledBatchSize(r, rc.train.inputSize, rc.train.batchSize), Math.round((data.minSize * r) / rc.train.inputSize), hostMemoryBytes(), '--multi-scale');
    // Fine-tuning: the backbone from the given weights, a fresh classifier for this run's classes.
    if (rc.init) await model.loadWeights(rc.init.weights, { backboneOnly: true });
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

/** Image-folder reading without a recipe: basic augmentation, ImageNet normalisation, timm's eval crop. */
export function defaultFolderOptions(): Omit<FolderDataConfig, 'classes'> {
  return {
    split: 'auto',
    augment: BASIC_AUGMENT,
    mixup: null,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    cropPct: 0.875,
    evalInterpolation: 'bicubic',
    workers: 2,
    onBadImage: 'stop',
  };
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
    const loaded = await loadCheckpoint<CheckpointMeta>(dir);
    const fromCheckpoint = parseRunConfig(loaded.runConfig, `the config saved in ${loaded.path}`);
    const fileConfig = readRunFolderConfig(dir);
    let rc: RunConfig;
    if (fileConfig === null) {
      hooks.onWarning?.(`${runFolderFiles(dir).config} is missing; using the configuration saved in the checkpoint and writing it back`);
      rc = fromCheckpoint;
    } else {
      rc = fileConfig;
      // The checkpoint must be this run's: same id (when both record one) and same fingerprint.
      const ckptId = loaded.identity?.id ?? fromCheckpoint.runId;
      const sameId = ckptId === undefined || rc.runId === undefined || ckptId === rc.runId;
      const ckptPrint = loaded.identity?.fingerprint ?? runFingerprint(fromCheckpoint);
      if (!sameId || ckptPrint !== runFingerprint(rc))
        throw new DataError(
          `checkpoint ${loaded.path} belongs to another run (${describeRun(fromCheckpoint, ckptId)}) than ` +
            `${runFolderFiles(dir).config} (${describeRun(rc, rc.runId)}); resuming would mix the two runs' metrics. ` +
            `Resume the folder the checkpoint came from, or move the checkpoint away and start a new run.`,
        );
    }
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
    if (fileConfig === null || epochs !== fileConfig.train.epochs || rc.threads !== fileConfig.threads) writeRunConfig(dir, rc);
    const data = await loadRunData(rc, hooks.onWarning);
    try {
      return await runWith(engine, rc, dir, data, withTask(buildModel(engine, rc, data), rc, dir, data), loaded.ckpt, hooks);
    } finally {
      await data.close();
    }
  });
}
