/** The model zoo: every family registers itself on import. */
import { countMacs, countParams } from '../analysis/count.js';
import { ConfigError } from '../errors.js';
import './convnext.js';
import type { VisionModel } from './base.js';
import { createModel, matchPattern, modelEntries } from './registry.js';
import { traceForward } from './trace.js';

export { createModel };

export interface ModelInfo {
  name: string;
  family: string;
  /** Parameters (num_classes as registered, 1000 for ImageNet variants). */
  params: number;
  /** Multiply-accumulates (×1e9) of one image at the default input size. */
  gmacs: number;
  /** [C, H, W] */
  inputSize: [number, number, number];
  hubId?: string;
}

const infoCache = new Map<string, ModelInfo>();

/** Params and GMACs of a model, counted from its traced graph at batch 1. */
export function modelInfo(model: VisionModel, inputSize = model.pretrainedConfig?.inputSize ?? model.defaultInputSize): ModelInfo {
  const g = traceForward(model, [1, ...inputSize]);
  return {
    name: model.name,
    family: model.family,
    params: countParams(g),
    gmacs: countMacs(g) / 1e9,
    inputSize,
    hubId: model.pretrainedConfig?.hubId,
  };
}

/** Registered models whose names match a shell pattern (`*` and `?`), with params and GMACs. */
export function listModels(pattern = '*'): ModelInfo[] {
  if (typeof pattern !== 'string') throw new ConfigError(`listModels: pattern must be a string such as 'convnext*' (got ${typeof pattern})`);
  return modelEntries()
    .filter((e) => matchPattern(pattern, e.name))
    .map((e) => {
      let info = infoCache.get(e.name);
      if (!info) {
        info = modelInfo(createModel(e.name));
        infoCache.set(e.name, info);
      }
      return info;
    });
}
