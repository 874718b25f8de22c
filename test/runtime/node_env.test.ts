/**
 * The library, not only the CLI, keeps ONNX Runtime's telemetry from leaving /tmp/mat-debug-<pid>.log
 * behind (issue 20.12): the Node entry sets ORT_DISABLE_TELEMETRY=1 before onnxruntime-node loads,
 * unless the user set it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));

function child(script: string, env: Record<string, string | undefined>) {
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) e[k] = v;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: e, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

test('20.12: a program that imports the library and runs a model leaves no /tmp/mat-debug-<pid>.log; a user-set ORT_DISABLE_TELEMETRY is kept', () => {
  const run =
    `const m = await import(${JSON.stringify(entry)});` +
    `const model = m.createModel({ family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], num_classes: 2 });` +
    `await model.run(m.Tensor.from(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]));` +
    `console.log(process.pid, process.env.ORT_DISABLE_TELEMETRY);`;
  const r = child(run, { ORT_DISABLE_TELEMETRY: undefined });
  const [pid, value] = r.stdout.trim().split(' ');
  const log = `/tmp/mat-debug-${pid}.log`;
  const left = existsSync(log);
  rmSync(log, { force: true });
  assert.equal(left, false, `${log} left behind`);
  assert.equal(value, '1');

  const kept = child(`await import(${JSON.stringify(entry)}); console.log(process.env.ORT_DISABLE_TELEMETRY);`, { ORT_DISABLE_TELEMETRY: '0' });
  assert.equal(kept.stdout.trim(), '0');
});
