/**
 * `createTransform(config | modelName | weightTag)`: the eval transform of pretrained weights as a
 * function from a decoded image to the model's input tensor — timm's resize / centre crop /
 * normalise, with PIL's resampling (data/resample.ts), so results equal timm's to a level.
 */
import { checkTransformConfig, evalResize, evalTransform, type EvalTransformConfig } from '../data/image_transform.js';
import type { PlanarImage } from '../data/resample.js';
import { ConfigError, DataError } from '../errors.js';
import type { PretrainedConfig } from '../models/pretrained.js';
import { getModelEntry, pretrainedConfig } from '../models/registry.js';
import { Tensor } from '../tensor.js';

export type { EvalTransformConfig };

export interface ImageTransform {
  /** The image as the model's input: float32 Tensor [1, 3, H, W]. */
  (img: PlanarImage): Promise<Tensor>;
  /** The resized uint8 image before the crop (as `loadImage` returns images). */
  resize(img: PlanarImage): Promise<PlanarImage>;
  readonly config: EvalTransformConfig;
}

/** The pretrained config of a model name (its default weights) or a weight tag, as a transform config. */
export function transformConfigOf(name: string): EvalTransformConfig {
  const tag = pretrainedConfig(name);
  if (!tag) getModelEntry(name); // an unknown name gets the registry's 'unknown model' error
  if (!tag) throw new ConfigError(`model '${name}' has no pretrained config (input size, crop, interpolation, mean/std); pass a transform config instead`);
  return transformConfigFromPretrained(tag);
}

/** The eval transform a pretrained config describes. */
export function transformConfigFromPretrained(tag: PretrainedConfig): EvalTransformConfig {
  if (tag.cropMode === 'border') throw new ConfigError(`${tag.tag}: crop mode 'border' is not supported (center, squash)`);
  return {
    inputSize: tag.inputSize,
    cropPct: tag.cropPct,
    interpolation: tag.interpolation,
    mean: tag.mean,
    std: tag.std,
    cropMode: tag.cropMode,
    channelOrder: tag.channelOrder,
  };
}

function checkImage(img: PlanarImage): void {
  if (!img || !(img.data instanceof Uint8Array) || img.channels !== 3 || img.data.length !== 3 * img.height * img.width)
    throw new DataError('transform: expected an RGB image as loadImage returns it ({ data: Uint8Array CHW, channels: 3, height, width })');
}

export function createTransform(spec: string | EvalTransformConfig): ImageTransform {
  const config = typeof spec === 'string' ? transformConfigOf(spec) : spec;
  checkTransformConfig(config);
  const [, h, w] = config.inputSize;
  const tf = async (img: PlanarImage): Promise<Tensor> => {
    checkImage(img);
    return new Tensor(evalTransform(img, config), [1, 3, h, w], 'float32');
  };
  tf.resize = async (img: PlanarImage): Promise<PlanarImage> => {
    checkImage(img);
    return evalResize(img, config);
  };
  tf.config = config;
  return tf as ImageTransform;
}
