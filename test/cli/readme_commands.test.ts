/**
 * Every command of README.md's CLI block runs as written from a fresh clone: extracted from the
 * README (continuation lines joined, comments dropped) and run in order in an empty folder that sees
 * the repository's `assets/` and `dist/` (what a clone has after `npm run build`), scaled down:
 * `VISIONMIX_TRAIN_IMAGES` cuts Fashion-MNIST epochs to one batch, `--epochs` becomes 1 (2 where the
 * command trains a finished run longer; added where a command leaves the default 10), the folder script keeps 16 images per class, and
 * feature-distance averages over 32 images. `--data fashion-mnist` (Debian's package) becomes
 * `fashion-mnist:bundled` where that package is not installed. Commands that download from the hub,
 * and the benchmark, are skipped with their reason unless VISIONMIX_TEST_HUB / VISIONMIX_TEST_BENCH is 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, STACK_FRAME } from '../helpers.js';

/** The README's CLI commands, one string each. */
export function readmeCommands(readme: string): string[] {
  const at = readme.indexOf('## CLI');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(at >= 0 && block, "README.md has a '## CLI' section with a sh block");
  const joined = block[1]!.replace(/\\\n\s*/g, '');
  return joined
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').trim()) // a comment after the command (JSON configs hold no ' # ')
    .filter((l) => l !== '');
}

const needsHub = (c: string) => /\bhf:/.test(c) || (/--pretrained\b/.test(c) && !/^npx visionmix models\b/.test(c));
const isBench = (c: string) => /^npx visionmix bench\b/.test(c);
const debianFashionMnist = existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') || existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte');

/** The command as this test runs it (see the file comment). */
function scaled(c: string): string {
  let s = c.replace(/^npx visionmix /, `node ${JSON.stringify(join(repoRoot, 'bin', 'visionmix.js'))} `);
  s = /--resume \S+ --epochs \d+/.test(c) ? s.replace(/--epochs \d+/, '--epochs 2') : s.replace(/--epochs \d+/, '--epochs 1');
  // A training command without --epochs (the default 10) runs one.
  if (/^npx visionmix (train|finetune|pretrain) /.test(c) && !/--epochs|--resume/.test(c)) s += ' --epochs 1';
  if (!debianFashionMnist) s = s.replace(/--data fashion-mnist(?=\s|$)/g, '--data fashion-mnist:bundled');
  if (/fashion_mnist_to_folders/.test(c)) s += ' --limit 16';
  if (/analyze feature-distance/.test(c)) s += ' --images 32';
  return s;
}

test('the README lists the commands this test knows how to run', () => {
  const cmds = readmeCommands(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  assert.ok(cmds.length >= 20, `found ${cmds.length} commands`);
  for (const c of cmds) assert.match(c, /^(npx visionmix |node dist\/scripts\/)/, c);
  // No placeholders left: every path a command reads is made by an earlier command or bundled.
  for (const c of cmds) assert.doesNotMatch(c, /…|photos\/|cat\.jpg|\{\.\.\.\}/, c);
});

test("every command in the README's CLI section runs as written (scaled down)", async (t) => {
  const cmds = readmeCommands(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  const cwd = mkdtempSync(join(tmpdir(), 'vm-readme-cli-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  for (const d of ['assets', 'dist']) symlinkSync(join(repoRoot, d), join(cwd, d));
  const env = { ...process.env, VISIONMIX_TRAIN_IMAGES: '128', ORT_DISABLE_TELEMETRY: '1' };
  for (const c of cmds) {
    if (needsHub(c) && process.env.VISIONMIX_TEST_HUB !== '1') {
      t.diagnostic(`skipped (downloads from the Hugging Face hub; VISIONMIX_TEST_HUB=1 runs it): ${c}`);
      continue;
    }
    if (isBench(c) && process.env.VISIONMIX_TEST_BENCH !== '1') {
      t.diagnostic(`skipped (a benchmark, minutes; VISIONMIX_TEST_BENCH=1 runs it): ${c}`);
      continue;
    }
    const r = spawnSync('bash', ['-c', scaled(c)], { cwd, env, encoding: 'utf8', timeout: 600_000 });
    const what = `${c}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
    assert.doesNotMatch(r.stderr, STACK_FRAME, `no stack trace: ${what}`);
    if (/train --resume runs\/fmnist$/.test(c)) {
      // Run after the run finished (this test does not interrupt it): a clear refusal, nothing else.
      assert.match(r.stderr, /has already finished/, what);
      continue;
    }
    assert.equal(r.status, 0, what);
  }
  // What the commands promise to write.
  for (const f of ['runs/fmnist/model.safetensors', 'fmnist_emb.safetensors', 'runs/mvit/model.safetensors', 'fm59/train', 'runs/fm59-ft/model.safetensors', 'runs/fcmae/encoder.safetensors', 'fd.svg', 'slots.png', 'runs/tklb/model.safetensors', 'runs/fcmae2/model.safetensors', 'timm/fm04/train.sh'])
    assert.ok(existsSync(join(cwd, f)), `${f} written`);
  // The fine-tuning recipe keeps its EMA when the run is long enough for it (scaled down here to one
  // epoch, it is lowered or turned off, and run.json says which): its weights are saved when kept.
  const ema = (JSON.parse(readFileSync(join(cwd, 'runs/fm59-ft/run.json'), 'utf8')) as { train: { emaDecay: number } }).train.emaDecay;
  assert.equal(existsSync(join(cwd, 'runs/fm59-ft/model_ema.safetensors')), ema > 0, `model_ema.safetensors written exactly when EMA is kept (emaDecay ${ema})`);
});
