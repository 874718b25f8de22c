/**
 * Pretrained weight tags (`convnext_atto.d2_in1k`): which weights, and how inputs must be prepared
 * for them — timm's `pretrained_cfg`, kept as data by each family (models/pretrained/<family>.ts).
 */
export type Interpolation = 'bicubic' | 'bilinear';

export interface PretrainedConfig {
  /** `<architecture>.<weights>`, e.g. 'convnext_atto.d2_in1k'. */
  readonly tag: string;
  /** Hugging Face hub repository of the weights. */
  readonly hubId?: string;
  /**
   * Where the authors release the weights when they are not on the hub (a PyTorch checkpoint),
   * downloaded into the same cache as hub files by `pretrained: true` / `--pretrained`.
   */
  readonly url?: string;
  /** The release's file name (as the authors' loader saves it). */
  readonly fileName?: string;
  /** The checkpoint entry holding the weights ('model', 'model_ema', …), when not the default choice. */
  readonly weightsKey?: string;
  /** Classes of the classifier the weights were trained with (0: a feature extractor). */
  readonly numClasses: number;
  /** [C, H, W] the weights were trained at. */
  readonly inputSize: readonly [number, number, number];
  /** [C, H, W] timm evaluates at, when it differs. */
  readonly testInputSize?: readonly [number, number, number];
  /** Resize the shorter side to size / cropPct, then centre-crop `size`. */
  readonly cropPct: number;
  readonly testCropPct?: number;
  /** 'center' (resize + centre crop), 'squash' (resize both sides to the crop size), 'border'. */
  readonly cropMode: 'center' | 'squash' | 'border';
  readonly interpolation: Interpolation;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  /** Licence of the weights (CC-BY-NC-4.0 for ConvNeXt V2: non-commercial). */
  readonly license: string;
  /** Channel order the weights expect (ml-cvnets' MobileViT was trained on BGR); default RGB. */
  readonly channelOrder?: 'RGB' | 'BGR';
}

/**
 * Where a tag's weights come from: its hub repository (`hf:…`) or the authors' release URL, and the
 * checkpoint entry holding them; null when the tag has neither (weights to bring yourself).
 */
export function pretrainedWeights(pc: PretrainedConfig | undefined): { source: string; weightsKey?: string } | null {
  if (pc?.hubId) return { source: `hf:${pc.hubId}` };
  if (pc?.url) return { source: pc.url, ...(pc.weightsKey ? { weightsKey: pc.weightsKey } : {}) };
  return null;
}

/** The architecture part of a tag: 'convnext_atto.d2_in1k' → 'convnext_atto'. */
export function tagArchitecture(tag: string): string {
  const dot = tag.indexOf('.');
  return dot < 0 ? tag : tag.slice(0, dot);
}

/** Licences that forbid commercial use, for a warning when such weights are loaded. */
export function isNonCommercial(license: string): boolean {
  return /(^|-)nc(-|$)|noncommercial|non-commercial/i.test(license);
}
