/**
 * `classify(model, image, { topk })` → `[{ label, score }]`: the classification pipeline shared by
 * the Node and browser entries (each decodes images its own way; this starts from decoded pixels or
 * a ready input tensor). The image goes through the eval transform of the model's pretrained config
 * (or the one given), one forward pass, a softmax, and the top k with ImageNet labels (for a
 * 1000-class head) or the labels given (a training run's class list).
 */
import { imagenetLabels } from '../data/imagenet_labels.js';
import type { PlanarImage } from '../data/resample.js';
import { ConfigError, NumericalError } from '../errors.js';
import type { VisionModel } from '../models/base.js';
import { Tensor } from '../tensor.js';
import { createTransform, transformConfigFromPretrained, type EvalTransformConfig, type ImageTransform } from './transform.js';

export interface ClassifyOptions {
  /** How many classes to return, best first (default 5; at most the class count). */
  topk?: number;
  /** Class labels by index (default: ImageNet-1k's for a 1000-class head, else `class <i>`). */
  labels?: readonly string[];
  /** The input transform (default: the eval transform of the model's pretrained config). */
  transform?: ImageTransform | EvalTransformConfig;
  /** Intra-op threads of the forward pass (default: the runtime's). */
  threads?: number;
}

export interface Classification {
  label: string;
  /** Softmax probability. */
  score: number;
  /** Class index. */
  index: number;
}

/** The labels of a head of `numClasses` classes: the ones given (checked), ImageNet-1k's, or none. */
export function classLabels(numClasses: number, labels?: readonly string[]): readonly string[] | null {
  if (labels !== undefined) {
    if (!Array.isArray(labels) || labels.length !== numClasses || !labels.every((l) => typeof l === 'string'))
      throw new ConfigError(`labels must be ${numClasses} strings (one per class of the model's head), got ${Array.isArray(labels) ? `${labels.length} entries` : typeof labels}`);
    return labels;
  }
  return numClasses === 1000 ? imagenetLabels() : null;
}

/**
 * Softmax over one row of logits, then the `k` best classes. Non-finite logits are a NumericalError
 * (`what` names the input and weights): they are not a prediction.
 */
export function topK(logits: ArrayLike<number>, k: number, labels: readonly string[] | null, what = 'the input'): Classification[] {
  const row = Array.from(logits);
  if (!row.every(Number.isFinite)) throw new NumericalError(`the model produced non-finite outputs for ${what}: the weights are corrupt or diverged (no prediction is made from them)`);
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e
    .map((v, index) => ({ index, label: labels?.[index] ?? `class ${index}`, score: v / sum }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, k);
}

function checkTopk(topk: unknown): number {
  if (topk === undefined) return 5;
  if (typeof topk !== 'number' || !Number.isInteger(topk) || topk < 1) throw new ConfigError(`topk must be an integer ≥ 1, got ${JSON.stringify(topk)}`);
  return topk;
}

function transformOf(model: VisionModel, given: ClassifyOptions['transform']): ImageTransform {
  if (given !== undefined) return typeof given === 'function' ? given : createTransform(given);
  const pc = model.pretrainedConfig;
  if (!pc)
    throw new ConfigError(
      `classify: model ${model.name || model.family} has no pretrained config (input size, crop, interpolation, mean/std); pass { transform } or an input Tensor`,
    );
  return createTransform(transformConfigFromPretrained(pc));
}

/** The top-k classes of one image (decoded RGB pixels, or an input Tensor [1, C, H, W]). */
export async function classify(model: VisionModel, image: PlanarImage | Tensor, opts: ClassifyOptions = {}): Promise<Classification[]> {
  const k = checkTopk(opts.topk);
  if (model.numClasses < 1) throw new ConfigError(`classify: model ${model.name || model.family} has no classifier (numClasses 0)`);
  const labels = classLabels(model.numClasses, opts.labels);
  let x: Tensor;
  if (image instanceof Tensor) {
    if (image.shape.length !== 4 || image.shape[0] !== 1) throw new ConfigError(`classify: an input Tensor must be one image [1, C, H, W], got [${image.shape.join(', ')}]`);
    x = image;
  } else x = await transformOf(model, opts.transform)(image);
  const { logits } = await model.run(x, opts.threads === undefined ? {} : { threads: opts.threads });
  return topK(logits.data as Float32Array, Math.min(k, model.numClasses), labels, `the image (weights of ${model.name || model.family})`);
}
