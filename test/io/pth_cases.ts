/** The golden PyTorch checkpoints (../shared/golden/pth): their cases and the model each was made for. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createModel, defaultEngine, type VisionModel } from '../../src/index.js';
import { createFcmae } from '../../src/tasks/fcmae.js';
import type { GoldenCase } from '../golden.js';
import { goldenDir, goldenSkip, hasGolden } from '../helpers.js';

const engine = defaultEngine();

export const PTH = goldenDir('pth');
/** Skipped (with the reason) without ../shared outside CI; under CI a missing folder fails. */
export const skip = goldenSkip('pth');

export interface PthCase {
  file: string;
  family?: string;
  golden?: string;
  naming?: string;
  pick?: string | null;
  format?: string;
  dtype?: 'fp16' | 'bf16';
  expected?: string;
  malicious?: boolean;
  forbidden_global?: string;
  bad?: boolean;
}

export const pthCases: PthCase[] = hasGolden('pth') ? (JSON.parse(readFileSync(join(PTH, 'cases.json'), 'utf8')) as { cases: PthCase[] }).cases : [];

/** The golden case a pth case was made from ('convnext/convnext_tiny_custom'). */
export function goldenCaseOf(c: PthCase): { family: string; gc: GoldenCase } {
  const [family, name] = c.golden!.split('/') as [string, string];
  const cases = (JSON.parse(readFileSync(join(goldenDir(family), 'cases.json'), 'utf8')) as { cases: GoldenCase[] }).cases;
  const gc = cases.find((x) => x.name === name);
  assert.ok(gc, `golden case ${c.golden}`);
  return { family, gc };
}

/** The model a golden case describes (as the family's golden tests build it). */
export function modelFor(c: PthCase): VisionModel | ReturnType<typeof createFcmae> {
  const { gc } = goldenCaseOf(c);
  const config = gc.config as Record<string, unknown> | undefined;
  switch (c.family) {
    case 'convnext':
    case 'convnextv2': {
      const r = gc.reference as { depths: number[]; dims: number[]; num_classes: number };
      return createModel({ family: c.family, depths: r.depths, dims: r.dims, num_classes: r.num_classes });
    }
    case 'fcmae':
      return createFcmae(engine, { family: 'convnextv2', depths: [1, 1, 2, 1], dims: [16, 32, 64, 128] }, { decoder_embed_dim: 32, patch_size: 32, mask_ratio: 0.6, norm_pix_loss: true });
    case 'cmt':
      return createModel({ family: 'cmt', ...config });
    case 'glnet':
      return createModel({ family: 'glnet', ...config });
    case 'mobilevit': {
      const { cvnets_layer_config: _c, ...rest } = config!;
      return createModel({ family: 'mobilevit', ...rest });
    }
  }
  throw new Error(`no model for family ${c.family}`);
}

