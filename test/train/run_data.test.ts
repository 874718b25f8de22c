/**
 * A run's image-folder data (issue 20): a folder changed between kill and resume is refused unless
 * accepted (20.4), --out inside --data is refused (20.9), a bad val image costs no training and
 * every skipped image is named (20.10), and the smaller data checks of 20.12.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { ConfigError, DataError } from '../../src/errors.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { resumeJob, trainJob } from '../../src/tasks/train.js';
import type { TrainerEvent } from '../../src/train/trainer.js';
import { tinyFolderArgs, tinyFolderJob, tinyPng, writeImageFolder } from '../fixtures/image_folder.js';
import { runCli, STACK_FRAME } from '../helpers.js';

const engine = defaultEngine();

const root = mkdtempSync(join(tmpdir(), 'visionmix-run-data-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(root, `${counter++}-${name}`);
const escape = (s: string) => s.replace(/[/.\\()[\]]/g, '\\$&');

test('20.4: resume refuses an image folder whose files changed, naming what changed per split and class, unless --accept-data-change', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 8, val: 4 });
  const out = fresh('run');
  await trainJob(engine, { ...tinyFolderJob(data), out }, { stopAfterSteps: 1 });
  // 3 files added to train/a, one renamed in train/b, one removed from val/b.
  for (const k of [20, 21, 22]) copyFileSync(join(data, 'train', 'a', '000.png'), join(data, 'train', 'a', `${k}.png`));
  renameSync(join(data, 'train', 'b', '001.png'), join(data, 'train', 'b', 'x01.png'));
  unlinkSync(join(data, 'val', 'b', '000.png'));
  await assert.rejects(resumeJob(engine, out), (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.match(
      e.message,
      /changed since the run started \(train\/a: 3 files added \(8 → 11\); train\/b: same number of files \(8\) but files renamed, replaced or changed in size; val\/b: 1 file removed \(4 → 3\)\).*pass --accept-data-change/,
    );
    return true;
  });
  assert.equal(MetricsLog.read(join(out, 'metrics.jsonl')).length, 1, 'nothing trained');

  const cli = runCli(['train', '--resume', out]);
  assert.equal(cli.status, 1, cli.stderr);
  assert.match(cli.stderr, /^error: --data .* changed since the run started \(train\/a: 3 files added/m);
  const accepted = runCli(['train', '--resume', out, '--accept-data-change']);
  assert.equal(accepted.status, 0, accepted.stderr);
  assert.match(accepted.stderr, /warning: --data .* changed since the run started .*continuing on the files as they are now \(--accept-data-change\)/);
  const rc = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { dataFiles: Record<string, Record<string, { files: number }>> };
  assert.equal(rc.dataFiles.train!.a!.files, 11, 'run.json records the files now used');

  const help = runCli(['train', '--help']);
  assert.match(help.stdout, /--accept-data-change/);
  const fresh2 = runCli(['train', ...tinyFolderArgs(data), '--out', fresh('x'), '--accept-data-change']);
  assert.equal(fresh2.status, 1);
  assert.match(fresh2.stderr, /--accept-data-change is for --resume/);
});

test('20.9: --out inside --data is refused before anything is written, naming both', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 0 });
  for (const out of [join(data, 'run'), join(data, 'train', 'runs', 'r1'), data]) {
    await assert.rejects(trainJob(engine, { ...tinyFolderJob(data), out }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.ok(e.message.startsWith(`--out ${out} is inside --data ${data}`), e.message);
      return true;
    });
  }
  assert.deepEqual(readdirSync(data), ['train'], 'nothing created in the data folder');
  assert.deepEqual(readdirSync(join(data, 'train')).sort(), ['a', 'b']);
  const r = runCli(['train', ...tinyFolderArgs(data), '--out', join(data, 'run')]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^error: --out ${escape(join(data, 'run'))} is inside --data ${escape(data)}`, 'm'));
  assert.doesNotMatch(r.stderr, STACK_FRAME);
});

test('20.10: a bad val image stops the run only after its epoch is checkpointed; resume evaluates without training again', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 2 });
  const bad = join(data, 'val', 'b', '001.png');
  writeFileSync(bad, 'not an image');
  const out = fresh('run');
  const stepsOf = async (p: Promise<unknown>, events: TrainerEvent[]) => {
    await p;
    return events.filter((e) => e.type === 'step').length;
  };
  await assert.rejects(trainJob(engine, { ...tinyFolderJob(data), train: { ...tinyFolderJob(data).train, checkpointEvery: 0 }, out }), (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.ok(e.message.includes(bad), e.message);
    assert.match(e.message, /evaluation batch 1.*pass --on-bad-image skip/);
    return true;
  });
  const ckpt = await loadCheckpoint(out);
  assert.equal(ckpt.ckpt.train.step, 2, 'the epoch\'s two steps were checkpointed before the evaluation');
  writeFileSync(bad, await tinyPng(1, 1));
  // The repaired image is a changed file (20.4): accepted explicitly.
  const events: TrainerEvent[] = [];
  assert.equal(await stepsOf(resumeJob(engine, out, { onEvent: (e) => events.push(e) }, { acceptDataChange: true }), events), 0, 'no step trained again');
  const epochs = MetricsLog.read(join(out, 'metrics.jsonl')).filter((r) => r.test_acc !== undefined);
  assert.deepEqual(epochs.map((r) => [r.epoch, r.step]), [[1, 2]]);
  assert.ok(existsSync(join(out, 'model.safetensors')));
});

test('20.10: with --on-bad-image skip every skipped image is named, in train and in val', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 2 });
  const badTrain = join(data, 'train', 'a', '002.png');
  const badVal = join(data, 'val', 'a', '000.png');
  writeFileSync(badTrain, 'garbage');
  writeFileSync(badVal, 'garbage');
  const warnings: string[] = [];
  const job = tinyFolderJob(data);
  await trainJob(engine, { ...job, folder: { ...job.folder!, onBadImage: 'skip' }, out: fresh('run') }, { onWarning: (m) => warnings.push(m) });
  for (const bad of [badTrain, badVal]) assert.ok(warnings.some((w) => w.startsWith(`skipped unreadable image ${bad}`)), `${bad} named: ${warnings.join('\n')}`);
});

test('20.12: a bad training image stops the run with the CLI flag to skip it and the epoch counted from 1', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 0 });
  writeFileSync(join(data, 'train', 'b', '003.png'), 'garbage');
  const r = runCli(['train', ...tinyFolderArgs(data), '--out', fresh('run')]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /\(image .*003\.png, epoch 1 batch \d+\); to leave unreadable images out, pass --on-bad-image skip/);
  assert.doesNotMatch(r.stderr, /epoch 0|onError 'skip' to leave/);
});

test('20.11: file and folder names that are not UTF-8 are refused naming their bytes, never reported missing; other files with such names are ignored', async () => {
  const latin1 = (...parts: string[]) => Buffer.from(join(...parts), 'latin1');
  // An image file: train/b/caf\xe9.png (after a run trained on the clean folder, for predict).
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 0 });
  const run = fresh('run');
  await trainJob(engine, { ...tinyFolderJob(data), out: run });
  writeFileSync(latin1(data, 'train', 'a', 'notes-\xe9t\xe9.txt'), 'not an image: ignored');
  copyFileSync(join(data, 'train', 'b', '000.png'), latin1(data, 'train', 'b', 'caf\xe9.png'));
  const refused = (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.match(e.message, /b\/caf\\xe9\.png: the name is not valid UTF-8 \(bytes "caf\\xe9\.png"\)/);
    assert.doesNotMatch(e.message, /ENOENT|not found/);
    return true;
  };
  await assert.rejects(trainJob(engine, { ...tinyFolderJob(data), out: fresh('run') }), refused);
  const predict = runCli(['predict', '--run', run, join(data, 'train', 'b')]);
  assert.equal(predict.status, 1, predict.stderr);
  assert.match(predict.stderr, /^error: .*caf\\xe9\.png: the name is not valid UTF-8/m);

  // A class folder: train/\xe9t\xe9/.
  const data2 = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 0 });
  renameSync(join(data2, 'train', 'b'), latin1(data2, 'train', '\xe9t\xe9'));
  await assert.rejects(trainJob(engine, { ...tinyFolderJob(data2), out: fresh('run') }), (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.match(e.message, /train\/\\xe9t\\xe9: the name is not valid UTF-8/);
    return true;
  });
});

test('20.12: a single class folder is refused; --config num_classes / in_chans that contradict the data are refused', async () => {
  const one = await writeImageFolder(fresh('data'), { classes: ['only'], train: 4, val: 0 });
  await assert.rejects(trainJob(engine, { ...tinyFolderJob(one), out: fresh('run') }), (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.match(e.message, /has 1 class folder \(only\); a classifier needs at least 2 classes/);
    return true;
  });
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 0 });
  const job = tinyFolderJob(data);
  for (const [extra, re] of [
    [{ num_classes: 5 }, /--config num_classes 5 conflicts with --data .*, which has 2 classes/],
    [{ in_chans: 1 }, /--config in_chans 1 conflicts with --data .*, whose images are read with 3 channels/],
  ] as const) {
    const out = fresh('run');
    await assert.rejects(trainJob(engine, { ...job, model: { ...(job.model as Record<string, unknown>), ...extra } as unknown as typeof job.model, out }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, re);
      return true;
    });
    assert.equal(existsSync(out), false, 'nothing written');
  }
  // The data's own values are fine.
  const r = await trainJob(engine, { ...job, model: { ...(job.model as Record<string, unknown>), num_classes: 2, in_chans: 3 } as unknown as typeof job.model, out: fresh('run') }, { stopAfterSteps: 1 });
  assert.equal(r.steps, 1);
});

test('20.12: predict/features take a run folder as --weights; features checks its output before reading any image; a resume that only writes the final model reports the last evaluation', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 2 });
  const run = fresh('run');
  const job = tinyFolderJob(data);
  await trainJob(engine, { ...job, model: 'convnextv2_atto', train: { ...job.train, inputSize: 32 }, out: run });
  const image = join(data, 'val', 'a', '000.png');

  const p = runCli(['predict', '--weights', run, image]);
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stdout, /%\s+(a|b)\n/);
  const out = join(root, `features-${counter++}.safetensors`);
  const f = runCli(['features', '-m', 'convnextv2_atto', '--weights', run, image, '-o', out]);
  assert.equal(f.status, 0, f.stderr);
  assert.ok(existsSync(out));
  const notRun = runCli(['predict', '-m', 'convnextv2_atto', '--weights', data, image]);
  assert.equal(notRun.status, 1);
  assert.match(notRun.stderr, /--weights .* is a folder but not a run folder \(no run\.json\)/);
  assert.doesNotMatch(notRun.stderr, /EISDIR/);

  const bad = runCli(['features', '-m', 'convnextv2_atto', '--weights', run, image, '-o', '/proc/visionmix-x/e.safetensors']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^error: --out \/proc\/visionmix-x\/e\.safetensors: cannot write a file in \/proc\/visionmix-x/m);
  assert.doesNotMatch(bad.stderr, /features|img\/s/, 'no image was processed');

  // The final model lost (killed after the last checkpoint): resume writes it and evaluates nothing.
  rmSync(join(run, 'model.safetensors'));
  const resumed = runCli(['train', '--resume', run]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stdout, /no test set/);
  assert.match(resumed.stdout, /finished 2 steps: test accuracy [\d.]+% \(epoch 1, evaluated before this resume\)/);
});

test('20.12: a lock with garbage content or held by a live unrelated pid is refused with a hint on how to check and remove it', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 0 });
  const run = fresh('run');
  await trainJob(engine, { ...tinyFolderJob(data), out: run }, { stopAfterSteps: 1 });
  const lock = join(run, '.visionmix.lock');
  writeFileSync(lock, 'garbage\n');
  const g = runCli(['train', '--resume', run], { timeoutMs: 60_000 });
  assert.equal(g.status, 1, g.stderr);
  assert.match(g.stderr, new RegExp(`has a lock file ${escape(lock)} that is not a visionmix lock .*delete ${escape(lock)} and try again`));
  writeFileSync(lock, JSON.stringify({ pid: 1, host: (await import('node:os')).hostname(), since: '2020-01-01T00:00:00Z', job: 'train', token: 'x' }));
  const live = runCli(['train', '--resume', run], { timeoutMs: 60_000 });
  assert.equal(live.status, 1, live.stderr);
  assert.match(live.stderr, new RegExp(`in use by another visionmix job \\(pid 1 on .*If pid 1 is not a visionmix job \\(check with: ps -p 1 -o pid,args\\).*delete ${escape(lock)}`));
});

test('20.12: BMP/PPM/PGM files (listed by torchvision, not decodable here) make the folder a DataError naming them, not a run that fails later', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 4, val: 0 });
  writeFileSync(join(data, 'train', 'b', 'x.bmp'), 'BM');
  writeFileSync(join(data, 'train', 'b', 'y.PPM'), 'P6');
  await assert.rejects(trainJob(engine, { ...tinyFolderJob(data), out: fresh('run') }), (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.match(e.message, /train\/b\/x\.bmp and 1 more file\(s\) below .*train\/b: BMP, PPM and PGM images cannot be decoded here/);
    return true;
  });
});

test('20.4: with --accept-data-change, a train split that shrank below the saved position ends that epoch instead of failing', async () => {
  const data = await writeImageFolder(fresh('data'), { classes: ['a', 'b'], train: 8, val: 0 });
  const out = fresh('run');
  const job = tinyFolderJob(data);
  await trainJob(engine, { ...job, train: { ...job.train, epochs: 2 }, out }, { stopAfterSteps: 3 }); // 12 of 16 images used
  for (const k of [0, 1, 2]) for (const c of ['a', 'b']) unlinkSync(join(data, 'train', c, `00${k}.png`)); // 10 left
  const warnings: string[] = [];
  const r = await resumeJob(engine, out, { onWarning: (m) => warnings.push(m) }, { acceptDataChange: true });
  assert.ok(warnings.some((w) => /the train split now has 10 images, fewer than the 12 already used in epoch 1; continuing with epoch 2/.test(w)), warnings.join('\n'));
  assert.equal(r.steps, 3 + 2, 'epoch 2 of 10 images: 2 steps of 4');
});
