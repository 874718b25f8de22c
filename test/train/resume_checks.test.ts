/**
 * Resume continues exactly the run it belongs to, or says why not: a checkpoint of another run is
 * refused (issue 8.4); only --epochs and --threads may be given with --resume (8.5); corrupt
 * checkpoints and weights are detected by their checksum, a corrupt latest checkpoint falls back to
 * the previous one, and non-finite model outputs are errors (8.6); per-epoch train metrics are the
 * same whether or not the epoch was interrupted (8.7).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEngine } from '../../src/index.js';
import { DataError } from '../../src/errors.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { CHECKSUM_KEY, DATA_CHECKSUM_KEY, readSafetensors, SafetensorsFile } from '../../src/io/safetensors.js';
import { serializeSafetensors } from '../../src/io/safetensors_format.js';
import { resumeJob, trainJob, type TrainJobOptions } from '../../src/tasks/train.js';
import { repoRoot, runCli, STACK_FRAME } from '../helpers.js';

const engine = defaultEngine();

const root = mkdtempSync(join(tmpdir(), 'visionmix-resume-checks-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(root, `${counter++}-${name}`);

/** One epoch of 20 steps; checkpoints at steps 4, 8, 12, 16 and the epoch end. */
const TINY: Omit<TrainJobOptions, 'out'> = {
  model: { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], drop_path_rate: 0.1 },
  data: 'fashion-mnist:bundled',
  threads: 1,
  train: { epochs: 1, batchSize: 300, inputSize: 32, checkpointEvery: 4, seed: 5, warmupEpochs: 0.2 },
};

/** Metrics without the wall-clock fields, which differ between any two runs. */
function records(dir: string): Record<string, number | string>[] {
  return MetricsLog.read(join(dir, 'metrics.jsonl')).map(({ img_s: _a, elapsed_s: _b, ...r }) => r);
}
const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { runId: string; train: { epochs: number } };

/** Flip one byte in the tensor data of a safetensors file (the last kilobyte is always data). */
function corrupt(path: string): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - 1000]! ^= 0x5a;
  writeFileSync(path, bytes);
}

let reference: Promise<string> | undefined;
/** The uninterrupted run, trained once for the whole file. */
function uninterrupted(): Promise<string> {
  reference ??= (async () => {
    const dir = fresh('reference');
    await trainJob(engine, { ...TINY, out: dir });
    return dir;
  })();
  return reference;
}

test('8.4: a checkpoint copied in from another run is refused, naming both runs', async () => {
  const a = fresh('a');
  const b = fresh('b');
  const c = fresh('c');
  await trainJob(engine, { ...TINY, out: a }, { stopAfterSteps: 5 });
  await trainJob(engine, { ...TINY, out: b, train: { ...TINY.train, seed: 6 } }, { stopAfterSteps: 5 });
  await trainJob(engine, { ...TINY, out: c }, { stopAfterSteps: 5 }); // same settings as a, another run
  for (const other of [b, c]) {
    copyFileSync(join(other, 'checkpoint.safetensors'), join(a, 'checkpoint.safetensors'));
    await assert.rejects(resumeJob(engine, a), (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.match(e.message, /checkpoint .*checkpoint\.safetensors belongs to another run/);
      assert.ok(e.message.includes(runJson(other).runId), 'names the checkpoint\'s run');
      assert.ok(e.message.includes(runJson(a).runId), "names the folder's run");
      return true;
    });
  }
  assert.equal(records(a).length, 5, 'metrics untouched');
});

test('8.5: --resume rejects other options (even a bad --data), accepts --epochs to train longer, and says when a run is finished', async () => {
  const dir = fresh('finished');
  await trainJob(engine, { ...TINY, out: dir });
  const bad = runCli(['train', '--resume', dir, '--data', 'fashion-mnist:/does/not/exist', '--lr', '1']);
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /^error: --data, --lr cannot be used with --resume: .*only --epochs \(to train longer\), --threads and --accept-data-change may be given/m);

  const done = runCli(['train', '--resume', dir]);
  assert.equal(done.status, 1, done.stderr);
  assert.match(done.stderr, /has already finished: 1\/1 epochs.*give --epochs N with N > 1/);
  assert.doesNotMatch(done.stderr, /epoch 2\/1/);
  assert.doesNotMatch(done.stderr, STACK_FRAME);

  const longer = runCli(['train', '--resume', dir, '--epochs', '2', '--threads', '1']);
  assert.equal(longer.status, 0, longer.stderr);
  assert.match(longer.stderr, /resuming at step 20 \(epoch 2\/2\)/);
  const epochs = records(dir).filter((r) => r.test_acc !== undefined);
  assert.deepEqual(epochs.map((r) => [r.epoch, r.step]), [[1, 20], [2, 40]]);
  assert.equal(runJson(dir).train.epochs, 2, 'run.json records the new length');

  const fewer = runCli(['train', '--resume', dir, '--epochs', '1']);
  assert.equal(fewer.status, 1);
  assert.match(fewer.stderr, /--epochs 1 is fewer than the 2 epochs .* has already trained/);
});

test('8.6: a corrupt latest checkpoint falls back to the previous one (with a warning) and the run still equals the uninterrupted one', async () => {
  const ref = await uninterrupted();
  const dir = fresh('corrupt-latest');
  await trainJob(engine, { ...TINY, out: dir }, { stopAfterSteps: 10 }); // checkpoints at 4 and 8
  corrupt(join(dir, 'checkpoint.safetensors'));
  const warnings: string[] = [];
  await resumeJob(engine, dir, { onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /checkpoint\.safetensors': checksum mismatch.*resuming from the previous checkpoint .*checkpoint\.prev\.safetensors \(step 4\)/);
  assert.deepEqual(records(dir), records(ref));
});

test('8.6: when the latest and the previous checkpoint are both corrupt, resume fails naming both', async () => {
  const dir = fresh('corrupt-both');
  await trainJob(engine, { ...TINY, out: dir }, { stopAfterSteps: 10 });
  corrupt(join(dir, 'checkpoint.safetensors'));
  corrupt(join(dir, 'checkpoint.prev.safetensors'));
  await assert.rejects(resumeJob(engine, dir), (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.match(e.message, /checkpoint\.safetensors': checksum mismatch.*checkpoint\.prev\.safetensors': checksum mismatch/);
    return true;
  });
});

test('8.6: corrupt or non-finite weights make eval and predict fail (exit 1, no stack) instead of printing NaN', async () => {
  const dir = fresh('weights');
  await trainJob(engine, { ...TINY, out: dir });
  const weights = join(dir, 'model.safetensors');
  const samples = join(repoRoot, 'assets', 'samples');
  const image = join(samples, readdirSync(samples).find((f) => f.endsWith('.png'))!);
  const good = readFileSync(weights);

  corrupt(weights);
  for (const args of [['eval', '--run', dir], ['predict', '--run', dir, image]]) {
    const r = runCli(args);
    assert.equal(r.status, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error: safetensors file '${weights.replace(/[/.]/g, '\\$&')}': checksum mismatch`, 'm'));
    assert.doesNotMatch(r.stdout, /NaN/);
  }

  // Weights written by another tool carry no checksum: a NaN in them must still not become a result.
  writeFileSync(weights, good);
  const tensors = await readSafetensors(weights);
  const bias = [...tensors.keys()].find((k) => k.endsWith('head.fc.bias'))!;
  (tensors.get(bias)!.data as Float32Array)[3] = NaN;
  writeFileSync(weights, serializeSafetensors(tensors));
  for (const args of [['eval', '--run', dir], ['predict', '--run', dir, image]]) {
    const r = runCli(args);
    assert.equal(r.status, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^error: .*non-finite/m);
    assert.doesNotMatch(r.stdout, /NaN/);
    assert.doesNotMatch(r.stderr, STACK_FRAME);
  }
});

test('8.7: an epoch interrupted and resumed reports the same train_loss and train_acc as an uninterrupted one', async () => {
  const ref = await uninterrupted();
  const dir = fresh('epoch-sums');
  await trainJob(engine, { ...TINY, out: dir }, { stopAfterSteps: 9 }); // resumes from the step-8 checkpoint
  await resumeJob(engine, dir);
  const epoch = (d: string) => records(d).find((r) => r.test_acc !== undefined)!;
  assert.equal(epoch(dir).train_loss, epoch(ref).train_loss);
  assert.equal(epoch(dir).train_acc, epoch(ref).train_acc);
  assert.deepEqual(records(dir), records(ref));
});

/** Replace `from` by `to` (same length) in the header of a safetensors file, as a hand edit would. */
function editHeader(path: string, from: string, to: string): void {
  assert.equal(from.length, to.length);
  const text = readFileSync(path, 'latin1');
  assert.ok(text.includes(from), `${path} holds ${from}`);
  writeFileSync(path, Buffer.from(text.replace(from, to), 'latin1'));
}

test('20.3: an edited step in the latest checkpoint\'s metadata is a checksum mismatch: resume falls back to the previous checkpoint, never resumes at the edited step', async () => {
  const ref = await uninterrupted();
  const dir = fresh('edited-step');
  await trainJob(engine, { ...TINY, out: dir }, { stopAfterSteps: 10 }); // checkpoints at 4 and 8
  editHeader(join(dir, 'checkpoint.safetensors'), '\\"step\\":8}', '\\"step\\":3}');
  const warnings: string[] = [];
  await resumeJob(engine, dir, { onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /checkpoint\.safetensors': checksum mismatch.*resuming from the previous checkpoint .*\(step 4\)/);
  assert.deepEqual(records(dir), records(ref));

  // Without a previous checkpoint to fall back to, resume refuses.
  const alone = fresh('edited-step-alone');
  await trainJob(engine, { ...TINY, out: alone }, { stopAfterSteps: 5 }); // one checkpoint, at step 4
  editHeader(join(alone, 'checkpoint.safetensors'), '\\"step\\":4}', '\\"step\\":1}');
  await assert.rejects(resumeJob(engine, alone), (e: unknown) => e instanceof DataError && /checksum mismatch.*no previous checkpoint/.test(e.message));
});

test('19.7: a checkpoint whose metadata does not fit its schema (checksum intact) is unusable: resume falls back to the previous one', async () => {
  const ref = await uninterrupted();
  const dir = fresh('bad-meta');
  await trainJob(engine, { ...TINY, out: dir }, { stopAfterSteps: 10 }); // checkpoints at 4 and 8
  // Re-save the latest with a sampler position that is not a count: a version-skew or hand-made file, checksummed.
  const good = await loadCheckpoint(dir);
  copyFileSync(join(dir, 'checkpoint.safetensors'), join(dir, 'checkpoint.keep'));
  const meta = { ...good.ckpt.meta, sampler: { epoch: 0, position: -3 } };
  await saveCheckpoint(dir, { train: good.ckpt.train, meta }, good.runConfig, good.identity ?? undefined);
  copyFileSync(join(dir, 'checkpoint.keep'), join(dir, 'checkpoint.prev.safetensors'));
  const warnings: string[] = [];
  await resumeJob(engine, dir, { onWarning: (m) => warnings.push(m) });
  assert.match(warnings.join('\n'), /'sampler\.position' Invalid value.*resuming from the previous checkpoint/s);
  assert.deepEqual(records(dir), records(ref));
});

test('20.3: a checkpoint of the older format (checksum of the tensors only) is refused with a clear error', async () => {
  const dir = fresh('old-format');
  await trainJob(engine, { ...TINY, out: dir }, { stopAfterSteps: 5 });
  const path = join(dir, 'checkpoint.safetensors');
  const f = await SafetensorsFile.open(path);
  const tensors = await f.readAll();
  const { [CHECKSUM_KEY]: _sum, ...metadata } = f.metadata;
  await f.close();
  writeFileSync(path, serializeSafetensors(tensors, { ...metadata, [DATA_CHECKSUM_KEY]: '0'.repeat(64) }));
  await assert.rejects(resumeJob(engine, dir), (e: unknown) => e instanceof DataError && /written by an older visionmix whose checksum does not cover the checkpoint's metadata/.test(e.message));
});

test('20.5: metrics.jsonl names its run in a header line; with run.json deleted, another run\'s checkpoint is refused instead of merging the histories', async () => {
  const a = fresh('a-no-runjson');
  const b = fresh('b-no-runjson');
  await trainJob(engine, { ...TINY, out: a }, { stopAfterSteps: 5 });
  await trainJob(engine, { ...TINY, out: b }, { stopAfterSteps: 5 }); // same settings, another run
  const idA = runJson(a).runId;
  const idB = runJson(b).runId;
  assert.deepEqual(JSON.parse(readFileSync(join(a, 'metrics.jsonl'), 'utf8').split('\n')[0]!), { run_id: idA });
  assert.equal(records(a).length, 5, 'the header is not a record');
  rmSync(join(a, 'run.json'));
  copyFileSync(join(b, 'checkpoint.safetensors'), join(a, 'checkpoint.safetensors'));
  const before = readFileSync(join(a, 'metrics.jsonl'), 'utf8');
  await assert.rejects(resumeJob(engine, a), (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.match(e.message, new RegExp(`checkpoint .*checkpoint\\.safetensors belongs to run ${idB}, but .*metrics\\.jsonl holds the metrics of run ${idA}`));
    return true;
  });
  assert.equal(readFileSync(join(a, 'metrics.jsonl'), 'utf8'), before, 'metrics untouched');
});

test('20.12: an edited run.json is reported as edited (naming the changed setting), not as "another run" with the same id twice', async () => {
  const dir = fresh('edited-runjson');
  await trainJob(engine, { ...TINY, out: dir }, { stopAfterSteps: 5 });
  const rc = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { runId: string; train: { lr: number } };
  rc.train.lr = 0.5;
  writeFileSync(join(dir, 'run.json'), JSON.stringify(rc));
  await assert.rejects(resumeJob(engine, dir), (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.doesNotMatch(e.message, /another run/);
    assert.match(e.message, new RegExp(`run\\.json does not match the settings run ${rc.runId} was checkpointed with \\(different: train\\.lr\\); was run\\.json edited\\?`));
    assert.equal(e.message.split(rc.runId).length - 1, 1, 'the id is named once');
    return true;
  });
});
