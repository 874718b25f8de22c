/**
 * visionmix as a dependency, as a user gets it: `npm pack` (what the tarball holds: dist/, the
 * sources its maps point to, the bundled data; no tests), then `npm install <tarball>` into an empty
 * project with ONNXRUNTIME_NODE_INSTALL=skip (the README's Install line), from npm's cache and the
 * registry only (--prefer-offline; outside CI the test is skipped when the registry cannot be
 * reached), then the installed package classifies a photo through its
 * library entry and its `visionmix` binary, and `visionmix/train` / `visionmix/data` import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, loadImage, writeSafetensors } from '../../src/index.js';
import { createTransform } from '../../src/tasks/transform.js';
import { bundledSampleImages } from '../../src/io/package_root.js';
import { isCI, repoRoot } from '../helpers.js';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npmFound = spawnSync(NPM, ['--version'], { encoding: 'utf8' }).status === 0;

function npm(args: string[], cwd: string) {
  const r = spawnSync(NPM, args, { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (r.error) throw r.error;
  return r;
}

test('npm pack → npm install <tarball> in an empty project → it classifies a photo', { skip: npmFound ? false : 'npm is not on PATH' }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vm-pack-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // dist/ is built by the test runner; the package's prepack script builds it for `npm pack`/`npm publish`.
  const pack = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', root], repoRoot);
  assert.equal(pack.status, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  const files = new Set(info!.files.map((f) => f.path));
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/train_entry.js', 'dist/src/data_entry.js', 'src/index.ts', 'bin/visionmix.js', 'data/imagenet-1k/classes.tsv', 'README.md'])
    assert.ok(files.has(f), `the tarball holds ${f}`);
  assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.startsWith('test/')), 'no tests in the tarball');
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
  };
  assert.match(pkg.scripts.prepack ?? '', /tsc/, 'a fresh clone builds dist/ when packed');
  for (const dep of ['onnxruntime-node', 'onnxruntime-common']) assert.match(pkg.dependencies[dep]!, /^\d+\.\d+\.\d+$/, `${dep} pinned to the tested version`);
  // onnxruntime-web is the browser entry's optional peer (a Node install does not pull its 145 MB); tested at a pinned version.
  assert.equal(pkg.dependencies['onnxruntime-web'], undefined);
  assert.equal(pkg.peerDependenciesMeta['onnxruntime-web']?.optional, true);
  assert.match(pkg.devDependencies['onnxruntime-web']!, /^\d+\.\d+\.\d+$/, 'onnxruntime-web pinned to the tested version');

  const app = join(root, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // npm's cache first; the registry for what it lacks (a fresh project needs the packages' metadata).
  const install = npm(['install', join(root, info!.filename), '--prefer-offline', '--no-audit', '--no-fund'], app);
  if (install.status !== 0 && !isCI() && /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|ENOTCACHED/.test(install.stderr)) {
    t.skip('the npm registry is not reachable from here (outside CI only: CI reaches it, and there this test must pass)');
    return;
  }
  assert.equal(install.status, 0, install.stderr);

  // A photo, classified by the installed package with weights from a file; the same logits as here.
  const weights = join(root, 'atto.safetensors');
  const ref = createModel('convnext_atto', { seed: 7 });
  await writeSafetensors(weights, ref.stateDict());
  const photo = bundledSampleImages()[0]!;
  const want = (await ref.run(await createTransform('convnext_atto')(await loadImage(photo)))).logits;
  writeFileSync(
    join(app, 'classify.mjs'),
    [
      "import { createModel, createTransform, loadImage } from 'visionmix';",
      "import { trainJob } from 'visionmix/train';",
      "import { openImageFolder } from 'visionmix/data';",
      'const [weights, photo] = process.argv.slice(2);',
      "const m = createModel('convnext_atto');",
      'await m.loadWeights(weights);',
      "const { logits } = await m.run(await createTransform('convnext_atto')(await loadImage(photo)));",
      'console.log(JSON.stringify({ logits: Array.from(logits.data), train: typeof trainJob, data: typeof openImageFolder }));',
    ].join('\n'),
  );
  const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
  const run = spawnSync(process.execPath, ['classify.mjs', weights, photo], { cwd: app, encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  const got = JSON.parse(run.stdout) as { logits: number[]; train: string; data: string };
  assert.deepEqual([got.train, got.data], ['function', 'function']);
  assert.equal(got.logits.length, 1000);
  got.logits.forEach((v, i) => assert.ok(Math.abs(v - (want.data as Float32Array)[i]!) < 1e-4, `logit ${i}`));

  const bin = join(app, 'node_modules', '.bin', 'visionmix');
  assert.ok(existsSync(bin), 'the visionmix binary is linked');
  const cli = spawnSync(bin, ['predict', '-m', 'convnext_atto', '--weights', weights, '--topk', '1', '--json', photo], { cwd: app, encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(cli.status, 0, cli.stderr);
  const [p] = JSON.parse(cli.stdout) as { top: { label: string }[] }[];
  assert.ok(p!.top[0]!.label.length > 0, 'an ImageNet label from the bundled class list');
});
