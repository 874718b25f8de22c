/**
 * Hub downloads against a loopback stand-in of the Hugging Face hub serving the golden weights:
 * same logits as the local file, progress events, the cache used with the server stopped, a
 * dropped transfer resumed, a damaged cache entry detected and fetched again, offline errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, WeightsError, createModel, readSafetensors } from '../../src/index.js';
import { hubFile, parseHubRef, type HubProgress } from '../../src/io/hub.js';
import { readWeightsSource } from '../../src/io/weights_source.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { startFakeHub } from '../fixtures/fake_hub.js';
import { goldenFile } from '../golden.js';
import { goldenSkip } from '../helpers.js';

const skip = goldenSkip('convnext');
const REPO = 'timm/convnext_atto.d2_in1k';

function setup() {
  const weights = new Uint8Array(readFileSync(goldenFile('convnext', 'convnext_atto_224.weights.safetensors')));
  const cacheDir = mkdtempSync(join(tmpdir(), 'vm-hub-'));
  return { weights, cacheDir, cleanup: () => rmSync(cacheDir, { recursive: true, force: true }) };
}

test('hf: references parse into repo, revision and file', () => {
  assert.deepEqual(parseHubRef('hf:timm/convnext_atto.d2_in1k'), { repo: REPO, revision: 'main', file: 'model.safetensors' });
  assert.deepEqual(parseHubRef('hf:org/name@v1.0:weights/x.safetensors'), { repo: 'org/name', revision: 'v1.0', file: 'weights/x.safetensors' });
  assert.equal(parseHubRef('timm/convnext_atto.d2_in1k'), null);
  assert.equal(parseHubRef('hf:noslash'), null);
});

test('download → same weights as the file; progress events; the cache serves it with the server stopped', { skip }, async () => {
  const { weights, cacheDir, cleanup } = setup();
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': weights } });
  try {
    const events: HubProgress[] = [];
    const path = await hubFile(parseHubRef(`hf:${REPO}`)!, { hubUrl: hub.url, cacheDir, onProgress: (e) => events.push(e) });
    assert.deepEqual(new Uint8Array(readFileSync(path)), weights);
    assert.equal(events[0]!.status, 'initiate');
    assert.equal(events[1]!.status, 'download');
    const progress = events.filter((e) => e.status === 'progress');
    assert.ok(progress.length >= 1 && progress.at(-1)!.status === 'progress');
    const last = progress.at(-1) as Extract<HubProgress, { status: 'progress' }>;
    assert.equal(last.loaded, weights.length);
    assert.equal(last.total, weights.length);
    assert.deepEqual(events.at(-1), { status: 'done', repo: REPO, file: 'model.safetensors', path, cached: false });
    // huggingface_hub's layout: blobs named by sha256, a snapshot per commit, refs/main.
    const folder = join(cacheDir, 'models--timm--convnext_atto.d2_in1k');
    assert.deepEqual(readdirSync(folder).sort(), ['blobs', 'refs', 'snapshots']);

    // Same logits as loading the file directly.
    const a = createModel('convnext_atto');
    await a.loadWeights(goldenFile('convnext', 'convnext_atto_224.weights.safetensors'));
    const b = createModel('convnext_atto');
    const sd = await readWeightsSource(`hf:${REPO}`, { hubUrl: hub.url, cacheDir } as never);
    await b.loadWeights(sd);
    const io = await readSafetensors(goldenFile('convnext', 'convnext_atto_224.io.safetensors'));
    assert.deepEqual((await b.run(io.get('input')!)).logits.data, (await a.run(io.get('input')!)).logits.data);

    // Server stopped: the cache answers.
    await hub.close();
    const again: HubProgress[] = [];
    const cached = await hubFile(parseHubRef(`hf:${REPO}`)!, { hubUrl: hub.url, cacheDir, onProgress: (e) => again.push(e) });
    assert.equal(cached, path);
    assert.deepEqual(again.map((e) => e.status), ['initiate', 'done']);
    assert.equal((again[1] as { cached: boolean }).cached, true);
  } finally {
    await hub.close().catch(() => undefined);
    cleanup();
  }
});

test('a dropped transfer resumes with a Range request; a damaged cache entry is fetched again', { skip }, async () => {
  const { weights, cacheDir, cleanup } = setup();
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': weights } });
  try {
    hub.dropNext(1);
    const path = await hubFile(parseHubRef(`hf:${REPO}`)!, { hubUrl: hub.url, cacheDir });
    assert.deepEqual(new Uint8Array(readFileSync(path)), weights);
    const gets = hub.requests.filter((r) => r.path.includes('/resolve/'));
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.range, undefined);
    assert.match(gets[1]!.range ?? '', /^bytes=\d+-$/, 'the second request resumes');
    assert.ok(Number(/\d+/.exec(gets[1]!.range!)![0]) > 0);

    // Damage the cached blob (as a disk error would): detected by its hash, downloaded again.
    const bytes = readFileSync(path);
    bytes[100] = bytes[100]! ^ 1;
    writeFileSync(path, bytes);
    const before = hub.requests.filter((r) => r.path.includes('/resolve/')).length;
    const fixed = await hubFile(parseHubRef(`hf:${REPO}`)!, { hubUrl: hub.url, cacheDir });
    assert.deepEqual(new Uint8Array(readFileSync(fixed)), weights);
    assert.equal(hub.requests.filter((r) => r.path.includes('/resolve/')).length, before + 1, 'refetched');
  } finally {
    await hub.close();
    cleanup();
  }
});

test('corrupted bytes from the server, a missing file, offline without a cache: WeightsErrors that say what to do', { skip }, async () => {
  const { weights, cacheDir, cleanup } = setup();
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': weights } });
  try {
    hub.corrupt(true);
    await assert.rejects(hubFile(parseHubRef(`hf:${REPO}`)!, { hubUrl: hub.url, cacheDir }), (e: unknown) => e instanceof WeightsError && /does not match the hub's record \(sha256/.test(e.message));
    hub.corrupt(false);
    await assert.rejects(hubFile(parseHubRef(`hf:${REPO}:nope.safetensors`)!, { hubUrl: hub.url, cacheDir }), (e: unknown) => e instanceof WeightsError && /has no file 'nope.safetensors'/.test(e.message));
    await assert.rejects(hubFile(parseHubRef('hf:timm/other')!, { hubUrl: hub.url, cacheDir }), (e: unknown) => e instanceof WeightsError && /hf:timm\/other/.test(e.message));
    await assert.rejects(hubFile(parseHubRef(`hf:${REPO}`)!, { cacheDir, offline: true }), (e: unknown) => e instanceof WeightsError && /offline mode.*not in the cache/.test(e.message));
    await hub.close();
    await assert.rejects(hubFile(parseHubRef(`hf:${REPO}`)!, { hubUrl: hub.url, cacheDir }), (e: unknown) => e instanceof WeightsError && /cannot be reached, and it is not in the cache/.test(e.message));
  } finally {
    await hub.close().catch(() => undefined);
    cleanup();
  }
});

test("createModel(tag, { pretrained: true }) loads the tag's hub weights before the first run; CC-BY-NC weights say so", { skip }, async () => {
  const { weights, cacheDir, cleanup } = setup();
  const v2 = new Uint8Array(readFileSync(goldenFile('convnext', 'convnextv2_atto_224.weights.safetensors')));
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': weights }, 'timm/convnextv2_atto.fcmae_ft_in1k': { 'model.safetensors': v2 } });
  const saved = { url: process.env.VISIONMIX_HUB_URL, cache: process.env.VISIONMIX_CACHE };
  process.env.VISIONMIX_HUB_URL = hub.url;
  process.env.VISIONMIX_CACHE = cacheDir;
  try {
    const warnings: string[] = [];
    const engine = new Engine({ ...nodeRuntime(readWeightsSource), warn: (m) => warnings.push(m) });
    const m = engine.createModel('convnext_atto.d2_in1k', { pretrained: true });
    const io = await readSafetensors(goldenFile('convnext', 'convnext_atto_224.io.safetensors'));
    const out = await m.run(io.get('input')!);
    const ref = engine.createModel('convnext_atto');
    await ref.loadWeights(goldenFile('convnext', 'convnext_atto_224.weights.safetensors'));
    assert.deepEqual(out.logits.data, (await ref.run(io.get('input')!)).logits.data);
    assert.deepEqual(warnings, []);
    const nc = engine.createModel('convnextv2_atto', { pretrained: true });
    await nc.ready();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /cc-by-nc-4\.0 — non-commercial use only/);
    assert.throws(() => engine.createModel({ family: 'convnext', depths: [1, 1, 1, 1], dims: [8, 8, 8, 8] }, { pretrained: true }), /pretrained: true needs a model name or weight tag/);
    // timm's fine-tuning idiom: the backbone from the weights, a fresh head for 10 classes (or none).
    const ten = engine.createModel('convnext_atto.d2_in1k', { pretrained: true, num_classes: 10 });
    await ten.ready();
    assert.deepEqual(ten.stateDict()['head.fc.weight']!.shape, [10, 320]);
    assert.deepEqual(ten.stateDict()['stages.0.blocks.0.conv_dw.weight']!.data, ref.stateDict()['stages.0.blocks.0.conv_dw.weight']!.data);
    // The download's events reach createModel's onProgress (visionmix/web's progress_callback).
    const events: string[] = [];
    await engine.createModel('convnext_atto.d2_in1k', { pretrained: true, onProgress: (e) => events.push(e.status) }).ready();
    assert.deepEqual([events[0], events.at(-1)], ['initiate', 'done']);
    const bare = engine.createModel('convnext_atto.d2_in1k', { pretrained: true, num_classes: 0 });
    const pooled = await bare.run(io.get('input')!);
    assert.deepEqual(pooled.logits.shape, [io.get('input')!.shape[0], 320]);
  } finally {
    process.env.VISIONMIX_HUB_URL = saved.url;
    process.env.VISIONMIX_CACHE = saved.cache;
    if (saved.url === undefined) delete process.env.VISIONMIX_HUB_URL;
    if (saved.cache === undefined) delete process.env.VISIONMIX_CACHE;
    await hub.close();
    cleanup();
  }
});
