/**
 * The hand-off to timm (issue 24.5): `timmHandoff` / `visionmix export-timm` write model.safetensors
 * with exactly the keys and shapes of timm's state dict (checked against the golden weights, which are
 * timm's own), timm's config.json, and a train.sh naming every recipe value of the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, createModel, defaultEngine, readSafetensors } from '../../src/index.js';
import { timmHandoff } from '../../src/tasks/timm_handoff.js';
import { defaultFolderOptions, trainJob } from '../../src/tasks/train.js';
import { goldenFile } from '../golden.js';
import { goldenSkip, runCli, STACK_FRAME } from '../helpers.js';

const engine = defaultEngine();
const root = mkdtempSync(join(tmpdir(), 'vm-timm-handoff-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

const shapes = (sd: Map<string, { shape: readonly number[] }>) =>
  new Map([...sd].map(([k, t]) => [k, JSON.stringify(t.shape)] as const).sort(([a], [b]) => a.localeCompare(b)));

test("the golden ConvNeXt configs' hand-off: model.safetensors has the golden timm state dict's keys and shapes; config.json names the architecture", { skip: goldenSkip('convnext') }, async () => {
  const cases = [
    { model: createModel('convnext_atto'), golden: 'convnext_atto_224.weights.safetensors', architecture: 'convnext_atto', args: {} },
    {
      model: createModel({ family: 'convnextv2', depths: [1, 1, 2, 1], dims: [16, 32, 64, 128], num_classes: 10 }),
      golden: 'convnextv2_tiny_custom.weights.safetensors',
      architecture: 'convnextv2_tiny',
      args: { depths: [1, 1, 2, 1], dims: [16, 32, 64, 128], patch_size: 4, conv_mlp: false, use_grn: true, ls_init_value: null },
    },
  ];
  for (const [i, c] of cases.entries()) {
    const out = join(root, `golden-${i}`);
    await timmHandoff(engine, c.model, out);
    const written = await readSafetensors(join(out, 'model.safetensors'));
    const golden = await readSafetensors(goldenFile('convnext', c.golden));
    assert.deepEqual(shapes(written), shapes(golden), `${c.golden}: keys and shapes`);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.architecture, c.architecture);
    assert.deepEqual(cfg.model_args, c.args);
    assert.equal(cfg.pretrained_cfg.classifier, 'head.fc');
    assert.equal(cfg.pretrained_cfg.first_conv, 'stem.0');
    assert.equal(cfg.num_classes, c.model.numClasses);
    const script = readFileSync(join(out, 'train.sh'), 'utf8');
    assert.match(script, new RegExp(`--model ${c.architecture} `));
  }
});

test('a stem_stride network timm cannot build is refused before anything is written; one it can goes by patch_size', async () => {
  const out = join(root, 'refused');
  await assert.rejects(
    timmHandoff(engine, createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], stem_stride: 2 }), out),
    (e: unknown) => e instanceof ConfigError && /stem_stride 2 is a visionmix extension timm cannot build.*stride-2 downsample to stage 0/.test(e.message),
  );
  assert.ok(!existsSync(out), 'nothing written');
  const ok = join(root, 'stem1');
  const r = await timmHandoff(engine, createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], stem_stride: 1 }), ok);
  assert.equal(r.architecture.modelArgs.patch_size, 1, "stem_stride 1 is timm's patch_size 1");
  await assert.rejects(timmHandoff(engine, createModel({ family: 'convnext', depths: [1, 1, 1], dims: [8, 16, 32] }), join(root, 'three')), /exactly 4 stages/);
});

test('CMT and GLNet go by the official repositories\' model names, with a note that timm lacks them', async () => {
  const cmt = await timmHandoff(engine, createModel('cmt_ti'), join(root, 'cmt'));
  assert.equal(cmt.architecture.architecture, 'cmt_ti');
  assert.deepEqual(cmt.architecture.source, { repo: 'huawei-noah/Efficient-AI-Backbones', file: 'cmt_pytorch/cmt.py' });
  assert.equal(cmt.architecture.modelArgs.img_size, 160, "the factories default to 224: the variant's size is passed");
  const cfg = JSON.parse(readFileSync(join(root, 'cmt', 'config.json'), 'utf8'));
  assert.match(cfg.note, /timm has no cmt/);
  assert.match(readFileSync(join(root, 'cmt', 'train.sh'), 'utf8'), /timm has no cmt: cmt_ti is defined by the official code/);
  const gl = await timmHandoff(engine, createModel('glnet_stl', { num_classes: 7 }), join(root, 'glnet'));
  assert.equal(gl.architecture.architecture, 'glnet_stl');
  assert.equal((gl.architecture.source as { repo: string }).repo, 'rayleizhu/GLMix');
  const mv = await timmHandoff(engine, createModel('mobilevit_xxs'), join(root, 'mvit'));
  assert.equal(mv.architecture.source, 'timm');
});

// ---- a run made with a recipe ---------------------------------------------------------------------------

function writeFolders(out: string): void {
  const script = fileURLToPath(new URL('../../scripts/fashion_mnist_to_folders.js', import.meta.url));
  const r = spawnSync(process.execPath, [script, '--src', 'bundled', '--out', out, '--classes', '0-2', '--limit', '8'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

test("a run with a recipe: train.sh names every recipe value, the weights load back, export-timm writes the same from the CLI", async () => {
  const data = join(root, 'data');
  writeFolders(data);
  const run = join(root, 'run');
  const model = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], patch_size: 2, drop_path_rate: 0.15 };
  await trainJob(engine, {
    model,
    data,
    out: run,
    threads: 1,
    train: {
      epochs: 3,
      batchSize: 8,
      lr: 1.5e-3,
      minLr: 2e-6,
      warmupEpochs: 1,
      warmupLr: 1e-5,
      inputSize: 32,
      seed: 7,
      labelSmoothing: 0.15,
      emaDecay: 0.97,
      clipGradNorm: 3,
      optimizer: { kind: 'adamw', betas: [0.85, 0.995], eps: 1e-7, weightDecay: 0.04 },
      layerDecay: { decay: 0.8, mode: 'single' },
    },
    folder: {
      ...defaultFolderOptions(),
      augment: { ...defaultFolderOptions().augment, autoAugment: 'rand-m9-mstd0.5-inc1', reProb: 0.3, reMode: 'pixel', reCount: 2, scale: [0.35, 1], hflip: 0.4 },
      mixup: { mixupAlpha: 0.7, cutmixAlpha: 0.9, prob: 0.8, switchProb: 0.6, mode: 'pair' },
      cropPct: 0.9,
    },
  });
  const out = join(root, 'handoff');
  const r = await timmHandoff(engine, run, out, { ema: true });
  assert.equal(r.architecture.architecture, 'convnextv2_tiny');
  const script = readFileSync(join(out, 'train.sh'), 'utf8');
  const expected = [
    '--model convnextv2_tiny',
    "'patch_size=2'",
    "'depths=[1,1,1,1]'",
    "'ls_init_value=None'",
    '--num-classes 3',
    '--img-size 32',
    '--crop-pct 0.9',
    '--drop-path 0.15',
    '-b 8',
    '--opt adamw --opt-betas 0.85 0.995 --opt-eps 1e-7 --weight-decay 0.04',
    '--lr 0.0015',
    '--clip-grad 3',
    '--layer-decay 0.8',
    '--sched cosine --sched-on-updates',
    '--epochs 2 --warmup-epochs 1 --warmup-prefix',
    '--warmup-lr 0.00001 --min-lr 0.000002',
    '--smoothing 0.15',
    '--model-ema --model-ema-decay 0.97',
    '--seed 7',
    '--scale 0.35 1',
    '--hflip 0.4',
    '--aa rand-m9-mstd0.5-inc1',
    '--reprob 0.3 --remode pixel --recount 2',
    '--mixup 0.7 --cutmix 0.9 --mixup-prob 0.8 --mixup-switch-prob 0.6 --mixup-mode pair',
    '--initial-checkpoint "$HERE/model.safetensors"',
  ];
  for (const e of expected) assert.ok(script.includes(e), `train.sh names ${e}:\n${script}`);
  assert.match(script, /# 3 epochs in all/);
  assert.match(script, /^torchrun --nproc_per_node=/m);
  const bash = spawnSync('bash', ['-n', join(out, 'train.sh')], { encoding: 'utf8' });
  assert.equal(bash.status, 0, `train.sh is valid bash: ${bash.stderr}`);

  // The weights: the run's EMA weights under timm's keys, timm's patch_size 2 network (stage-0 downsample).
  const written = await readSafetensors(join(out, 'model.safetensors'));
  const ema = await readSafetensors(join(run, 'model_ema.safetensors'));
  assert.deepEqual(shapes(written), shapes(ema));
  assert.deepEqual(written.get('head.fc.weight')!.data, ema.get('head.fc.weight')!.data, 'the EMA weights');
  assert.ok(written.has('stages.0.downsample.1.weight'));
  const back = createModel({ ...model, num_classes: 3 });
  await back.loadWeights(join(out, 'model.safetensors'), { strict: true });
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual(cfg.label_names, ['0_t_shirt_top', '1_trouser', '2_pullover']);
  assert.deepEqual(cfg.pretrained_cfg.input_size, [3, 32, 32]);
  assert.equal(cfg.pretrained_cfg.crop_pct, 0.9);
  assert.deepEqual(cfg.pretrained_cfg.mean, [0.485, 0.456, 0.406]);

  // The CLI: same files; a bad folder is a one-line error.
  const cliOut = join(root, 'cli');
  const c = runCli(['export-timm', '--run', run, '-o', cliOut]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /architecture convnextv2_tiny from timm/);
  assert.equal(readFileSync(join(cliOut, 'train.sh'), 'utf8'), script, 'the same train.sh');
  writeFileSync(join(root, 'afile'), 'x');
  for (const args of [['export-timm', '--run', run, '-o', join(root, 'afile')], ['export-timm', '--run', run, '-o', run], ['export-timm', '--run', join(root, 'nothing'), '-o', join(root, 'x')]]) {
    const bad = runCli(args);
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /^error: /m);
    assert.doesNotMatch(bad.stderr, STACK_FRAME);
  }
});
