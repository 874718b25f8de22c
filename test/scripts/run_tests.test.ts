/**
 * `npm test` (scripts/run_tests.mjs) runs only tests compiled from the current sources: a stale
 * `*.test.js` left in dist/test by a renamed or deleted test file does not run (issue 8.11).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers.js';

test('a stale test file in dist/test is not run', () => {
  const staleDir = join(repoRoot, 'dist', 'test', 'util');
  const stale = join(staleDir, 'zz_stale_from_a_deleted_source.test.js');
  mkdirSync(staleDir, { recursive: true });
  writeFileSync(stale, "import { test } from 'node:test';\ntest('STALE TEST RAN', () => { throw new Error('stale'); });\n");
  try {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT; // see golden_ci.test.ts
    // --no-build: keep dist/ (and the planted file) as it is; the folder selection is what is tested.
    const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'run_tests.mjs'), '--no-build', 'test/util'], { cwd: repoRoot, encoding: 'utf8', env, timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /STALE TEST RAN/);
    assert.match(r.stdout, /known answers/, 'the current tests of test/util ran');
  } finally {
    rmSync(stale, { force: true });
  }
});

test('a test source that was not compiled is an error, not a silent gap', () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const src = join(repoRoot, 'test', 'util', 'zz_not_compiled.test.ts');
  writeFileSync(src, '// written by test/scripts/run_tests.test.ts\n');
  try {
    const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'run_tests.mjs'), '--no-build', 'test/util'], { cwd: repoRoot, encoding: 'utf8', env, timeout: 120_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not compiled .*\n\s+dist\/test\/util\/zz_not_compiled\.test\.js/);
  } finally {
    rmSync(src, { force: true });
  }
});

test('the run ends with one line naming what was skipped and why (../shared missing: one group, with the paths)', () => {
  const env: NodeJS.ProcessEnv = { ...process.env, VISIONMIX_SHARED: join(repoRoot, 'no-such-shared-folder') };
  delete env.NODE_TEST_CONTEXT;
  delete env.CI;
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'run_tests.mjs'), '--no-build', 'test/models/pretrained.test.ts'], { cwd: repoRoot, encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const last = r.stdout.trimEnd().split('\n').at(-1)!;
  assert.match(last, /^run_tests: 2 tests skipped: 2 need \.\.\/shared data that is missing \(\S*no-such-shared-folder\/data\/pretrained\/timm_pretrained_cfgs\.json; with CI=true they fail instead\)$/);
});
