/**
 * The training job: data set + model + trainer + checkpoints + report, from options to a run folder:
 *   DIR/metrics.jsonl          one record per step ({step, loss, …}) and per epoch ({epoch, test_acc, …})
 *   DIR/checkpoint.safetensors the last good checkpoint (resume with `visionmix train --resume DIR`)
 *   DIR/model.safetensors      final weights, timm key names (loadable with `loadWeights`)
 *   DIR/curves.svg             loss and accuracy curves
 *   DIR/run.json               the run's configuration
 */
import { trainingCurves } from '../analysis/svg.js';
import { ConfigError, DataError } from '../errors.js';
import type { FashionMnist } from '../data/fashion_mnist.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from '../io/checkpoint.js';
import { BUNDLED_FASHION_MNIST_DIR, DEFAULT_FASHION_MNIST_DIR, loadFashionMnist } from '../io/fashion_mnist_files.js';
import { pathExists, writeTextFile } from '../io/files.js';
import { MetricsLog } from '../io/metrics_log.js';
import { createRunFolder, runFolderFiles } from '../io/run_folder.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { VisionModel } from '../models/base.js';
import type { ModelSpec, RawConfig } from '../models/registry.js';
import { setInitSeed } from '../nn/init.js';
import type { Engine } from './engine.js';
import { DEFAULT_TRAIN_CONFIG, Trainer, validateConfig, type Checkpoint, type EvalResult, type TrainConfig, type TrainerEvent } from '../train/trainer.js';

export interface RunConfig {
  model: ModelSpec;
  /** Config overrides applied on top of a registry model (num_classes, in_chans, drop_path_rate, …). */
  modelOverrides: RawConfig;
  data: string;
  train: TrainConfig;
  threads: number;
}

export interface TrainJobOptions {
  model: ModelSpec;
  modelOverrides?: RawConfig;
  data: string;
  out: string;
  train?: Partial<TrainConfig>;
  threads?: number;
}

export interface RunHooks {
  onEvent?: (e: TrainerEvent) => void;
  /** Stop after this many steps (tests, and the kill/resume check). */
  stopAfterSteps?: number;
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
    throw new ConfigError(`--data '${spec}' is not a known data set (use fashion-mnist, fashion-mnist:PATH or fashion-mnist:bundled)`);
  const dir = arg === '' ? DEFAULT_FASHION_MNIST_DIR : arg === 'bundled' ? BUNDLED_FASHION_MNIST_DIR : arg;
  if (!pathExists(dir)) throw new DataError(`--data: folder ${dir} does not exist${arg === '' ? ' (apt-get install dataset-fashion-mnist, or use fashion-mnist:bundled)' : ''}`);
  return loadFashionMnist(dir);
}

/** The model config a run actually uses: classes and input channels from its data, then the user's overrides. */
export function runModelOverrides(rc: RunConfig, numClasses: number, channels: number): RawConfig {
  return { num_classes: numClasses, in_chans: channels, ...rc.modelOverrides };
}

function buildModel(engine: Engine, rc: RunConfig, data: FashionMnist): VisionModel {
  setInitSeed(rc.train.seed);
  return engine.createModel(rc.model, runModelOverrides(rc, data.train.classes.length, data.train.channels));
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
  data: FashionMnist,
  model: VisionModel,
  resumeFrom: Checkpoint | null,
  hooks: RunHooks,
): Promise<TrainResult> {
  const files = runFolderFiles(dir);
  const log = new MetricsLog(files.metrics);
  const trainer = await Trainer.create(model, rc.train, data.train, data.test, {
    createSession: sessionFactory(engine, rc.threads),
    saveCheckpoint: (ckpt) => saveCheckpoint(dir, ckpt, rc),
    writeMetrics: (r) => log.write(r),
    now: () => performance.now(),
  });
  if (resumeFrom) {
    trainer.restore(resumeFrom);
    log.open(resumeFrom.meta.metricsCount);
  } else {
    log.open();
  }
  try {
    const final = await trainer.run(hooks.onEvent, hooks.stopAfterSteps);
    const finished = trainer.step.stepCount === trainer.totalSteps;
    if (finished) {
      await writeSafetensors(files.weights, new Map(Object.entries(model.stateDict())), {
        visionmix_model: JSON.stringify(rc.model),
        visionmix_overrides: JSON.stringify(runModelOverrides(rc, data.train.classes.length, data.train.channels)),
      });
    }
    writeTextFile(files.curves, trainingCurves(MetricsLog.read(log.path), { title: `${model.name} on ${rc.data}` }));
    return { dir, final, model, steps: trainer.step.stepCount };
  } finally {
    await trainer.release();
  }
}

export async function trainJob(engine: Engine, o: TrainJobOptions, hooks: RunHooks = {}): Promise<TrainResult> {
  const rc: RunConfig = {
    model: o.model,
    modelOverrides: o.modelOverrides ?? {},
    data: o.data,
    train: { ...DEFAULT_TRAIN_CONFIG, ...o.train },
    threads: engine.threads(o.threads, '--threads'),
  };
  if (hasCheckpoint(o.out))
    throw new ConfigError(`--out ${o.out} already holds a training run; continue it with --resume ${o.out} or choose another --out`);
  // Everything that can be wrong with the options is checked before the run folder is created.
  const data = await loadDataSpec(rc.data);
  const model = buildModel(engine, rc, data);
  validateConfig(rc.train, data.train.count);
  createRunFolder(o.out, rc);
  return runWith(engine, rc, o.out, data, model, null, hooks);
}

export async function resumeJob(engine: Engine, dir: string, hooks: RunHooks = {}): Promise<TrainResult> {
  const { ckpt, runConfig } = await loadCheckpoint(dir);
  const rc = runConfig as RunConfig;
  const data = await loadDataSpec(rc.data);
  return runWith(engine, rc, dir, data, buildModel(engine, rc, data), ckpt, hooks);
}
