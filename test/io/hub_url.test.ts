/**
 * Weights from a plain URL (`https://…`, here `http://127.0.0.1` against the loopback hub's file
 * URLs): downloaded into the cache with resume, checked against a `#sha256=` fragment or the first
 * download's hash, verified before every use and served offline; unsafe or unsupported URLs refused.
 * As in hub_safety.test.ts, victim files beside the cache must stay untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { HubError } from '../../src/errors.js';
import type { HubProgress } from '../../src/io/hub.js';
import { serializeSafetensors } from '../../src/io/safetensors_format.js';
import { parseWeightsUrl, urlFile } from '../../src/io/url_cache.js';
import { readWeightsSource } from '../../src/io/weights_source.js';
import { resolveInitWeights, runFolderModel } from '../../src/tasks/finetune.js';
import { Tensor } from '../../src/tensor.js';
import { startFakeHub } from '../fixtures/fake_hub.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function sandbox() {
  const root = mkdtempSync(join(tmpdir(), 'vm-hub-url-'));
  const victim = join(root, 'victim', 'model.safetensors');
  mkdirSync(dirname(victim));
  writeFileSync(victim, 'precious');
  return {
    root,
    cacheDir: join(root, 'cache'),
    untouched() {
      assert.ok(lstatSync(victim).isFile());
      assert.equal(readFileSync(victim, 'utf8'), 'precious');
      assert.deepEqual(readdirSync(root).filter((n) => n !== 'cache'), ['victim'], 'nothing new beside the cache');
      assert.deepEqual(readdirSync(dirname(victim)), ['model.safetensors']);
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

const hubError = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof HubError, `a HubError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
  assert.match(e.message, pattern);
  return true;
};

test('a URL is downloaded into the cache (resumed after a drop, checked against #sha256=), read as weights, and served from the cache offline', async () => {
  const sb = sandbox();
  const weights = serializeSafetensors({ 'head.weight': Tensor.from(Float32Array.from({ length: 20_000 }, (_, i) => Math.sin(i)), [100, 200]) });
  const hub = await startFakeHub({ 'rel/eases': { 'model.safetensors': weights } });
  const url = `${hub.url}/rel/eases/resolve/v1/model.safetensors`;
  const source = `${url}#sha256=${sha256(weights)}`;
  try {
    hub.dropNext(1);
    const events: HubProgress[] = [];
    const path = await urlFile(source, { cacheDir: sb.cacheDir, onProgress: (e) => events.push(e) });
    assert.equal(basename(path), 'model.safetensors', 'the entry keeps the file name');
    assert.ok(realpathSync(path).startsWith(realpathSync(sb.cacheDir)));
    assert.equal(basename(realpathSync(path)), sha256(weights));
    assert.deepEqual(new Uint8Array(readFileSync(path)), weights);
    const gets = hub.requests.filter((r) => r.path.includes('/resolve/'));
    assert.equal(gets.length, 2);
    assert.match(gets[1]!.range ?? '', /^bytes=[1-9]\d*-$/, 'resumed');
    assert.deepEqual(events.map((e) => e.status).filter((s, i, a) => s !== a[i - 1]), ['initiate', 'download', 'progress', 'download', 'progress', 'done']);

    const sd = await readWeightsSource(source, { cacheDir: sb.cacheDir });
    assert.deepEqual([...sd.keys()], ['head.weight']);
    assert.equal(hub.requests.filter((r) => r.path.includes('/resolve/')).length, 2, 'a cached URL is not fetched again');

    // A damaged blob: offline a HubError naming the file to delete; online fetched again.
    const blob = realpathSync(path);
    const bad = Uint8Array.from(weights);
    bad[500] = bad[500]! ^ 1;
    writeFileSync(blob, bad);
    await assert.rejects(urlFile(source, { cacheDir: sb.cacheDir, offline: true }), hubError(/the cached file .* is damaged \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\); delete it \(rm '.*'\)/));
    assert.equal(await urlFile(source, { cacheDir: sb.cacheDir }), path);
    assert.deepEqual(new Uint8Array(readFileSync(path)), weights);
    assert.equal(hub.requests.filter((r) => r.path.includes('/resolve/')).length, 3, 'fetched again');

    await hub.close();
    assert.equal(await urlFile(source, { cacheDir: sb.cacheDir }), path, 'served with the server gone');
    assert.equal(await urlFile(url, { cacheDir: sb.cacheDir, offline: true }), path, 'the fragment is not part of the key');
    sb.untouched();
  } finally {
    await hub.close();
    sb.cleanup();
  }
});

test('without a known hash the first download names the blob and later uses are checked against it; a wrong #sha256 is refused and deleted', async () => {
  const sb = sandbox();
  const data = new Uint8Array(randomBytes(200_000));
  const hub = await startFakeHub({ 'a/b': { 'w.bin': data } });
  const url = `${hub.url}/a/b/resolve/main/w.bin`;
  try {
    await assert.rejects(
      urlFile(`${url}#sha256=${sha256(new Uint8Array(3))}`, { cacheDir: sb.cacheDir }),
      hubError(/does not match its sha256 \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\); it was deleted/),
    );
    const path = await urlFile(url, { cacheDir: sb.cacheDir });
    assert.equal(basename(realpathSync(path)), sha256(data));
    const entry = dirname(path);
    assert.deepEqual(readdirSync(join(entry, 'blobs')).sort(), [sha256(data), `${sha256(data)}.verified`], 'no partial or wrong file left');
    assert.equal(readFileSync(join(entry, 'url'), 'utf8'), `${url}\n`);
    // A recorded hash that disagrees with the cached file: online it is fetched again (and fails the check).
    await assert.rejects(urlFile(url, { cacheDir: sb.cacheDir, sha256: 'f'.repeat(64) }), hubError(/does not match its sha256/));
    await assert.rejects(urlFile(url, { cacheDir: sb.cacheDir, sha256: 'f'.repeat(64), offline: true }), hubError(/cached file has sha256 [0-9a-f]{64}, not the expected f{64}/));
    assert.equal(await urlFile(url, { cacheDir: sb.cacheDir, sha256: sha256(data), offline: true }), path);
    sb.untouched();
  } finally {
    await hub.close();
    sb.cleanup();
  }
});

test('unsupported, unsafe or unreachable URLs: HubErrors naming them, nothing written outside the cache', async () => {
  const sb = sandbox();
  const hub = await startFakeHub({ 'a/b': { x: new Uint8Array(10) } });
  const gone = await startFakeHub({});
  await gone.close();
  try {
    await assert.rejects(urlFile('http://example.com/model.safetensors', { cacheDir: sb.cacheDir }), hubError(/only https:\/\/ is accepted \(http:\/\/ only for 127\.0\.0\.1 or localhost\)/));
    await assert.rejects(urlFile(`${hub.url}/a/b/resolve/main/x#md5=abc`, { cacheDir: sb.cacheDir }), hubError(/the only fragment understood is #sha256=/));
    await assert.rejects(urlFile(`${hub.url}/a/b/resolve/main/x#sha256=../../victim`, { cacheDir: sb.cacheDir }), hubError(/the sha256 fragment "\.\.\/\.\.\/victim" is not valid/));
    await assert.rejects(urlFile(`https://example.com/${'x'.repeat(5000)}`, { cacheDir: sb.cacheDir }), hubError(/is too long/));
    await assert.rejects(urlFile(`${hub.url}/a/b/resolve/main/x`, { cacheDir: sb.cacheDir, offline: true }), hubError(/offline mode .* not in the cache/));
    await assert.rejects(urlFile(`${gone.url}/a/b/resolve/main/x`, { cacheDir: sb.cacheDir }), hubError(/download interrupted \(fetch failed: .*ECONNREFUSED.*\); run again$/));
    hub.redirectLoop(true);
    await assert.rejects(urlFile(`${hub.url}/a/b/resolve/main/x`, { cacheDir: sb.cacheDir }), hubError(/resolve\/main\/x redirects in a loop/));
    hub.redirectLoop(false);
    // A file name that tries to climb out of the cache entry is made a plain name.
    assert.equal(parseWeightsUrl(`${hub.url}/a/b/resolve/main/..%2F..%2F..%2Fvictim%2Fmodel.safetensors`).name, '_.._.._victim_model.safetensors');
    assert.equal(parseWeightsUrl(`${hub.url}/`).name, 'download');
    sb.untouched();
  } finally {
    await hub.close();
    sb.cleanup();
  }
});

test('finetune --weights takes a URL as it takes hf: (read, and downloaded, when the weights are loaded)', () => {
  const url = 'https://example.com/releases/glnet_4g.safetensors#sha256=' + 'a'.repeat(64);
  assert.equal(resolveInitWeights('convnext_atto', { weights: url }), url);
  assert.equal(runFolderModel(url), undefined);
});
