/**
 * `visionmix predict --model convnext_atto --weights hf:timm/convnext_atto.d2_in1k photo` against a
 * loopback stand-in of the hub serving the golden weights: the same output as the local file; the
 * second run is served from the cache with the server stopped; an http(s) URL of the same file too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeHub } from '../fixtures/fake_hub.js';
import { goldenFile } from '../golden.js';
import { goldenDir, goldenSkip, repoRoot } from '../helpers.js';

/** The CLI, asynchronously (the fake hub lives in this process and must keep serving). */
function cli(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(repoRoot, 'bin', 'visionmix.js'), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('predict with hf: weights = predict with the file; then from the cache with the hub down', { skip: goldenSkip('convnext') }, async () => {
  const cache = mkdtempSync(join(tmpdir(), 'vm-predict-hub-'));
  const weightsFile = goldenFile('convnext', 'convnext_atto_224.weights.safetensors');
  const hub = await startFakeHub({ 'timm/convnext_atto.d2_in1k': { 'model.safetensors': new Uint8Array(readFileSync(weightsFile)) } });
  const env = { VISIONMIX_HUB_URL: hub.url, VISIONMIX_CACHE: cache };
  const photo = join(goldenDir('transforms'), 'chelsea.png');
  try {
    const local = await cli(['predict', '-m', 'convnext_atto', '--weights', weightsFile, '--json', photo], env);
    assert.equal(local.status, 0, local.stderr);
    const viaHub = await cli(['predict', '-m', 'convnext_atto', '--weights', 'hf:timm/convnext_atto.d2_in1k', '--json', photo], env);
    assert.equal(viaHub.status, 0, viaHub.stderr);
    assert.match(viaHub.stderr, /downloading timm\/convnext_atto\.d2_in1k\/model\.safetensors/);
    assert.deepEqual(JSON.parse(viaHub.stdout), JSON.parse(local.stdout));
    // The same file by its URL, checked against its sha256 (a separate cache entry).
    const sha = createHash('sha256').update(readFileSync(weightsFile)).digest('hex');
    const url = `${hub.url}/timm/convnext_atto.d2_in1k/resolve/main/model.safetensors`;
    const viaUrl = await cli(['predict', '-m', 'convnext_atto', '--weights', `${url}#sha256=${sha}`, '--json', photo], env);
    assert.equal(viaUrl.status, 0, viaUrl.stderr);
    assert.ok(viaUrl.stderr.includes(`downloading ${url}…`), viaUrl.stderr);
    assert.deepEqual(JSON.parse(viaUrl.stdout), JSON.parse(local.stdout));
    // ImageNet labels, top 5.
    const [first] = JSON.parse(local.stdout) as { top: { label: string }[] }[];
    assert.equal(first!.top.length, 5);
    assert.ok(first!.top.every((t) => !/^class \d+$/.test(t.label)), 'ImageNet class names');
    await hub.close();
    const offline = await cli(['predict', '-m', 'convnext_atto.d2_in1k', '--pretrained', '--json', photo], env);
    assert.equal(offline.status, 0, offline.stderr);
    assert.doesNotMatch(offline.stderr, /downloading/);
    assert.deepEqual(JSON.parse(offline.stdout), JSON.parse(local.stdout));
  } finally {
    await hub.close().catch(() => undefined);
    rmSync(cache, { recursive: true, force: true });
  }
});
