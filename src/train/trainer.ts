/**
 * The training loop: seeded batches → compiled train step → metrics, evaluation every epoch, and
 * checkpoints that capture everything needed to continue bit-for-bit (weights, optimizer and EMA
 * state, RNG state, sampler position, step). File access is injected (`TrainerIO`), so the loop
 * itself runs anywhere ONNX Runtime does.
 */
import { ConfigError, InterruptedError, TrainingError } from '../errors.js';
import type { MultiScaleState } from '../data/multiscale_sampler.js';
import type { SamplerState } from '../data/sampler.js';
import type { ImageDataset } from '../data/transforms.js';
import type { VisionModel } from '../models/base.js';
import type { Tensor } from '../tensor.js';
import { Rng, type RngState } from '../util/rng.js';
import { ArrayBatches, type EvalData, type TrainBatch, type TrainBatches } from './batches.js';
import { evaluateObjective, type EvalResult, type Evaluation } from './evaluate.js';
import { layerDecayScales, type LayerDecayMode } from './layer_decay.js';
import { crossEntropy, type ClassTargets } from './losses.js';
import type { Objective } from './objective.js';
import { makeOptimizer, type OptimizerOptions } from './optim.js';
import { cosineLr } from './schedule.js';
import type { SessionFactory } from './session.js';
import { TrainStep, type TrainState } from './step.js';
import type { Target } from '../graph/emit.js';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  /** Images per micro-batch (gradient accumulation, `TrainStepOptions.microBatch`); default: the whole batch. */
  microBatch?: number;
  lr: number;
  minLr: number;
  warmupEpochs: number;
  optimizer: OptimizerOptions;
  labelSmoothing: number;
  clipGradNorm: number;
  /** EMA decay; 0 disables. */
  emaDecay: number;
  seed: number;
  /** Square input size fed to the model (images are padded/cropped to it). */
  inputSize: number;
  /** Random-crop padding for training batches. */
  cropPad: number;
  /** Write a checkpoint every this many steps (and at every epoch end); 0 = epoch ends only. */
  checkpointEvery: number;
  evalBatchSize: number;
  /**
   * Multi-scale training (MobileViT, spec §5.1): a square input side drawn per batch from these, the
   * batch size scaled by (inputSize / side)² from `batchSize`; the images are resized in proportion
   * (28 px on a 32 canvas becomes 21 on 24). Evaluation stays at `inputSize`.
   */
  multiScale?: number[];
  /** lr at the start of the warm-up (timm's warmup_lr; default 0). */
  warmupLr?: number;
  /** Warm-up length in steps, instead of `warmupEpochs` (MobileViT's 3000 iterations). */
  warmupSteps?: number;
  /** Weight decay on every parameter (MobileViT's recipe), not only matrices and kernels. */
  decayAll?: boolean;
  /** Layer-wise lr decay (fine-tuning): lr × decay^(layers above), timm's grouping (train/layer_decay.ts). */
  layerDecay?: { decay: number; mode: LayerDecayMode } | null;
  /** Train the classifier only: every other parameter keeps its value (no gradient, no update). */
  freezeBackbone?: boolean;
  /**
   * Train on the first N images of the training split only (array data sets such as Fashion-MNIST):
   * shorter epochs for a quick check of a whole job (the demo's `--steps`). Default: every image.
   */
  trainImages?: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  epochs: 10,
  batchSize: 64,
  lr: 2e-3,
  minLr: 1e-6,
  warmupEpochs: 1,
  optimizer: { kind: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05 },
  labelSmoothing: 0.1,
  clipGradNorm: 0,
  emaDecay: 0,
  seed: 0,
  inputSize: 32,
  cropPad: 4,
  checkpointEvery: 0,
  evalBatchSize: 250,
};

/** A step record (one per optimisation step) or an epoch record, as written to metrics.jsonl. */
export type MetricsRecord = Record<string, number | string>;

export interface Checkpoint {
  train: TrainState;
  meta: CheckpointMeta;
}

export interface CheckpointMeta {
  format: 'visionmix-checkpoint/1';
  epoch: number;
  sampler: SamplerState | MultiScaleState;
  rng: RngState;
  /** Records written so far (the log is cut back to this on resume). */
  metricsCount: number;
  bestTestAcc: number;
  /** Seconds of training so far (excluding time before a resume's restart). */
  elapsed: number;
  /**
   * Running sums of the current epoch's training metrics, so that an epoch resumed in the middle
   * reports the same train_loss/train_acc as an uninterrupted one. Absent in older checkpoints.
   */
  epochSums?: EpochSums;
}

/** Sums over the steps of the current epoch so far: loss × images, each metric × images, images. */
export interface EpochSums {
  loss: number;
  /** The objective's metrics × images (classification: `acc`). */
  metrics?: Record<string, number>;
  /** Correct predictions: how checkpoints before per-metric sums kept `acc` (read on resume). */
  correct?: number;
  seen: number;
}

/** Epoch sums as this trainer keeps them: older checkpoints' `correct` becomes the `acc` sum. */
function currentSums(s: EpochSums | undefined): Required<Pick<EpochSums, 'loss' | 'metrics' | 'seen'>> {
  if (!s) return { loss: 0, metrics: {}, seen: 0 };
  const metrics = { ...(s.metrics ?? (s.correct !== undefined && !Number.isNaN(s.correct) ? { acc: s.correct } : {})) };
  return { loss: s.loss, metrics, seen: s.seen };
}

export interface TrainerIO {
  createSession: SessionFactory;
  /** What the step graph is emitted for (default 'cpu'; the session factory's runtime decides: WebGPU needs 'webgpu'). */
  target?: Target;
  /** ONNX Runtime's NCHWc block size (TrainStepOptions.nchwcBlock; the session factory's runtime decides). */
  nchwcBlock?: number;
  /** Keep the training state on the device between steps (TrainStepOptions.keepStateOnDevice: onnxruntime-web on WebGPU). */
  keepStateOnDevice?: boolean;
  saveCheckpoint(ckpt: Checkpoint): Promise<void>;
  writeMetrics(record: MetricsRecord): void;
  now(): number;
}

export type TrainerEvent =
  /** `multiScale`: epochs have a varying number of steps (`stepsPerEpoch` is then only the expected count). */
  | { type: 'start'; step: number; totalSteps: number; stepsPerEpoch: number; epoch: number; epochs: number; batchSize: number; multiScale?: boolean }
  | { type: 'compile'; shape: string; seconds: number }
  | { type: 'step'; step: number; epoch: number; loss: number; acc: number; lr: number; imgPerSec: number }
  | { type: 'eval'; epoch: number; done: number; total: number }
  | { type: 'epoch'; record: MetricsRecord }
  | { type: 'checkpoint'; step: number };

export type { EvalResult };

/**
 * What is trained: the objective the step minimises, the targets it takes from each batch, and how
 * the model is evaluated at the end of every epoch (through an objective too: `evaluateObjective`).
 * Tasks are chosen by name (tasks/training_tasks.ts); classification is the default.
 */
export interface TrainingTask<T> {
  /** The task's registry name ('classification', 'token-labelling', 'fcmae'). */
  readonly name: string;
  objective: Objective<T>;
  targets(batch: TrainBatch): T;
  /** How the model is evaluated after epoch `epoch` (1-based; undefined for a second evaluation, e.g. of the EMA weights). */
  evaluation(epoch?: number): Evaluation<unknown>;
}

/** Cross-entropy and accuracy against a test batch's labels (no smoothing: the loss people compare). */
export function classificationEvaluation(): Evaluation<ClassTargets> {
  return { objective: crossEntropy(), targets: (b) => b.labels };
}

/**
 * Cross-entropy (with label smoothing) against the batch's labels — or its soft targets when
 * Mixup/CutMix mixed it (smoothing is then already in them); accuracy and loss on the test set.
 */
export function classificationTask(labelSmoothing: number): TrainingTask<ClassTargets> {
  return { name: 'classification', objective: crossEntropy({ labelSmoothing }), targets: (b) => b.soft ?? b.labels, evaluation: classificationEvaluation };
}

/** Accuracy and mean cross-entropy of a classifier (eval mode) on a data set. */
export function evaluate(
  model: VisionModel,
  data: EvalData,
  inputSize: number,
  batchSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<EvalResult> {
  return evaluateObjective(model, data, inputSize, batchSize, classificationEvaluation(), onProgress);
}

/** The first `n` images of a data set, in its order (views, no copy). */
function firstImages(d: ImageDataset, n: number): ImageDataset {
  const size = d.channels * d.height * d.width;
  return { ...d, images: d.images.subarray(0, n * size), labels: d.labels.subarray(0, n), count: n };
}

export function validateConfig(c: TrainConfig, trainCount: number): void {
  const bad = (opt: string, why: string) => {
    throw new ConfigError(`--${opt} ${why}`);
  };
  if (!(Number.isInteger(c.epochs) && c.epochs > 0)) bad('epochs', `must be a positive integer (got ${c.epochs})`);
  if (!(Number.isInteger(c.batchSize) && c.batchSize > 0)) bad('batch', `must be a positive integer (got ${c.batchSize})`);
  if (c.batchSize > trainCount) bad('batch', `${c.batchSize} is larger than the training data (${trainCount} images)`);
  if (c.microBatch !== undefined && !(Number.isInteger(c.microBatch) && c.microBatch > 0)) bad('micro-batch', `must be a positive integer (got ${c.microBatch})`);
  if (!(c.lr > 0 && Number.isFinite(c.lr))) bad('lr', `must be > 0 (got ${c.lr})`);
  if (!(c.minLr >= 0 && c.minLr <= c.lr)) bad('min-lr', `must be in [0, lr] (got ${c.minLr})`);
  if (!(c.warmupEpochs >= 0)) bad('warmup-epochs', `must be ≥ 0 (got ${c.warmupEpochs})`);
  if (!(c.labelSmoothing >= 0 && c.labelSmoothing < 1)) bad('label-smoothing', `must be in [0, 1) (got ${c.labelSmoothing})`);
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) bad('ema', `decay must be in [0, 1) (got ${c.emaDecay})`);
  if (!(c.clipGradNorm >= 0)) bad('clip-grad', `must be ≥ 0 (got ${c.clipGradNorm})`);
  if (!Number.isSafeInteger(c.seed)) bad('seed', `must be an integer (got ${c.seed})`);
  if (c.trainImages !== undefined && !(Number.isInteger(c.trainImages) && c.trainImages >= c.batchSize && c.trainImages <= trainCount))
    throw new ConfigError(`trainImages must be an integer from the batch size (${c.batchSize}) to the ${trainCount} training images (got ${c.trainImages})`);
  if (c.multiScale !== undefined) {
    const m = c.multiScale;
    if (!Array.isArray(m) || m.length < 2 || !m.every((r) => Number.isInteger(r) && r > 0) || new Set(m).size !== m.length)
      bad('multi-scale', `must be two or more distinct positive integers (got ${JSON.stringify(m)})`);
  }
}

export class Trainer<T = ClassTargets> {
  readonly batches: TrainBatches;
  private rng: Rng;
  private epoch = 0;
  private metricsCount = 0;
  private bestTestAcc = 0;
  private elapsed = 0;
  private epochSums = currentSums(undefined);
  /** Step of the last checkpoint written or resumed from (null: none yet), for error messages. */
  private lastCheckpointStep: number | null = null;
  private constructor(
    readonly model: VisionModel,
    readonly config: TrainConfig,
    batches: TrainBatches,
    readonly testData: EvalData | null,
    readonly step: TrainStep<T>,
    private readonly io: TrainerIO,
    private readonly task: TrainingTask<T>,
  ) {
    this.batches = batches;
    this.rng = new Rng(config.seed ^ 0x5eed);
  }

  static async create<T = ClassTargets>(
    model: VisionModel,
    config: TrainConfig,
    trainData: ImageDataset | TrainBatches,
    testData: EvalData | null,
    io: TrainerIO,
    task?: TrainingTask<T>,
  ): Promise<Trainer<T>> {
    validateConfig(config, trainData.count);
    if (config.trainImages !== undefined) {
      if ('next' in trainData) throw new ConfigError('trainImages: only array data sets (Fashion-MNIST) can be cut to their first images, not image folders');
      trainData = firstImages(trainData, config.trainImages);
    }
    const t = (task ?? classificationTask(config.labelSmoothing)) as TrainingTask<T>;
    model.train();
    const c = model.defaultInputSize[0];
    const batches =
      'next' in trainData
        ? trainData
        : new ArrayBatches(trainData, { batchSize: config.batchSize, seed: config.seed, inputSize: config.inputSize, cropPad: config.cropPad, channels: c, multiScale: config.multiScale });
    const t0 = io.now();
    const step = await TrainStep.compile(
      model,
      t.objective,
      {
        optimizer: makeOptimizer(config.optimizer),
        batchShape: [config.batchSize, c, config.inputSize, config.inputSize],
        clipGradNorm: config.clipGradNorm,
        emaDecay: config.emaDecay > 0 ? config.emaDecay : undefined,
        decayAll: config.decayAll,
        lrScales: config.layerDecay ? layerDecayScales(model, config.layerDecay.decay, config.layerDecay.mode) : undefined,
        frozen: config.freezeBackbone ? backboneKeys(model) : undefined,
        microBatch: config.microBatch,
        target: io.target,
        nchwcBlock: io.nchwcBlock,
        keepStateOnDevice: io.keepStateOnDevice,
      },
      io.createSession,
    );
    const trainer = new Trainer(model, config, batches, testData, step, io, t);
    trainer.firstCompileSeconds = (io.now() - t0) / 1000;
    return trainer;
  }

  /** Seconds the first batch shape's train step took to build and compile (reported when the run starts). */
  private firstCompileSeconds = 0;

  /** Every epoch done. */
  get finished(): boolean {
    return this.epoch >= this.config.epochs;
  }

  get totalSteps(): number {
    return this.config.epochs * this.batches.stepsPerEpoch;
  }

  /**
   * Cosine schedule with linear warmup, by optimisation step — or, when the batch size varies
   * (multi-scale), by images seen, so that every image moves the schedule equally.
   */
  lrAt(step: number): number {
    const c = this.config;
    const warmupStartLr = c.warmupLr ?? 0;
    if (this.batches.multiScale) {
      const n = this.batches.count;
      // Warm-up given in steps is converted at the base batch size.
      const warmupImages = c.warmupSteps !== undefined ? c.warmupSteps * c.batchSize : Math.round(c.warmupEpochs * n);
      return cosineLr({ baseLr: c.lr, minLr: c.minLr, totalSteps: c.epochs * n, warmupSteps: warmupImages, warmupStartLr }, this.batches.imagesSeen());
    }
    const spe = this.batches.stepsPerEpoch;
    const warmupSteps = c.warmupSteps ?? Math.round(c.warmupEpochs * spe);
    return cosineLr({ baseLr: c.lr, minLr: c.minLr, totalSteps: this.totalSteps, warmupSteps, warmupStartLr }, step);
  }

  /** Continue from a checkpoint: weights, optimizer/EMA state, RNG, sampler and counters. */
  restore(ckpt: Checkpoint): void {
    this.step.setState(ckpt.train);
    this.batches.restore(ckpt.meta.sampler);
    this.rng = Rng.fromState(ckpt.meta.rng);
    this.epoch = ckpt.meta.epoch;
    this.metricsCount = ckpt.meta.metricsCount;
    this.bestTestAcc = ckpt.meta.bestTestAcc;
    this.elapsed = ckpt.meta.elapsed;
    this.epochSums = currentSums(ckpt.meta.epochSums);
    this.lastCheckpointStep = ckpt.train.step;
  }


  private checkpoint(): Checkpoint {
    return {
      train: this.step.getState(),
      meta: {
        format: 'visionmix-checkpoint/1',
        epoch: this.epoch,
        sampler: this.batches.state(),
        rng: this.rng.getState(),
        metricsCount: this.metricsCount,
        bestTestAcc: this.bestTestAcc,
        elapsed: this.elapsed,
        epochSums: { loss: this.epochSums.loss, metrics: { ...this.epochSums.metrics }, seen: this.epochSums.seen },
      },
    };
  }

  private record(r: MetricsRecord): void {
    this.io.writeMetrics(r);
    this.metricsCount++;
  }

  private async save(onEvent?: (e: TrainerEvent) => void): Promise<void> {
    await this.step.toHost();
    await this.io.saveCheckpoint(this.checkpoint());
    this.lastCheckpointStep = this.step.stepCount;
    onEvent?.({ type: 'checkpoint', step: this.step.stepCount });
  }

  /**
   * Train until `config.epochs` (or `stopAfterSteps` more steps, for tests); returns the final eval.
   * When `signal` is aborted (Ctrl-C), the step in flight finishes, a checkpoint is written, and an
   * InterruptedError says where to resume.
   */
  async run(onEvent?: (e: TrainerEvent) => void, stopAfterSteps = Infinity, signal?: AbortSignal): Promise<EvalResult | null> {
    const c = this.config;
    const spe = this.batches.stepsPerEpoch;
    onEvent?.({ type: 'start', step: this.step.stepCount, totalSteps: this.totalSteps, stepsPerEpoch: spe, epoch: this.epoch, epochs: c.epochs, batchSize: c.batchSize, multiScale: this.batches.multiScale });
    let last: EvalResult | null = null;
    let stepsThisRun = 0;
    // Every compile of this process is reported (multi-scale: one per side, each once).
    onEvent?.({ type: 'compile', shape: this.step.compiledShapes[0]!, seconds: this.firstCompileSeconds });
    const stopIfAsked = async () => {
      if (!signal?.aborted) return;
      if (this.lastCheckpointStep !== this.step.stepCount) await this.save(onEvent);
      throw new InterruptedError(`interrupted after step ${this.step.stepCount}; a checkpoint of that step was written`, this.step.stepCount);
    };
    while (this.epoch < c.epochs) {
      // Optimisation steps until the sampler moves to the next epoch.
      while (this.batches.epoch === this.epoch) {
        if (stepsThisRun >= stopAfterSteps) return last;
        await stopIfAsked();
        const t0 = this.io.now();
        const stepNo = this.step.stepCount;
        const lr = this.lrAt(stepNo);
        const batch = await this.batches.next(this.rng);
        const compiled = this.step.compiledShapes.length;
        const res = await this.step.step(batch.x as Tensor, this.task.targets(batch), lr, this.rng);
        if (this.step.compiledShapes.length > compiled) {
          const shape = this.step.compiledShapes[compiled]!;
          onEvent?.({ type: 'compile', shape, seconds: (this.io.now() - t0) / 1000 });
        }
        if (!Number.isFinite(res.loss))
          throw new TrainingError(
            `non-finite loss (${res.loss}) at step ${stepNo + 1} (epoch ${this.epoch + 1}); weights were not updated and ` +
              (this.lastCheckpointStep === null
                ? 'no checkpoint had been written yet.'
                : `the last good checkpoint (step ${this.lastCheckpointStep}) is kept.`) +
              ' Try a lower --lr or --clip-grad.',
            stepNo + 1,
          );
        const dt = (this.io.now() - t0) / 1000;
        this.elapsed += dt;
        stepsThisRun++;
        const size = batch.labels.length;
        const acc = res.metrics.acc ?? NaN;
        this.epochSums.loss += res.loss * size;
        for (const [k, v] of Object.entries(res.metrics)) this.epochSums.metrics[k] = (this.epochSums.metrics[k] ?? 0) + v * size;
        this.epochSums.seen += size;
        const extra: MetricsRecord = {};
        for (const [k, v] of Object.entries(res.metrics)) if (k !== 'acc') extra[k] = v;
        if (this.batches.multiScale) (extra.size = batch.side), (extra.batch = size);
        this.record({ step: stepNo + 1, epoch: this.epoch + 1, loss: res.loss, ...(Number.isNaN(acc) ? {} : { acc }), lr, grad_norm: res.gradNorm, img_s: size / dt, ...extra });
        onEvent?.({ type: 'step', step: stepNo + 1, epoch: this.epoch, loss: res.loss, acc, lr, imgPerSec: size / dt });
        if (c.checkpointEvery > 0 && (stepNo + 1) % c.checkpointEvery === 0 && this.batches.epoch === this.epoch)
          await this.save(onEvent);
      }
      // End of epoch: evaluate (raw weights, and EMA weights if kept), then checkpoint.
      await stopIfAsked();
      const sums = this.epochSums;
      const record: MetricsRecord = {
        epoch: this.epoch + 1,
        step: this.step.stepCount,
        train_loss: sums.seen ? sums.loss / sums.seen : NaN,
        // The objective's metrics, averaged over the epoch's images (classification: train_acc).
        ...Object.fromEntries(Object.entries(sums.metrics).map(([k, v]) => [`train_${k}`, sums.seen ? v / sums.seen : NaN])),
        lr: this.lrAt(this.step.stepCount),
        elapsed_s: this.elapsed,
      };
      if (this.testData) {
        // The epoch's training is saved before it is evaluated: a bad val image or a crash during
        // evaluation then costs the evaluation only (resume from here evaluates, then goes on).
        if (this.lastCheckpointStep !== this.step.stepCount) await this.save(onEvent);
        await this.step.toHost();
        this.step.syncToModel(false);
        last = await evaluateObjective(this.model, this.testData, c.inputSize, c.evalBatchSize, this.task.evaluation(this.epoch + 1), (done, total) =>
          onEvent?.({ type: 'eval', epoch: this.epoch, done, total }),
        );
        record.test_loss = last.loss;
        for (const [k, v] of Object.entries(last.metrics)) record[`test_${k}`] = v;
        if (c.emaDecay > 0) {
          this.step.syncToModel(true);
          const ema = await evaluateObjective(this.model, this.testData, c.inputSize, c.evalBatchSize, this.task.evaluation());
          record.test_loss_ema = ema.loss;
          for (const [k, v] of Object.entries(ema.metrics)) record[`test_${k}_ema`] = v;
          this.step.syncToModel(false);
        }
        if (!Number.isNaN(last.accuracy)) this.bestTestAcc = Math.max(this.bestTestAcc, last.accuracy);
      }
      this.record(record);
      onEvent?.({ type: 'epoch', record });
      this.epoch++;
      this.epochSums = currentSums(undefined);
      await this.save(onEvent);
    }
    await this.step.toHost();
    this.step.syncToModel(false);
    return last;
  }

  async release(): Promise<void> {
    try {
      await this.batches.close();
    } finally {
      await this.step.release();
    }
  }
}

/** Every parameter but the classifier's (`--freeze-backbone`). */
export function backboneKeys(model: VisionModel): Set<string> {
  const all = model.namedParameters().map(([key]) => key);
  const keys = all.filter((key) => !model.isClassifierKey(key));
  if (keys.length === all.length)
    throw new ConfigError(`--freeze-backbone: ${model.name || model.family} has no classifier parameters to train (num_classes 0?)`);
  return new Set(keys);
}
