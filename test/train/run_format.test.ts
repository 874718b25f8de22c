/**
 * Run folders made before ConvNeXt's `patch_size` followed timm (run format 1: no `format` in
 * run.json) trained what `stem_stride` builds now: `train --resume` continues them on that network,
 * accepts their checkpoints (fingerprints taken from the old spelling) and writes run.json back in
 * today's format; eval/predict read them the same way (readRunFolderConfig, test/models/convnext_timm_keys).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { parseSafetensors } from '../../src/io/safetensors_format.js';
import { RUN_FORMAT, resumeJob, runFingerprint, trainJob, type RunConfig } from '../../src/tasks/train.js';

const engine = defaultEngine();
const root = mkdtempSync(join(tmpdir(), 'visionmix-run-format-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** Rewrite a run config as visionmix wrote it before: no format, `patch_size` where it says `stem_stride`. */
function asFormat1(rc: RunConfig): RunConfig {
  const { format: _format, ...rest } = rc;
  const { stem_stride: p, ...model } = rc.model as Record<string, unknown>;
  return { ...rest, model: { ...model, patch_size: p } as unknown as RunConfig['model'] };
}

test('a format-1 run folder with patch_size 2 resumes on the stem_stride 2 network and is rewritten as format 2', async () => {
  const dir = join(root, 'legacy');
  const model = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], stem_stride: 2 };
  const train = { epochs: 1, batchSize: 300, inputSize: 32, checkpointEvery: 2, seed: 3, warmupEpochs: 0.2 };
  await trainJob(engine, { model, data: 'fashion-mnist:bundled', threads: 1, train, out: dir }, { stopAfterSteps: 2 });
  const rc = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunConfig;
  assert.equal(rc.format, RUN_FORMAT, 'new runs record their format');
  // Make it a pre-change folder: run.json and the checkpoint's saved config and fingerprint as then.
  const legacy = asFormat1(rc);
  writeFileSync(join(dir, 'run.json'), JSON.stringify(legacy, null, 2));
  const ckptPath = join(dir, 'checkpoint.safetensors');
  const ckpt = parseSafetensors(readFileSync(ckptPath));
  const identity = JSON.parse(ckpt.metadata.visionmix_run!) as { id: string; fingerprint: string };
  assert.notEqual(runFingerprint(legacy), identity.fingerprint, 'the old spelling has another fingerprint');
  const metadata = { ...ckpt.metadata, config: JSON.stringify(legacy), visionmix_run: JSON.stringify({ ...identity, fingerprint: runFingerprint(legacy) }) };
  await writeSafetensors(ckptPath, ckpt.tensors, metadata); // checksummed again, header and tensors (as visionmix wrote it then)
  rmSync(join(dir, 'checkpoint.prev.safetensors'), { force: true });

  const r = await resumeJob(engine, dir, {}, {});
  assert.ok(r.steps > 2, 'trained on');
  const keys = Object.keys(r.model.stateDict());
  assert.ok(!keys.some((k) => k.startsWith('stages.0.downsample.')), 'the network it trained: no stage-0 downsample');
  assert.deepEqual(r.model.stateDict()['stem.0.weight']!.shape, [8, 1, 2, 2]);
  const after = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunConfig;
  assert.equal(after.format, RUN_FORMAT);
  assert.deepEqual(after.model, model, 'run.json now spells the network stem_stride');
  assert.equal(after.runId, rc.runId);
});
