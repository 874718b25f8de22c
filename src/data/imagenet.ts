/** The ImageNet-1k class list (data/imagenet-1k/classes.tsv): index → synset and labels. */
import { DataError } from '../errors.js';

export interface ImageNetClass {
  index: number;
  synset: string;
  /** The first WordNet lemma: the usual short label ('tench'). */
  label: string;
  lemmas: string[];
}

/** Parse classes.tsv (header `index\tsynset\tlemmas`, then 1000 rows in index order). */
export function parseImageNetClasses(text: string, source = 'classes.tsv'): ImageNetClass[] {
  const rows = text.trim().split('\n');
  if (rows[0]?.trim() !== 'index\tsynset\tlemmas') throw new DataError(`${source}: expected the header 'index<TAB>synset<TAB>lemmas'`);
  const out = rows.slice(1).map((row, i) => {
    const [index, synset, lemmas] = row.split('\t');
    if (Number(index) !== i || !synset || !lemmas) throw new DataError(`${source}: line ${i + 2} is not '${i}<TAB>synset<TAB>lemmas'`);
    const list = lemmas.split(',').map((s) => s.trim());
    return { index: i, synset, label: list[0]!, lemmas: list };
  });
  if (out.length !== 1000) throw new DataError(`${source}: ${out.length} classes, expected 1000`);
  return out;
}
