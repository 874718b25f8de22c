/**
 * Repository hygiene that users see (issue 8.10): npm runs without warnings about our config, the
 * install setting and the telemetry switch are documented, and package.json describes what exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listModels } from '../src/index.js';
import { repoRoot } from './helpers.js';

const read = (f: string) => readFileSync(join(repoRoot, f), 'utf8');

test('.npmrc holds no key npm does not know; the install switch is the environment variable, in .ci/run and the README', () => {
  if (existsSync(join(repoRoot, '.npmrc'))) assert.doesNotMatch(read('.npmrc'), /onnxruntime-node-install/);
  assert.match(read('.ci/run'), /^export ONNXRUNTIME_NODE_INSTALL=skip$/m);
  assert.match(read('README.md'), /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
  const npm = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['config', 'get', 'fund'], { cwd: repoRoot, encoding: 'utf8' });
  if (npm.error) return; // no npm on PATH (a bare node): the file checks above still ran
  assert.doesNotMatch(npm.stderr, /Unknown (project|user) config/);
});

test('the README documents the ONNX Runtime telemetry switch', () => {
  assert.match(read('README.md'), /ORT_DISABLE_TELEMETRY=1/);
  assert.match(read('README.md'), /mat-debug/);
});

test("package.json's description names only model families that are registered", () => {
  const { description } = JSON.parse(read('package.json')) as { description: string };
  const families = new Set(listModels().map((m) => m.family));
  const named: [RegExp, string][] = [
    [/ConvNeXt(?! V2)/, 'convnext'],
    [/ConvNeXt V2|V1 and V2/, 'convnextv2'],
    [/MobileViT/i, 'mobilevit'],
    [/\bCMT\b/, 'cmt'],
    [/GLNet/i, 'glnet'],
  ];
  const claimed = named.filter(([re]) => re.test(description)).map(([, family]) => family);
  assert.ok(claimed.length > 0, `the description names no family: ${description}`);
  for (const f of claimed) assert.ok(families.has(f), `description claims ${f}, which is not registered: ${description}`);
});
