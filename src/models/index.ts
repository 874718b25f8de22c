/** The model zoo: every family registers itself on import. */
import { countMacs, countParams } from '../analysis/count.js';
import { ConfigError } from '../errors.js';
import './convnext.js';
import './cmt.js';
import './glnet.js';
import './mobilevit.js';
import type { VisionModel } from './base.js';
import { tagArchitecture } from './pretrained.js';
import { createModel, getModelEntry, matchPattern, modelEntries, pretrainedTags } from './registry.js';
import { traceForward } from './trace.js';

export { createModel };

export interface ModelInfo {
  /** Registry name, or a weight tag when listing pretrained weights. */
  name: string;
  family: string;
  /** Parameters (with the classifier of the variant or tag: 1000 classes for ImageNet-1k). */
  params: number;
  /** Multiply-accumulates (×1e9) of one image at the input size. */
  gmacs: number;
  /** [C, H, W] */
  inputSize: [number, number, number];
  hubId?: string;
  /** Licence of the weights (pretrained tags). */
  license?: string;
  /** The registry's remark on the architecture (e.g. a code-vs-paper difference in the counts). */
  note?: string;
}

export interface ListOptions {
  /** List pretrained weight tags (`convnext_atto.d2_in1k`) instead of architectures. */
  pretrained?: boolean;
}

const infoCache = new Map<string, ModelInfo>();

/** Params and GMACs of a model, counted from its traced graph at batch 1. */
export function modelInfo(model: VisionModel, inputSize = model.pretrainedConfig?.inputSize ?? model.defaultInputSize): ModelInfo {
  const size = [...inputSize] as [number, number, number];
  const g = traceForward(model, [1, ...size]);
  return {
    name: model.name,
    family: model.family,
    params: countParams(g),
    gmacs: countMacs(g) / 1e9,
    inputSize: size,
    hubId: model.pretrainedConfig?.hubId,
    license: model.pretrainedConfig?.license,
  };
}

function cachedInfo(name: string): ModelInfo {
  let info = infoCache.get(name);
  if (!info) {
    const note = getModelEntry(tagArchitecture(name)).note;
    info = { ...modelInfo(createModel(name)), ...(note ? { note } : {}) };
    infoCache.set(name, info);
  }
  return info;
}

/**
 * Registered models (or, with `pretrained: true`, weight tags) whose names match a shell pattern
 * (`*` and `?`), with params and GMACs counted from the traced graph.
 */
export function listModels(pattern = '*', opts: ListOptions = {}): ModelInfo[] {
  if (typeof pattern !== 'string') throw new ConfigError(`listModels: the pattern must be a string such as 'convnext*', got ${JSON.stringify(pattern) ?? String(pattern)}`);
  if (opts.pretrained) {
    return pretrainedTags()
      .filter((t) => matchPattern(pattern, t.tag))
      .map((t) => cachedInfo(t.tag));
  }
  return modelEntries()
    .filter((e) => matchPattern(pattern, e.name))
    .map((e) => cachedInfo(e.name));
}
