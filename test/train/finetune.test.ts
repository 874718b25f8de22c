/**
 * Training on image folders and fine-tuning: the worker-thread loader feeding the trainer (RandAugment,
 * random erasing, Mixup/CutMix soft targets), exact resume, EMA weights evaluated and saved, the
 * classifier replaced for the data's classes (every family), --freeze-backbone, layer decay, recipes,
 * and the refusals that name the option or folder before anything is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel, defaultEngine, readSafetensors } from '../../src/index.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { defaultFolderOptions, resumeJob, trainJob, type TrainJobOptions } from '../../src/tasks/train.js';
import { STACK_FRAME, runCli } from '../helpers.js';

const engine = defaultEngine();

const MODEL = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], stem_stride: 2 };
const CONFIG = JSON.stringify(MODEL);

/** The bundled Fashion-MNIST subset as PNG class folders (train/ and val/), `limit` images per class and split. */
function writeFolders(out: string, classes: string, limit: number): void {
  const script = fileURLToPath(new URL('../../scripts/fashion_mnist_to_folders.js', import.meta.url));
  const r = spawnSync(process.execPath, [script, '--src', 'bundled', '--out', out, '--classes', classes, '--limit', String(limit)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

const root = mkdtempSync(join(tmpdir(), 'vm-finetune-'));
const first5 = join(root, 'fm04');
const last5 = join(root, 'fm59');
writeFolders(first5, '0-4', 24);
writeFolders(last5, '5-9', 24);
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

const stepLosses = (dir: string) =>
  MetricsLog.read(join(dir, 'metrics.jsonl'))
    .filter((r) => r.test_acc === undefined && r.loss !== undefined)
    .map((r) => [r.step, r.loss, r.grad_norm]);

const FULL_RECIPE: Omit<TrainJobOptions, 'out'> = {
  model: MODEL,
  data: first5,
  train: { epochs: 2, batchSize: 16, lr: 2e-3, inputSize: 32, warmupEpochs: 0.5, checkpointEvery: 3, seed: 5, emaDecay: 0.9 },
  folder: {
    ...defaultFolderOptions(),
    augment: { ...defaultFolderOptions().augment, autoAugment: 'rand-m9-mstd0.5-inc1', reProb: 0.25, scale: [0.35, 1] },
    mixup: { mixupAlpha: 0.8, cutmixAlpha: 1.0, prob: 1, switchProb: 0.5, mode: 'batch' },
    cropPct: 1,
  },
  threads: 1,
};

test('image folder: augmented, mixed batches from worker threads; the class list is stored; a resumed run repeats the uninterrupted one exactly', async () => {
  const ref = join(root, 'ref');
  const r = await trainJob(engine, { ...FULL_RECIPE, out: ref });
  // 5 classes × 24 train images, batches of 16: 7 steps per epoch.
  assert.equal(r.steps, 14);
  const run = JSON.parse((await import('node:fs')).readFileSync(join(ref, 'run.json'), 'utf8'));
  assert.deepEqual(run.folder.classes, ['0_t_shirt_top', '1_trouser', '2_pullover', '3_dress', '4_coat']);
  const epochs = MetricsLog.read(join(ref, 'metrics.jsonl')).filter((x) => x.test_acc !== undefined);
  assert.equal(epochs.length, 2);
  assert.ok(epochs.every((e) => typeof e.test_acc_ema === 'number'), 'the EMA weights are evaluated beside the raw ones');
  // Both sets of weights are saved, and they differ.
  const raw = await readSafetensors(join(ref, 'model.safetensors'));
  const ema = await readSafetensors(join(ref, 'model_ema.safetensors'));
  assert.notDeepEqual(raw.get('head.fc.weight')!.data, ema.get('head.fc.weight')!.data);

  const cut = join(root, 'cut');
  await trainJob(engine, { ...FULL_RECIPE, out: cut }, { stopAfterSteps: 4 });
  await resumeJob(engine, cut);
  assert.deepEqual(stepLosses(cut), stepLosses(ref), 'same batches, augmentations and Mixup draws after resume');

  // predict on a folder run: its classes and its eval transform.
  const p = runCli(['predict', '--run', ref, join(first5, 'val', '1_trouser')]);
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stdout, /\d_(t_shirt_top|trouser|pullover|dress|coat)/);
  const ev = runCli(['eval', '--run', ref]);
  assert.equal(ev.status, 0, ev.stderr);
  assert.match(ev.stdout, /test accuracy \d+\.\d+% .*\(120 images\)/);
});

test('finetune: the backbone from the weights, a new classifier for the data; --freeze-backbone keeps every other weight', async () => {
  const src = join(root, 'src');
  await trainJob(engine, { ...FULL_RECIPE, train: { ...FULL_RECIPE.train, epochs: 1, emaDecay: 0 }, folder: defaultFolderOptions(), out: src });
  const before = await readSafetensors(join(src, 'model.safetensors'));
  const out = join(root, 'frozen');
  await trainJob(engine, {
    ...FULL_RECIPE,
    data: last5,
    init: { weights: join(src, 'model.safetensors') },
    train: { ...FULL_RECIPE.train, epochs: 1, emaDecay: 0, freezeBackbone: true, layerDecay: { decay: 0.9, mode: 'single' } },
    out,
  });
  const after = await readSafetensors(join(out, 'model.safetensors'));
  let frozen = 0;
  for (const [k, t] of before) {
    if (k.startsWith('head.fc.')) continue;
    if (k.includes('running_') || k.includes('num_batches')) continue;
    assert.deepEqual(after.get(k)!.data, t.data, `${k} is frozen`);
    frozen++;
  }
  assert.ok(frozen > 20);
  assert.notDeepEqual(after.get('head.fc.weight')!.data, before.get('head.fc.weight')!.data, 'the classifier trains');
});

test('resetClassifier and backbone-only loading work for every family (the classifier of CMT and GLNet is `head`)', async () => {
  for (const name of ['convnextv2_atto', 'mobilevit_xxs', 'cmt_ti', 'glnet_4g']) {
    const source = createModel(name);
    const target = createModel(name, { num_classes: 5 });
    const sd = source.stateDict();
    await target.loadWeights(sd, { backboneOnly: true });
    const got = target.stateDict();
    const head = Object.keys(got).filter((k) => target.isClassifierKey(k));
    assert.ok(head.length >= 2, `${name}: classifier keys ${head}`);
    for (const k of head) assert.equal(got[k]!.shape[0] === 5 || got[k]!.shape.length === 1, true);
    const other = Object.keys(got).find((k) => !target.isClassifierKey(k) && k.endsWith('weight'))!;
    assert.deepEqual(got[other]!.data, sd[other]!.data, `${name}: ${other} loaded`);
    source.resetClassifier(7);
    assert.equal(source.numClasses, 7);
    assert.ok(Object.entries(source.stateDict()).some(([k, t]) => source.isClassifierKey(k) && t.shape[0] === 7), name);
  }
});

test('finetune CLI: recipe + layer decay + Mixup/CutMix end to end; bad options and folders are named before anything is written', () => {
  const src = join(root, 'cli-src');
  const t = runCli(['train', '--model', 'convnextv2', '--config', CONFIG, '--data', first5, '--epochs', '1', '--batch', '16', '--size', '32', '--crop-pct', '1', '--threads', '1', '--out', src], { timeoutMs: 300_000 });
  assert.equal(t.status, 0, t.stderr);
  const ft = join(root, 'cli-ft');
  const f = runCli(
    // No --model: the run folder says which network it trained.
    ['finetune', '--weights', src, '--data', last5, '--recipe', 'convnextv2-ft', '--epochs', '1', '--batch', '16', '--size', '32', '--min-scale', '0.35', '--crop-pct', '1', '--threads', '1', '--out', ft],
    { timeoutMs: 300_000 },
  );
  assert.equal(f.status, 0, f.stderr);
  const rc = JSON.parse(spawnSync('cat', [join(ft, 'run.json')], { encoding: 'utf8' }).stdout);
  // The recipe's values, its lr scaled to the batch (3.2e-3 × 16 / 1024), its layer decay; its warm-up
  // and EMA scaled to this 1-epoch run (40 of 300 epochs → 0.133; EMA lowered so that it can move), and said so.
  assert.equal(rc.train.lr, (3.2e-3 * 16) / 1024);
  assert.deepEqual(rc.train.layerDecay, { decay: 0.9, mode: 'single' });
  assert.equal(rc.train.warmupEpochs, 0.133);
  // 8 steps (120 images, batch 16) are far too few for the recipe's 10k-step average: EMA is turned off.
  assert.equal(rc.train.emaDecay, 0);
  assert.match(f.stderr, /warning: this run \(1 epochs, ~8 steps\) is far shorter than recipe 'convnextv2-ft'.*warm-up 0\.133 epochs \(recipe: 40 of 300\); EMA off/);
  assert.equal(rc.folder.augment.autoAugment, 'rand-m9-mstd0.5-inc1');
  assert.deepEqual(rc.folder.mixup, { mixupAlpha: 0.8, cutmixAlpha: 1, prob: 1, switchProb: 0.5, mode: 'batch' });
  assert.equal(rc.init.weights, join(src, 'model.safetensors'));
  assert.deepEqual(rc.model, { family: 'convnextv2', ...JSON.parse(CONFIG) });
  assert.ok(!existsSync(join(ft, 'model_ema.safetensors')));

  const empty = join(root, 'empty');
  mkdirSync(join(empty, 'a'), { recursive: true });
  mkdirSync(join(empty, 'b'), { recursive: true });
  writeFileSync(join(empty, 'a', 'x.png'), 'not really');
  const noClasses = join(root, 'no-classes');
  mkdirSync(noClasses, { recursive: true });
  const base = ['finetune', '--model', 'convnextv2', '--config', CONFIG, '--weights', src, '--epochs', '1', '--batch', '16'];
  const cases: [string[], RegExp][] = [
    [[...base, '--data', last5, '--aa', 'rand-m99', '--out', join(root, 'x1')], /'rand-m99': magnitude m99 is out of range/],
    [[...base, '--data', last5, '--aa', 'rand-m9-zz3', '--out', join(root, 'x2')], /unknown section 'zz'/],
    [[...base, '--data', last5, '--mixup', '-1', '--out', join(root, 'x3')], /--mixup must be >= 0/],
    [[...base, '--data', last5, '--mixup-prob', '1.5', '--out', join(root, 'x4')], /--mixup-prob must be <= 1/],
    [[...base, '--data', last5, '--recipe', 'nope', '--out', join(root, 'x5')], /--recipe must be one of convnext, convnextv2-ft, deit, mobilevit/],
    [[...base, '--data', last5, '--num-classes', '7', '--out', join(root, 'x6')], /--num-classes 7.*5 class folders/],
    [[...base, '--data', empty, '--out', join(root, 'x7')], /empty\/b holds no images/],
    [[...base, '--data', noClasses, '--out', join(root, 'x8')], /no-classes has no class folders/],
    [[...base, '--data', 'fashion-mnist:bundled', '--recipe', 'deit', '--out', join(root, 'x9')], /--recipe need an image folder/],
    [['finetune', '--model', 'convnextv2', '--config', CONFIG, '--data', last5, '--out', join(root, 'x10')], /--weights SRC or --pretrained is required/],
    [[...base.map((a) => (a === src ? join(root, 'missing') : a)), '--data', last5, '--out', join(root, 'x11')], /--weights .*missing does not exist/],
    [[...base, '--data', last5, '--mixup-mode', 'pair', '--out', join(root, 'x12')], /--mixup-mode needs --mixup or --cutmix/],
    [['finetune', '--weights', join(src, 'model.safetensors'), '--data', last5, '--out', join(root, 'x13')], /--model is required .*unless --weights is a run folder/],
    [['finetune', '--weights', src, '--config', CONFIG, '--data', last5, '--out', join(root, 'x14')], /--config needs --model/],
    [[...base, '--data', last5, '--warmup-epochs', '1', '--out', join(root, 'x15')], /--warmup-epochs 1 ≥ --epochs 1: the whole run would be warm-up/],
    [[...base, '--data', last5, '--recipe', 'deit', '--warmup-epochs', '2', '--out', join(root, 'x16')], /--warmup-epochs 2 ≥ --epochs 1/],
    [[...base, '--weights-key', 'model', '--data', last5, '--out', join(root, 'x17')], /weights key \('model'\) applies to PyTorch checkpoints/],
  ];
  for (const [args, message] of cases) {
    const r = runCli(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, STACK_FRAME);
    assert.ok(!existsSync(args[args.length - 1]!), `${args.join(' ')}: no run folder`);
  }
});
