/**
 * `visionmix convert`: a golden PyTorch checkpoint → timm-named safetensors that loads strictly and
 * gives the same logits as the checkpoint itself; the source's SHA-256 is in the metadata; a
 * malicious file is an error without a stack trace and writes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, readSafetensors, type VisionModel } from '../../src/index.js';
import { goldenFile } from '../golden.js';
import { runCli, STACK_FRAME } from '../helpers.js';
import { PTH, goldenCaseOf, modelFor, pthCases, skip } from '../io/pth_cases.js';

const dir = mkdtempSync(join(tmpdir(), 'visionmix-convert-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const file of ['cmt_tiny_64.official.pth', 'convnext_tiny_custom.official_train_ckpt.pth', 'mobilevit_tiny_64.cvnets.pt']) {
  test(`convert ${file} --model FAMILY --config …: loads strictly, same logits, source sha256 in the metadata`, { skip }, async () => {
    const c = pthCases.find((x) => x.file === file)!;
    const { family, gc } = goldenCaseOf(c);
    const direct = modelFor(c) as VisionModel;
    const ref = gc.reference as { depths: number[]; dims: number[]; num_classes: number } | undefined;
    const config = c.family === 'convnext' ? { depths: ref!.depths, dims: ref!.dims, num_classes: ref!.num_classes } : gc.config;
    const { cvnets_layer_config: _c, ...cfg } = config as Record<string, unknown>;
    const out = join(dir, `${file}.safetensors`);
    const r = runCli(['convert', join(PTH, file), out, '--model', c.family!, '--config', JSON.stringify(cfg)]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`loaded the ${c.pick ? `state dict under '${c.pick}'` : 'bare state dict'}`));

    const f = await SafetensorsFile.open(out);
    assert.equal(f.metadata.source_sha256, createHash('sha256').update(readFileSync(join(PTH, file))).digest('hex'));
    await f.close();

    await direct.loadWeights(join(PTH, file));
    const converted = modelFor(c) as VisionModel;
    await converted.loadWeights(out, { strict: true });
    // Timm names: no adaptation needed, the file's keys are the model's.
    assert.deepEqual([...(await readSafetensors(out)).keys()].sort(), Object.keys(converted.stateDict()).sort());
    const x = (await readSafetensors(goldenFile(family, gc.files.io!))).get('input')!;
    const [a, b] = [await direct.run(x), await converted.run(x)];
    assert.deepEqual(Array.from(b.logits.data as Float32Array), Array.from(a.logits.data as Float32Array));
  });
}

test('convert --weights-key model_ema writes the EMA copy; a malicious file is refused and nothing is written', { skip }, async () => {
  const out = join(dir, 'ema.safetensors');
  const r = runCli(['convert', join(PTH, 'convnext_tiny_custom.official_train_ckpt.pth'), out, '--weights-key', 'model_ema']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /under 'model_ema'; also in the file: 'model'/);
  const ema = await readSafetensors(out);
  const model = await readSafetensors(goldenFile('convnext', 'convnext_tiny_custom.weights_official.safetensors'));
  const w = (m: Map<string, { data: unknown }>) => m.get('downsample_layers.0.0.weight')!.data as Float32Array;
  w(model).forEach((v, i) => assert.equal(w(ema)[i], v * 0.5));

  const bad = join(dir, 'evil.safetensors');
  const e = runCli(['convert', join(PTH, 'evil_os_system.pth'), bad]);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /error: .*refused to load: the pickle refers to the global os\.system/);
  assert.doesNotMatch(e.stderr, STACK_FRAME);
  assert.ok(!existsSync(bad));
});
