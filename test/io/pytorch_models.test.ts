/**
 * The golden PyTorch checkpoints load into their models through `loadWeights(path)` — the state dict
 * picked from the checkpoint, `module.` stripped, then the family's key adaptation — and the models'
 * outputs equal the golden cases' (ConvNeXt V1/V2, CMT, GLNet, MobileViT); FCMAE's weights equal
 * those loaded from the golden safetensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readSafetensors, type Tensor, type VisionModel } from '../../src/index.js';
import type { Fcmae } from '../../src/tasks/fcmae.js';
import { assertClose, goldenFile } from '../golden.js';
import { PTH, goldenCaseOf, modelFor, pthCases, skip } from './pth_cases.js';

for (const c of pthCases.filter((x) => x.golden && x.family !== 'fcmae')) {
  const what = c.dtype ? `loads strictly (${c.dtype}: outputs not compared)` : "logits equal the golden case's";
  test(`${c.file} → ${c.golden}: ${what}`, { skip }, async (t) => {
    const { family, gc } = goldenCaseOf(c);
    const model = modelFor(c) as VisionModel;
    const r = await model.loadWeights(join(PTH, c.file));
    assert.equal(r.checkpoint?.stateDictKey, c.pick ?? null);
    if (c.dtype) return;
    const io = await readSafetensors(goldenFile(family, gc.files.io!));
    const out = await model.run(io.get('input')!);
    t.diagnostic(assertClose('logits', out.logits, io.get('logits')!, 1e-4, 1e-4));
  });
}

test("loadWeights({ weightsKey: 'model_ema' }) loads the EMA copy of ConvNeXt's training checkpoint", { skip }, async () => {
  const c = pthCases.find((x) => x.file.includes('official_train_ckpt'))!;
  const model = modelFor(c) as VisionModel;
  const r = await model.loadWeights(join(PTH, c.file), { weightsKey: 'model_ema' });
  assert.equal(r.checkpoint?.stateDictKey, 'model_ema');
  assert.deepEqual(r.checkpoint?.candidates, ['model', 'model_ema']);
  const { family, gc } = goldenCaseOf(c);
  const ref = modelFor(c) as VisionModel;
  await ref.loadWeights(goldenFile(family, gc.files.weights!));
  const w = (m: VisionModel) => m.stateDict()['stem.0.weight']!.data as Float32Array;
  w(ref).forEach((v, i) => assert.equal(w(model)[i], v * 0.5));
});

test('the official sparse FCMAE checkpoint loads into FCMAE with the golden weights', { skip }, async () => {
  const c = pthCases.find((x) => x.family === 'fcmae')!;
  const { family, gc } = goldenCaseOf(c);
  const f = modelFor(c) as Fcmae;
  const ref = modelFor(c) as Fcmae;
  await f.loadWeights(join(PTH, c.file));
  await ref.loadWeights(goldenFile(family, gc.files.weights!));
  const a = f.net.stateDict();
  for (const [k, t] of Object.entries(ref.net.stateDict()))
    assert.deepEqual(Array.from(a[k]!.data as ArrayLike<unknown>), Array.from((t as Tensor).data as ArrayLike<unknown>), k);
});
