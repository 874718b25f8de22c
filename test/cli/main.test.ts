/**
 * End-to-end tests of the `visionmix` binary: each test spawns `node bin/visionmix.js …` on the
 * built dist/, as a user would run it, and checks output and exit status. No timing assertions:
 * the bench smoke test only checks that a run completes and reports its ratio.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers.js';

const BIN = join(repoRoot, 'bin', 'visionmix.js');

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Stack frames look like `    at fn (file:line:col)`; typed errors must not print them. */
const STACK_FRAME = /^\s+at /m;

const CONVNEXT_VARIANTS = [
  'convnext_atto', 'convnext_femto', 'convnext_pico', 'convnext_nano', 'convnext_tiny', 'convnext_small',
  'convnext_base', 'convnext_large', 'convnext_xlarge',
  'convnextv2_atto', 'convnextv2_femto', 'convnextv2_pico', 'convnextv2_nano', 'convnextv2_tiny',
  'convnextv2_base', 'convnextv2_large', 'convnextv2_huge',
];

test("models 'convnext*' lists all 17 ConvNeXt variants with params and GMACs", () => {
  const r = cli('models', 'convnext*');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  // Header, rule, then one row per model.
  assert.match(lines[0]!, /^name\s+family\s+params\s+GMACs\s+input\s+hub id$/);
  const names = lines.slice(2).map((l) => l.split(/\s+/)[0]);
  assert.deepEqual([...names].sort(), [...CONVNEXT_VARIANTS].sort());
  const tiny = lines.find((l) => l.startsWith('convnext_tiny '));
  assert.ok(tiny, 'convnext_tiny row');
  const cells = tiny.split(/\s+/);
  assert.deepEqual(cells.slice(0, 5), ['convnext_tiny', 'convnext', '28.59M', '4.46', '3x224x224']);
});

test("models 'cmt*' lists the four CMT variants at their resolutions, with the code-vs-paper note for CMT-S", () => {
  const r = cli('models', 'cmt*');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^name\s+family\s+params\s+GMACs\s+input\s+hub id\s+note$/);
  const row = (name: string) => lines.find((l) => l.startsWith(`${name} `))!.split(/\s+/);
  assert.deepEqual(row('cmt_ti').slice(0, 5), ['cmt_ti', 'cmt', '9.49M', '0.639', '3x160x160']);
  assert.deepEqual(row('cmt_b').slice(0, 5), ['cmt_b', 'cmt', '45.72M', '9.32', '3x256x256']);
  assert.match(lines.find((l) => l.startsWith('cmt_s '))!, /26\.26M\s+4\.03\s+3x224x224\s+the code builds 26\.26M params; the paper says 25\.1M/);
});

test('models --json prints exact counts', () => {
  const r = cli('models', 'convnext_tiny', '--json');
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout) as { name: string; params: number; gmacs: number; inputSize: number[] }[];
  assert.equal(list.length, 1);
  assert.equal(list[0]!.name, 'convnext_tiny');
  assert.equal((list[0]!.params / 1e6).toFixed(2), '28.59');
  assert.equal(list[0]!.gmacs.toPrecision(3), '4.46');
  assert.deepEqual(list[0]!.inputSize, [3, 224, 224]);
});

test("models with a pattern that matches nothing says so and exits 1", () => {
  const r = cli('models', 'nomatch*');
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /no models match 'nomatch\*'/);
});

test('? matches exactly one character', () => {
  const r = cli('models', 'convnextv?_tiny');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^convnextv2_tiny /m);
  assert.doesNotMatch(r.stdout, /^convnext_tiny /m);
});

test('an unknown command exits 2 and lists the commands', () => {
  const r = cli('frobnicate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  assert.match(r.stderr, /models/);
  assert.match(r.stderr, /bench/);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
});

test('--help lists the commands; <command> --help shows its options', () => {
  const r = cli('--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: visionmix <command> \[options\]/);
  assert.match(r.stdout, /^ {2}models\s+\S/m);
  assert.match(r.stdout, /^ {2}bench\s+\S/m);

  const b = cli('bench', '--help');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /Usage: visionmix bench/);
  assert.match(b.stdout, /--model <name>/);
  assert.match(b.stdout, /--threads <int>/);
});

test('--version prints the package version', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const r = cli('--version');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('a bad option is a usage error (exit 2) naming the option', () => {
  const r = cli('bench', '--model', 'convnext_atto', '--batch', '0');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^error: --batch must be >= 1/);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
});

test('a typed error prints `error: <message>` without a stack and exits 1', () => {
  const r = cli('bench', '--model', 'no_such_model', '--iters', '1', '--warmup', '0');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^error: unknown model 'no_such_model'/m);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
});

test('bench smoke run reports latency and the ratio to the GEMM peak; --threads is capped at the cores', () => {
  const r = cli('bench', '--model', 'convnext_atto', '--batch', '1', '--iters', '2', '--warmup', '1', '--size', '64', '--gemm-iters', '1', '--threads', '1000');
  assert.equal(r.status, 0, r.stderr);
  const cores = availableParallelism();
  assert.match(r.stderr, new RegExp(`^warning: --threads 1000 is more than the ${cores} cores of this machine; using ${cores}$`, 'm'));
  assert.match(r.stdout, new RegExp(`batch 1 x 3x64x64, ${cores} threads?`));
  assert.match(r.stdout, /^latency\/img min\s+\d+(\.\d+)? ms$/m);
  assert.match(r.stdout, /^GEMM peak\s+\d+(\.\d+)? GFLOP\/s/m);
  // The figure the command exists for: a positive, finite ratio. Its value is not asserted.
  // Above 1, the line must say why.
  const m = /^ratio to GEMM peak\s+(\S+)(?: \(above 1: .+\))?$/m.exec(r.stdout);
  assert.ok(m, `no ratio line in:\n${r.stdout}`);
  const ratio = Number(m[1]);
  assert.ok(Number.isFinite(ratio) && ratio > 0, `ratio ${m[1]}`);
  if (ratio > 1) assert.match(m[0], /above 1: /);
  assert.match(r.stdout, /^ratio to roofline\s+\d+\.\d+ of \d+\.\d GFLOP\/s \(.+\)$/m);
});
