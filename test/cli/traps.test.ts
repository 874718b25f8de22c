/**
 * CLI paths that used to trap users (issue 25, point 6), each tried as a user would:
 *  - `features` embeds a user's own model: `--run DIR`, or a family with `--config` and `--weights`;
 *  - `demo --out` on a folder holding a run names what works (demo has no --resume);
 *  - `analyze slots --out x.svg` is refused (the mosaic is a PNG); `analyze foo` is an unknown analysis;
 *  - warnings (a non-commercial licence) are plain `warning:` lines, not Node's `(node:pid) [CODE] Warning:`;
 *  - `pretrain` has no --label-smoothing; its closing line names encoder.safetensors and the reconstructions;
 *  - `--epochs 1` with the default 1-epoch warm-up is said, not silent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, loadImage, readSafetensors, writeSafetensors } from '../../src/index.js';
import { createTransform } from '../../src/tasks/transform.js';
import { bundledSampleImages } from '../../src/io/package_root.js';
import { startFakeHub } from '../fixtures/fake_hub.js';
import { repoRoot, runCli, STACK_FRAME } from '../helpers.js';

const root = mkdtempSync(join(tmpdir(), 'vm-traps-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
const sample = bundledSampleImages()[0]!;
const TINY = { depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], patch_size: 1 };

test("analyze: an unknown analysis is named before any missing option; slots' --out must be a .png", () => {
  for (const args of [['analyze', 'foo'], ['analyze', 'foo', '--out', 'x.png'], ['analyze', 'slot', sample]]) {
    const r = runCli(args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`unknown analysis '${args[1]}' for 'visionmix analyze' \\(one of: slots, feature-distance\\)`), r.stderr);
    assert.doesNotMatch(r.stderr, /missing required option/);
  }
  assert.match(runCli(['analyze', 'slot', sample]).stderr, /did you mean slots\?/);
  const svg = join(root, 'slots.svg');
  const r = runCli(['analyze', 'slots', '--model', 'glnet_stl', sample, '--out', svg]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--out must name a \.png file for slots/);
  assert.ok(!existsSync(svg), 'nothing written under the wrong extension');
});

test('demo --out on a folder that holds a run: refused with what works (another --out, or train --resume)', () => {
  const dir = join(root, 'old-run');
  mkdirSync(dir);
  writeFileSync(join(dir, 'run.json'), '{}');
  const r = runCli(['demo', '--epochs', '1', '--steps', '1', '--out', dir]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /already holds a run; the demo starts a new one, so choose another --out \(to train that run further, use visionmix train --resume /);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
});

test('pretrain --help lists no label smoothing, and refuses the flag', () => {
  const help = runCli(['pretrain', '--help']);
  assert.equal(help.status, 0);
  assert.doesNotMatch(help.stdout, /--label-smoothing/);
  const r = runCli(['pretrain', '--label-smoothing', '0.1', '--model', 'convnextv2', '--out', join(root, 'x')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --label-smoothing/);
});

test('a non-commercial licence warning is a plain line on stderr', async () => {
  const file = join(root, 'atto.safetensors');
  await writeSafetensors(file, createModel('convnextv2_atto').stateDict());
  const hub = await startFakeHub({ 'timm/convnextv2_atto.fcmae_ft_in1k': { 'model.safetensors': new Uint8Array(readFileSync(file)) } });
  try {
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [join(repoRoot, 'bin', 'visionmix.js'), 'predict', '-m', 'convnextv2_atto.fcmae_ft_in1k', '--pretrained', '--topk', '1', sample], {
        env: { ...process.env, VISIONMIX_HUB_URL: hub.url, VISIONMIX_CACHE: join(root, 'cache') },
      });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (status) => resolve({ status, stderr }));
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^warning: hf:timm\/convnextv2_atto\.fcmae_ft_in1k: these weights are licensed cc-by-nc-4\.0 — non-commercial use only$/m);
    assert.doesNotMatch(r.stderr, /\(node:\d+\)|\[VISIONMIX\]/);
  } finally {
    await hub.close();
  }
});

test('a 1-epoch run with the default warm-up says so; features --run embeds the run; a family + --config + --weights too', async () => {
  const run = join(root, 'fm');
  const env = { VISIONMIX_TRAIN_IMAGES: '64' };
  const tr = runCli(['train', '--model', 'convnextv2', '--config', JSON.stringify(TINY), '--data', 'fashion-mnist:bundled', '--epochs', '1', '--batch', '32', '--out', run], { env, timeoutMs: 300_000 });
  assert.equal(tr.status, 0, tr.stderr);
  assert.match(tr.stderr, /warning: the warm-up \(--warmup-epochs 1\) lasts the whole run \(--epochs 1\)/);

  const emb = join(root, 'run_emb.safetensors');
  const fr = runCli(['features', '--run', run, sample, bundledSampleImages()[1]!, '-o', emb, '--json']);
  assert.equal(fr.status, 0, fr.stderr);
  assert.deepEqual((JSON.parse(fr.stdout) as { tensors: Record<string, number[]> }).tensors, { pooled: [2, 64] });

  // A family's custom config with its weights: ImageNet preprocessing at --size.
  const weights = join(root, 'tiny.safetensors');
  const rgb = createModel({ family: 'convnextv2', ...TINY, num_classes: 3 }, { seed: 5 });
  await writeSafetensors(weights, rgb.stateDict());
  const out = join(root, 'fam_emb.safetensors');
  const fam = runCli(['features', '-m', 'convnextv2', '--config', JSON.stringify({ ...TINY, num_classes: 3 }), '--weights', weights, '--size', '32', sample, '-o', out]);
  assert.equal(fam.status, 0, fam.stderr);
  const got = (await readSafetensors(out)).get('pooled')!;
  rgb.resetClassifier(0);
  const tf = createTransform({ inputSize: [3, 32, 32], cropPct: 0.875, interpolation: 'bicubic', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  const want = (await rgb.run(await tf(await loadImage(sample)))).logits;
  assert.deepEqual(got.shape, [1, 64]);
  (want.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - (got.data as Float32Array)[i]!) < 1e-5, `feature ${i}`));
  assert.match(runCli(['features', '-m', 'convnextv2', sample, '-o', out]).stderr, /--model convnextv2 is a family: a custom config needs its weights/);
});

test("pretrain's closing line names encoder.safetensors and the reconstruction PNGs", () => {
  const dir = join(root, 'fcmae');
  const r = runCli(
    ['pretrain', '--model', 'convnextv2', '--config', JSON.stringify(TINY), '--patch-size', '8', '--decoder-dim', '16', '--data', 'fashion-mnist:bundled', '--epochs', '1', '--warmup-epochs', '0.5', '--batch', '32', '--out', dir],
    { env: { VISIONMIX_TRAIN_IMAGES: '64' }, timeoutMs: 300_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /encoder\.safetensors/);
  assert.match(r.stdout, /reconstructions_epoch001\.png/);
  assert.doesNotMatch(r.stderr, /warm-up .* lasts the whole run/, 'a warm-up shorter than the run is not warned about');
  for (const f of ['encoder.safetensors', 'reconstructions_epoch001.png']) assert.ok(existsSync(join(dir, f)), f);
});

test("feature-distance legends default to the run's name, not the file name every run shares", async () => {
  const { checkpointLabel } = await import('../../src/cli/cmd_analyze.js');
  const run = join(root, 'runs', 'fcmae-grn');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'run.json'), '{}');
  assert.equal(checkpointLabel(join(run, 'model.safetensors')), 'fcmae-grn');
  assert.equal(checkpointLabel(join(run, 'model_ema.safetensors')), 'fcmae-grn (model_ema)');
  assert.equal(checkpointLabel(join(root, 'loose.safetensors')), 'loose.safetensors', 'a file outside a run keeps its name');
  assert.equal(checkpointLabel('random'), 'random init');
  assert.equal(checkpointLabel('hf:timm/convnextv2_atto.fcmae'), 'timm/convnextv2_atto.fcmae');
});
