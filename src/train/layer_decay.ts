/**
 * Layer-wise learning-rate decay for fine-tuning: every parameter gets a layer id k, and its lr is
 * scaled by decay^(maxId − k), so the head learns at the full lr and layers nearer the input at
 * geometrically smaller ones. The result is the `lrScales` map `TrainStep` takes (parameters with the
 * same scale and weight decay share one flat optimizer bucket).
 *
 * The layer ids are the model's own metadata (`VisionModel.layerIds`, from its family's
 * `groupMatcher` as timm's `param_groups_layer_decay` numbers them, or the family's reference rule —
 * ConvNeXt's official V2 ids): nothing here knows a family. "single" is the fine grouping (one id per
 * block), "group" the coarse one.
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
import type { LayerDecayMode, LayerIds, VisionModel } from '../models/base.js';

export type { LayerDecayMode, LayerIds };

/** The layer id of every parameter of `model` (its family's grouping; see `VisionModel.layerIds`). */
export function layerIds(model: VisionModel, mode: LayerDecayMode = 'single'): LayerIds {
  if (mode !== 'single' && mode !== 'group') throw new ConfigError(`layer decay mode must be 'single' or 'group', got ${JSON.stringify(mode)}`);
  return model.layerIds(mode);
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
