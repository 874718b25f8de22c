#!/usr/bin/env node
/**
 * `npm test`: compile into a clean dist/ and run exactly the tests compiled from the current
 * sources, test/**\/*.test.ts, one file at a time.
 *
 * Why not `find dist/test -name '*.test.js'`: tsc never deletes outputs, so a test file that was
 * renamed or removed kept running from dist/ (and a module deleted from src/ stayed importable).
 * Cleaning dist/ first removes stale modules; mapping from test/ to dist/ removes stale tests even
 * if someone skips the clean, and a test that did not compile is an error rather than a silent gap.
 *
 *   node scripts/run_tests.mjs                       # everything
 *   node scripts/run_tests.mjs test/train/resume.test.ts test/cli   # some files or folders
 *   node scripts/run_tests.mjs --no-build test/util  # reuse dist/ (quick iteration)
 *
 * The run ends with one line naming what was skipped and why (skip_reporter.mjs collects the skips).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { summariseSkips } from './skip_reporter.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const build = !args.includes('--no-build');
const selected = args.filter((a) => a !== '--no-build');

function testSources(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testSources(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []))
    .sort();
}

// Which sources: all of test/, or the files and folders named on the command line.
const sources = (selected.length ? selected : ['test']).flatMap((p) => {
  const abs = resolve(root, p);
  if (!existsSync(abs)) {
    console.error(`run_tests: ${p} does not exist`);
    process.exit(2);
  }
  return statSync(abs).isDirectory() ? testSources(abs) : [abs];
});
if (sources.length === 0) {
  console.error('run_tests: no test/**/*.test.ts files found');
  process.exit(2);
}

if (build) {
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}

const compiled = sources.map((src) => join(root, 'dist', relative(root, src)).replace(/\.ts$/, '.js'));
const missing = compiled.filter((f) => !existsSync(f));
if (missing.length) {
  console.error(`run_tests: not compiled (is it outside tsconfig's include?):\n  ${missing.map((f) => relative(root, f).split(sep).join('/')).join('\n  ')}`);
  process.exit(1);
}

// ONNX Runtime's bundled telemetry writes an empty /tmp/mat-debug-<pid>.log per process unless
// this is set (see README, "ONNX Runtime telemetry"); the tests that check the CLI sets it unset it.
const env = { ...process.env, ORT_DISABLE_TELEMETRY: process.env.ORT_DISABLE_TELEMETRY ?? '1' };
// The usual reporter on stdout (node's default: spec on a terminal, tap otherwise), and beside it one
// that writes the skipped tests to a file for the summary line.
const skipDir = mkdtempSync(join(tmpdir(), 'vm-skips-'));
const skipLog = join(skipDir, 'skips.jsonl');
const reporters = [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${pathToFileURL(join(root, 'scripts', 'skip_reporter.mjs')).href}`,
  `--test-reporter-destination=${skipLog}`,
];
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...reporters, ...compiled], { stdio: 'inherit', env, cwd: root });
if (existsSync(skipLog)) {
  const lines = readFileSync(skipLog, 'utf8').split('\n').filter(Boolean);
  console.log(summariseSkips(lines.map((l) => JSON.parse(l))));
}
rmSync(skipDir, { recursive: true, force: true });
process.exit(run.status ?? 1);
