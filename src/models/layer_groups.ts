/**
 * Layer groups for layer-wise lr decay, as timm's `group_with_matcher` + `param_groups_layer_decay`:
 * a family's `groupMatcher` maps each parameter key to an ordinal tuple; the distinct tuples in
 * sorted order become layer ids 0..L−1, keys the matcher does not place (the head) sort last, and the
 * head's id L−1 is the one whose lr scale is 1.
 */

export type LayerDecayMode = 'single' | 'group';

/** A parameter key → its ordinal tuple, or null for "after every group" (the head). */
export type GroupMatcher = (key: string) => readonly number[] | null;

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

/** Sorted distinct ordinals → consecutive ids (timm's group_with_matcher); unmatched keys last. */
export function idsFromOrdinals(keys: readonly string[], ordinal: GroupMatcher): LayerIds {
  const byKey = new Map(keys.map((k) => [k, ordinal(k) ?? [Infinity]] as const));
  const distinct = [...new Map([...byKey.values()].map((o) => [o.join(','), o] as const)).values()].sort(compareOrdinals);
  const idOf = new Map(distinct.map((o, i) => [o.join(','), i] as const));
  const ids = new Map(keys.map((k) => [k, idOf.get(byKey.get(k)!.join(','))!] as const));
  return { ids, maxId: distinct.length - 1 };
}

/** Stage depths from `<prefix>.<s>.<blocks.>j.` keys: the largest block index + 1 per stage. */
export function depthsFromKeys(keys: readonly string[], pattern: RegExp): number[] {
  const depths: number[] = [];
  for (const k of keys) {
    const m = pattern.exec(k);
    if (m) depths[Number(m[1])] = Math.max(depths[Number(m[1])] ?? 0, Number(m[2]) + 1);
  }
  return Array.from(depths, (d) => d ?? 0);
}
