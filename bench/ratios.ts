import { FCMAE_ROWS } from './cases_training.js';
import { EXPORT_ROWS, GEMM_ROWS } from './cases_export.js';
import type { BenchRow, Section } from './types.js';

/**
 * Same-run time ratios between two rows of one section (same batch), with the goal each should meet:
 * for inference, the ratio the reference implementations show on this machine (ONNX Runtime on their
 * PyTorch exports); for FCMAE, the cost that scaling with the visible patches should save.
 */
export interface Comparison {
  label: string;
  /** Default 'inference'. */
  section?: Section;
  model: string;
  reference: string;
  batch: number;
  goal: number;
  goalSource: string;
  /** Which time the goal is judged by (default 'min', the run's least disturbed reading). */
  by?: 'min' | 'median';
}

export const comparisons: Comparison[] = [
  {
    label: 'CMT-S / ConvNeXt-T time',
    model: 'cmt_s',
    reference: 'convnext_tiny',
    batch: 1,
    goal: 1.46,
    goalSource: 'ONNX Runtime on the PyTorch exports of the reference CMT-S and ConvNeXt-T (224², batch 1, 2 threads)',
  },
  {
    label: 'GLNet-4G / ConvNeXt-T time',
    model: 'glnet_4g',
    reference: 'convnext_tiny',
    batch: 1,
    goal: 1.63,
    goalSource: 'ONNX Runtime on the PyTorch exports of the reference GLNet-4G (uneven pooling as constant MatMuls) and ConvNeXt-T (224², batch 1, 2 threads)',
  },
  {
    // MobileViT is latency-bound (many small ops): its b1 time against a GEMM-bound network's.
    label: 'MobileViT-XXS / ConvNeXt-T time',
    model: 'mobilevit_xxs',
    reference: 'convnext_tiny',
    batch: 1,
    goal: 0.24,
    goalSource: 'ONNX Runtime on the PyTorch exports of the reference MobileViT-XXS (256²) and ConvNeXt-T (224²), batch 1, 2 threads',
  },
  ...([1, 8] as const).flatMap((batch) =>
    (['static', 'dynamic'] as const).map((kind) => ({
      label: `ConvNeXt-T int8 ${kind} / fp32 file time`,
      model: EXPORT_ROWS[kind],
      reference: EXPORT_ROWS.fp32,
      batch,
      goal: 0.5,
      goalSource: 'issue 24 (int8 at least 2× the speed of fp32, on a CPU with AVX-512 VNNI: see the machine\'s int8 dot-product instructions above)',
    })),
  ),
  {
    // The kernel ceiling of the int8 rows above: their GEMMs cannot be faster than this.
    label: 'int8 / fp32 GEMM 2048³ time',
    model: GEMM_ROWS.int8,
    reference: GEMM_ROWS.fp32,
    batch: 1,
    goal: 0.5,
    goalSource: 'issue 24 (2× needs an int8 GEMM at least 2× fp32\'s: VNNI accumulates u8·s8 products in int32; AVX2 sums them pairwise in int16)',
  },
  {
    // FCMAE's sparse encoder (ConvNeXt V2 §3): the pretrain step should cost less the more is masked.
    label: 'FCMAE step mask 0.6 / mask 0',
    section: 'training',
    model: FCMAE_ROWS.masked,
    reference: FCMAE_ROWS.unmasked,
    batch: 32,
    goal: 0.6,
    goalSource: 'issue 14 (a pretrain step whose cost scales with the visible patches; 40% of them are visible at mask 0.6), judged by median time as issue 26 asks',
    by: 'median',
  },
];

/** A comparison evaluated on this run's rows. */
export interface RatioRow extends Comparison {
  ratioMin: number;
  ratioMedian: number;
  by: 'min' | 'median';
  met: boolean;
}

/** The comparisons whose two rows this run has (`--only` may have skipped one). */
export function evaluateComparisons(rows: readonly BenchRow[]): RatioRow[] {
  const find = (section: Section, model: string, batch: number) => rows.find((r) => r.section === section && r.model === model && r.batch === batch);
  return comparisons.flatMap((c) => {
    const section = c.section ?? 'inference';
    const a = find(section, c.model, c.batch);
    const b = find(section, c.reference, c.batch);
    if (!a || !b) return [];
    const ratioMin = a.msPerImageMin / b.msPerImageMin;
    const ratioMedian = a.msPerImageMedian / b.msPerImageMedian;
    const by = c.by ?? 'min';
    return [{ ...c, ratioMin, ratioMedian, by, met: (by === 'median' ? ratioMedian : ratioMin) <= c.goal }];
  });
}
