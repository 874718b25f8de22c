/**
 * The documents training writes and reads back — the training settings saved in run.json and each
 * checkpoint's metadata — parsed by schemas rather than checked by hand and cast. Valibot: a
 * maintained validator whose schemas tree-shake to a few kB (this code ships to the browser too).
 * A document that does not fit is a DataError naming the file and the field at fault.
 */
import * as v from 'valibot';
import { DataError } from '../errors.js';
import type { CheckpointMeta, TrainConfig } from './trainer.js';

const finite = v.pipe(v.number(), v.finite());
const nonNegative = v.pipe(v.number(), v.finite(), v.minValue(0));
const count = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const positiveInt = v.pipe(v.number(), v.safeInteger(), v.minValue(1));

const OPTIMIZER = v.variant('kind', [
  v.object({
    kind: v.literal('adamw'),
    betas: v.optional(v.tuple([finite, finite])),
    eps: v.optional(nonNegative),
    weightDecay: v.optional(nonNegative),
  }),
  v.object({
    kind: v.literal('sgd'),
    momentum: v.optional(nonNegative),
    nesterov: v.optional(v.boolean()),
    weightDecay: v.optional(nonNegative),
  }),
]);

/** Every training setting (run.json's `train`, completed from the defaults of older versions). */
export const TRAIN_CONFIG = v.object({
  epochs: positiveInt,
  batchSize: positiveInt,
  microBatch: v.optional(positiveInt),
  lr: nonNegative,
  minLr: nonNegative,
  warmupEpochs: nonNegative,
  optimizer: OPTIMIZER,
  labelSmoothing: nonNegative,
  clipGradNorm: nonNegative,
  emaDecay: nonNegative,
  seed: v.pipe(v.number(), v.safeInteger()),
  inputSize: positiveInt,
  cropPad: count,
  checkpointEvery: count,
  evalBatchSize: positiveInt,
  multiScale: v.optional(v.array(positiveInt)),
  warmupLr: v.optional(nonNegative),
  warmupSteps: v.optional(count),
  decayAll: v.optional(v.boolean()),
  layerDecay: v.optional(v.nullable(v.object({ decay: nonNegative, mode: v.picklist(['single', 'group']) }))),
  freezeBackbone: v.optional(v.boolean()),
  trainImages: v.optional(positiveInt),
});

const RNG_STATE = v.object({
  s: v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff))), v.length(4)),
  spare: v.nullable(finite),
});

/** A checkpoint's metadata (what `Trainer.restore` needs besides the tensors). */
export const CHECKPOINT_META = v.object({
  format: v.literal('visionmix-checkpoint/1'),
  epoch: count,
  // EpochSampler: epoch and position; the multi-scale sampler adds the batches drawn.
  sampler: v.object({ epoch: count, position: count, batch: v.optional(count) }),
  rng: RNG_STATE,
  metricsCount: count,
  bestTestAcc: v.pipe(v.number(), v.minValue(0), v.maxValue(1)),
  elapsed: nonNegative,
  epochSums: v.optional(
    v.object({
      loss: v.number(),
      metrics: v.optional(v.record(v.string(), v.number())),
      correct: v.optional(v.number()),
      seen: count,
    }),
  ),
});

/** "`where`: `path.to.field` <problem>" for the first issue (valibot's issue path, dotted). */
function describe(where: string, issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0]!;
  const path = (first.path ?? []).map((p) => String(p.key)).join('.');
  return `${where}: ${path ? `'${path}' ` : ''}${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`;
}

/** Parse `raw` with `schema`, or a DataError naming `where` and the field. */
export function parseDocument<S extends v.GenericSchema>(schema: S, raw: unknown, where: string): v.InferOutput<S> {
  const r = v.safeParse(schema, raw);
  if (!r.success) throw new DataError(describe(where, r.issues));
  return r.output;
}

export function parseTrainConfig(raw: unknown, where: string): TrainConfig {
  return parseDocument(TRAIN_CONFIG, raw, where) as TrainConfig;
}

export function parseCheckpointMeta(raw: unknown, where: string): CheckpointMeta {
  return parseDocument(CHECKPOINT_META, raw, where) as CheckpointMeta;
}
