/**
 * Layer-wise learning-rate decay for fine-tuning: every parameter gets a layer id k, and its lr is
 * scaled by decay^(maxId − k), so the head learns at the full lr and layers nearer the input at
 * geometrically smaller ones. The result is the `lrScales` map `TrainStep` takes (parameters with the
 * same scale and weight decay share one flat optimizer bucket).
 *
 * ConvNeXt / ConvNeXt V2 follow the official ConvNeXt-V2 fine-tuning code exactly
 * (../shared/spec/convnext.md §5.5; written for official key names, mapped here to timm's):
 *  - "single" (num_layers = Σ depths): the stem (`downsample_layers.0`) and stage s's downsampling
 *    get id Σ depths[:s] + 1, i.e. the id of the first block they feed (id 0 is unused); block j of
 *    stage s gets Σ depths[:s] + j + 1; everything else (final norm, head) Σ depths + 1.
 *  - "group" (ConvNeXt-V2 Base/Large, num_layers = 12): stem 0; downsampling of stages 1, 2, 3 → 2, 3,
 *    12; blocks of stage 0 → 1, stage 1 → 2, stage 2 block j → 3 + ⌊j/3⌋, stage 3 → 12; the rest 13.
 *  maxId = num_layers + 1, so the scale is decay^(num_layers + 1 − k).
 *
 * The other families use timm's mechanism (`param_groups_layer_decay` over a `group_matcher`): each
 * parameter maps to an ordinal tuple, the distinct ordinals in sorted order become ids 0..L−1,
 * unmatched parameters (the head) sort last, and maxId = L − 1. "single" is the fine matcher (one id
 * per block), "group" the coarse one (one id per stage):
 *  - MobileViT (timm's ByobNet matcher): `stem` (0); `stages.s.b` (1, s, b) / (1, s); `final_conv`
 *    (1, 99999); head last.
 *  - CMT (not in timm; written in the same style, with the downsampling patch embedding and the
 *    stage's shared relative-position bias in the group of the stage's first block, as timm's
 *    ConvNeXt matcher places `downsample`): `stem_*` (0); `patch_embed_x`, `relative_pos_x` (1, s, 0)
 *    / (1, s); `blocks_x.j` (1, s, j) / (1, s); `_fc`, `_bn` (1, 99999); head last.
 *  - GLNet (official ConvNeXt-style names): `downsample_layers.0` (the stem) (0);
 *    `downsample_layers.s` (1, s, 0) / (1, s); `stages.s.blocks.j` (1, s, j) / (1, s); the final
 *    `norm` and the head last (as ConvNeXt's final norm shares the head's id).
 *
 * Weight decay: which parameters are exempt is the model's own declaration (`Parameter.noWeightDecay`,
 * set by each family to its reference's rule; `TrainStep` reads it): timm's rule of 1-D parameters
 * (biases, norm weights, GRN, LayerScale) for ConvNeXt and CMT (whose 3-D `relative_pos_*` are
 * decayed: its `no_weight_decay()` names only parameters it does not have); GLNet's rule of 1-D or
 * `.bias`/`.gamma` names (its [1,C,1,1] LayerScale gammas exempt, the 0-d `slot_scale` and 3-D
 * `init_slots` decayed). MobileViT's recipe decays everything (TrainStep's `decayAll`).
 * `noWeightDecayKeys` lists them for a report or a check.
 */
import { ConfigError } from '../errors.js';
import type { VisionModel } from '../models/base.js';

export type LayerDecayMode = 'single' | 'group';

export interface LayerIds {
  /** Parameter key → layer id. */
  ids: Map<string, number>;
  /** The id whose scale is 1 (the head's). */
  maxId: number;
}

/** Python tuple order: element-wise, a proper prefix first. */
function compareOrdinals(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length - b.length;
}

/** timm's group_with_matcher + param_groups_layer_decay: sorted distinct ordinals → consecutive ids. */
function idsFromOrdinals(keys: string[], ordinal: (key: string) => number[] | null): LayerIds {
  const byKey = new Map(keys.map((k) => [k, ordinal(k) ?? [Infinity]] as const));
  const distinct = [...new Map([...byKey.values()].map((o) => [o.join(','), o] as const)).values()].sort(compareOrdinals);
  const idOf = new Map(distinct.map((o, i) => [o.join(','), i] as const));
  const ids = new Map(keys.map((k) => [k, idOf.get(byKey.get(k)!.join(','))!] as const));
  return { ids, maxId: distinct.length - 1 };
}

/** Stage depths from `<prefix>.<s>.<blocks.>j.` keys: the largest block index + 1 per stage. */
function depthsFromKeys(keys: string[], pattern: RegExp): number[] {
  const depths: number[] = [];
  for (const k of keys) {
    const m = pattern.exec(k);
    if (m) depths[Number(m[1])] = Math.max(depths[Number(m[1])] ?? 0, Number(m[2]) + 1);
  }
  return Array.from(depths, (d) => d ?? 0);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** ConvNeXt (timm key names) with the official ConvNeXt-V2 layer ids. */
function convnextIds(keys: string[], mode: LayerDecayMode): LayerIds {
  const depths = depthsFromKeys(keys, /^stages\.(\d+)\.blocks\.(\d+)\./);
  const before = (s: number) => sum(depths.slice(0, s));
  if (mode === 'single') {
    const numLayers = sum(depths);
    const id = (key: string): number => {
      if (key.startsWith('stem.')) return 1;
      let m = /^stages\.(\d+)\.downsample\./.exec(key);
      if (m) return before(Number(m[1])) + 1;
      m = /^stages\.(\d+)\.blocks\.(\d+)\./.exec(key);
      if (m) return before(Number(m[1])) + Number(m[2]) + 1;
      return numLayers + 1;
    };
    return { ids: new Map(keys.map((k) => [k, id(k)])), maxId: numLayers + 1 };
  }
  if (depths.length !== 4 || depths[2]! > 27)
    throw new ConfigError(
      `layer decay 'group' is ConvNeXt-V2 Base/Large's 12-layer grouping (4 stages, at most 27 blocks in stage 2); this model has depths [${depths}] — use 'single'`,
    );
  const numLayers = 12;
  const id = (key: string): number => {
    if (key.startsWith('stem.')) return 0;
    let m = /^stages\.(\d+)\.downsample\./.exec(key);
    if (m) return [0, 2, 3, 12][Number(m[1])]!;
    m = /^stages\.(\d+)\.blocks\.(\d+)\./.exec(key);
    if (m) {
      const s = Number(m[1]);
      return s === 2 ? 3 + Math.floor(Number(m[2]) / 3) : [1, 2, 0, 12][s]!;
    }
    return numLayers + 1;
  };
  return { ids: new Map(keys.map((k) => [k, id(k)])), maxId: numLayers + 1 };
}

const STAGE_LETTER: Record<string, number> = { a: 0, b: 1, c: 2, d: 3 };

/** Per family: key → ordinal tuple (fine or coarse), null for the head (sorted last). */
const MATCHERS: Record<string, (key: string, coarse: boolean) => number[] | null> = {
  mobilevit(key, coarse) {
    if (/^stem\./.test(key)) return [0];
    const m = /^stages\.(\d+)\.(\d+)\./.exec(key);
    if (m) return coarse ? [1, Number(m[1])] : [1, Number(m[1]), Number(m[2])];
    if (/^final_conv\./.test(key)) return [1, 99999];
    return null;
  },
  cmt(key, coarse) {
    if (/^stem_/.test(key)) return [0];
    let m = /^(?:patch_embed_|relative_pos_)([a-d])(?:\.|$)/.exec(key);
    if (m) return coarse ? [1, STAGE_LETTER[m[1]!]!] : [1, STAGE_LETTER[m[1]!]!, 0];
    m = /^blocks_([a-d])\.(\d+)\./.exec(key);
    if (m) return coarse ? [1, STAGE_LETTER[m[1]!]!] : [1, STAGE_LETTER[m[1]!]!, Number(m[2])];
    if (/^_(fc|bn)\./.test(key)) return [1, 99999];
    return null;
  },
  glnet(key, coarse) {
    let m = /^downsample_layers\.(\d+)\./.exec(key);
    if (m) {
      const s = Number(m[1]);
      if (s === 0) return [0];
      return coarse ? [1, s] : [1, s, 0];
    }
    m = /^stages\.(\d+)\.blocks\.(\d+)\./.exec(key);
    if (m) return coarse ? [1, Number(m[1])] : [1, Number(m[1]), Number(m[2])];
    return null;
  },
};

/** The layer id of every parameter of `model` (see the file comment for each family's rule). */
export function layerIds(model: VisionModel, mode: LayerDecayMode = 'single'): LayerIds {
  if (mode !== 'single' && mode !== 'group') throw new ConfigError(`layer decay mode must be 'single' or 'group', got ${JSON.stringify(mode)}`);
  const keys = model.namedParameters().map(([k]) => k);
  if (model.family === 'convnext' || model.family === 'convnextv2') return convnextIds(keys, mode);
  const matcher = MATCHERS[model.family];
  if (!matcher)
    throw new ConfigError(
      `layer-wise lr decay has no layer grouping for family '${model.family}' (supported: convnext, convnextv2, ${Object.keys(MATCHERS).join(', ')})`,
    );
  return idsFromOrdinals(keys, (k) => matcher(k, mode === 'group'));
}

/**
 * lr scale per parameter key: decay^(maxId − layer id) (1 for the head). `decay` in (0, 1]; the map
 * goes to `TrainStep`'s `lrScales` option.
 */
export function layerDecayScales(model: VisionModel, decay: number, mode: LayerDecayMode = 'single'): Map<string, number> {
  if (!(typeof decay === 'number' && decay > 0 && decay <= 1))
    throw new ConfigError(`option \`layerDecay\` must be in (0, 1] (e.g. 0.9; 1 = no decay), got ${decay}`);
  const { ids, maxId } = layerIds(model, mode);
  return new Map([...ids].map(([k, id]) => [k, decay ** (maxId - id)]));
}

/** Parameter keys the model exempts from weight decay (`Parameter.noWeightDecay`; see the file comment). */
export function noWeightDecayKeys(model: VisionModel): Set<string> {
  return new Set(model.namedParameters().filter(([, p]) => p.noWeightDecay).map(([k]) => k));
}
