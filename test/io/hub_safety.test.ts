/**
 * The hub cache against a hostile hub, a flaky network and concurrent users (issue 20, points 1, 2, 6,
 * 7 and 12's download cases), with a loopback stand-in of the hub. Every test keeps the cache in a
 * temp folder with "victim" files beside it, and checks that they are exactly as they were: nothing
 * outside the cache may ever be written or removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HubError, WeightsError } from '../../src/errors.js';
import { hubFile, parseHubRef, type HubOptions } from '../../src/io/hub.js';
import { readWeightsSource } from '../../src/io/weights_source.js';
import { startFakeHub, type FakeHub } from '../fixtures/fake_hub.js';

const REPO = 't/good';
const C1 = 'c1'.padEnd(40, '1');
const C2 = 'c2'.padEnd(40, '2');
const bytes = (n: number) => new Uint8Array(randomBytes(n));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A temp folder with the cache in `cache/` and victim files beside it; `untouched()` checks them. */
function sandbox() {
  const root = mkdtempSync(join(tmpdir(), 'vm-hub-safety-'));
  const cacheDir = join(root, 'cache');
  const victims: Record<string, string> = {
    [join(root, 'victim', 'file')]: 'precious 1',
    [join(root, 'victim2', 'model.safetensors')]: 'precious 2',
    [join(root, 'victim3', 'notes')]: 'precious 3',
  };
  for (const [p, text] of Object.entries(victims)) {
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return {
    root,
    cacheDir,
    untouched(what: string) {
      for (const [p, text] of Object.entries(victims)) {
        assert.ok(lstatSync(p).isFile(), `${what}: ${p} is still a plain file`);
        assert.equal(readFileSync(p, 'utf8'), text, `${what}: ${p} unchanged`);
      }
      const outside = readdirSync(root).filter((n) => n !== 'cache').sort();
      assert.deepEqual(outside, ['victim', 'victim2', 'victim3'], `${what}: nothing new beside the cache`);
      for (const d of ['victim', 'victim2', 'victim3']) assert.equal(readdirSync(join(root, d)).length, 1, `${what}: nothing new in ${d}/`);
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

const isHubError = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof HubError, `a HubError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
  assert.ok(e instanceof WeightsError);
  assert.match(e.message, pattern);
  assert.ok(e.message.length < 600, `a readable message (${e.message.length} characters)`);
  return true;
};

const resolves = (hub: FakeHub) => hub.requests.filter((r) => r.path.includes('/resolve/'));
const cacheEntries = (cacheDir: string) => readdirSync(join(cacheDir, 'models--t--good', 'blobs')).sort();

test('a hostile hub cannot name a path outside the cache: oid and commit with .., absolute, overlong, not hex; wrong hashes', async () => {
  const sb = sandbox();
  const data = bytes(50_000);
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': data } }, C1);
  const o: HubOptions = { hubUrl: hub.url, cacheDir: sb.cacheDir };
  const get = () => hubFile(parseHubRef(`hf:${REPO}`)!, o);
  const cases: [string, (e: Record<string, any>) => Record<string, any>, RegExp][] = [
    ['lfs.oid ../', (e) => ({ ...e, lfs: { ...e.lfs, oid: '../../../victim/file' } }), /LFS sha256 "\.\.\/\.\.\/\.\.\/victim\/file" is not valid/],
    ['lfs.oid absolute', (e) => ({ ...e, lfs: { ...e.lfs, oid: join(sb.root, 'victim', 'file') } }), /LFS sha256 .*victim\/file" is not valid/],
    ['lfs.oid overlong', (e) => ({ ...e, lfs: { ...e.lfs, oid: 'a'.repeat(100_000) } }), /LFS sha256 "a+"… \(100000 characters\) is not valid/],
    ['lfs.oid not hex', (e) => ({ ...e, lfs: { ...e.lfs, oid: 'Z'.repeat(64) } }), /LFS sha256 "Z{64}" is not valid: expected 64 lowercase hex digits/],
    ['lfs.size negative', (e) => ({ ...e, lfs: { ...e.lfs, size: -5 } }), /LFS size -5 is not a valid size/],
    ['lfs.size a string', (e) => ({ ...e, lfs: { ...e.lfs, size: '50000' } }), /LFS size "50000" is not a valid size/],
    ['git oid ../', (e) => ({ ...e, lfs: undefined, oid: '../../../victim/file' }), /git blob id "\.\.\/\.\.\/\.\.\/victim\/file" is not valid/],
    ['commit ../', (e) => ({ ...e, lastCommit: { ...e.lastCommit, id: '../../../victim2' } }), /commit id "\.\.\/\.\.\/\.\.\/victim2" is not valid/],
    ['commit absolute', (e) => ({ ...e, lastCommit: { ...e.lastCommit, id: join(sb.root, 'victim2') } }), /commit id ".*victim2" is not valid/],
    ['commit overlong', (e) => ({ ...e, lastCommit: { ...e.lastCommit, id: 'b'.repeat(5000) } }), /commit id "b+"… \(5000 characters\) is not valid/],
    ['wrong sha256', (e) => ({ ...e, lfs: { ...e.lfs, oid: sha256(bytes(10)) } }), /does not match the hub's record \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\); it was deleted/],
    ['wrong size', (e) => ({ ...e, lfs: { ...e.lfs, size: 40_000 } }), /sent more than the expected 40000 bytes/],
  ];
  try {
    for (const [what, fn, pattern] of cases) {
      hub.tamper(fn);
      await assert.rejects(get(), isHubError(pattern), what);
      sb.untouched(what);
      // Nothing half-done stays in the cache: no blob, no partial, no snapshot, no ref.
      if (existsSync(join(sb.cacheDir, 'models--t--good', 'blobs'))) assert.deepEqual(cacheEntries(sb.cacheDir), [], what);
      assert.equal(existsSync(join(sb.cacheDir, 'models--t--good', 'refs', 'main')), false, what);
    }
    // The victim is a real file of the right size under the attacker's oid: still never touched.
    hub.tamper((e) => ({ ...e, lfs: { ...e.lfs, oid: '../../../victim/file', size: 'precious 1'.length } }));
    await assert.rejects(get(), isHubError(/is not valid/));
    sb.untouched('oid naming an existing file');
    // An honest answer then works.
    hub.tamper(null);
    assert.deepEqual(new Uint8Array(readFileSync(await get())), data);
    sb.untouched('honest download');
  } finally {
    await hub.close();
    sb.cleanup();
  }
});

test('a reference with an unsafe revision, file path or repo id is refused before any request, online and offline', async () => {
  const sb = sandbox();
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': bytes(1000), notes: bytes(10) } }, C1);
  const o = { hubUrl: hub.url, cacheDir: sb.cacheDir };
  try {
    await assert.rejects(readWeightsSource(`hf:${REPO}@../../../victim3/notes`, o), isHubError(/hub revision "\.\.\/\.\.\/\.\.\/victim3\/notes" is not valid/));
    await assert.rejects(
      hubFile({ repo: REPO, revision: '../../../victim3/notes', file: 'model.safetensors' }, { ...o, offline: true }),
      isHubError(/hub revision .* is not valid/),
    );
    const bad: [Partial<{ repo: string; revision: string; file: string }>, RegExp][] = [
      [{ revision: 'refs/pr/1' }, /hub revision "refs\/pr\/1" is not valid/],
      [{ revision: 'x'.repeat(300) }, /hub revision "x+"… \(300 characters\) is not valid/],
      [{ revision: '..' }, /hub revision "\.\." is not valid/],
      [{ file: join(sb.root, 'victim3', 'notes') }, /hub file path ".*victim3\/notes" is not valid/],
      [{ file: '../../../../victim3/notes' }, /hub file path "\.\.\/\.\.\/\.\.\/\.\.\/victim3\/notes" is not valid/],
      [{ file: 'a/../../notes' }, /hub file path "a\/\.\.\/\.\.\/notes" is not valid/],
      [{ file: 'a\\..\\notes' }, /hub file path "a\\\\\.\.\\\\notes" is not valid/],
      [{ file: 'a\0b' }, /hub file path "a\\u0000b" is not valid/],
      [{ file: 'f'.repeat(2000) }, /hub file path "f+"… \(2000 characters\) is not valid/],
      [{ repo: '../..' }, /hub repository id "\.\.\/\.\." is not valid/],
      [{ repo: 'a--b/c' }, /hub repository id "a--b\/c" is not valid/],
      [{ repo: `t/${'n'.repeat(120)}` }, /hub repository id "t\/n+"… \(122 characters\) is not valid/],
    ];
    for (const [part, pattern] of bad) {
      const ref = { repo: REPO, revision: 'main', file: 'model.safetensors', ...part };
      await assert.rejects(hubFile(ref, o), isHubError(pattern), JSON.stringify(part));
      await assert.rejects(hubFile(ref, { ...o, offline: true }), isHubError(pattern), `offline ${JSON.stringify(part)}`);
    }
    assert.deepEqual(hub.requests, [], 'no request was made');
    sb.untouched('unsafe references');
    // Valid names of the same kinds pass: a tag with dots, a nested file, a commit id.
    assert.deepEqual(parseHubRef(`hf:${REPO}@v1.0-rc_2:sub/dir/x.safetensors`), { repo: REPO, revision: 'v1.0-rc_2', file: 'sub/dir/x.safetensors' });
    const path = await hubFile({ repo: REPO, revision: C1, file: 'notes' }, o);
    assert.ok(realpathSync(path).startsWith(realpathSync(sb.cacheDir)));
    sb.untouched('valid reference');
  } finally {
    await hub.close();
    sb.cleanup();
  }
});

test('a damaged cached blob is refused offline (option, VISIONMIX_OFFLINE, unreachable hub) naming the file to delete; online it is fetched again', async () => {
  const sb = sandbox();
  const data = bytes(300_000);
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': data } }, C1);
  const gone = await startFakeHub({});
  await gone.close(); // a port where nothing answers
  const ref = parseHubRef(`hf:${REPO}`)!;
  const saved = process.env.VISIONMIX_OFFLINE;
  try {
    const path = await hubFile(ref, { hubUrl: hub.url, cacheDir: sb.cacheDir });
    const blob = realpathSync(path);
    assert.equal(basename(blob), sha256(data));
    // Offline, an intact blob is served (its verification stamp spares a re-hash).
    assert.equal(await hubFile(ref, { cacheDir: sb.cacheDir, offline: true }), path);

    const damaged = Uint8Array.from(data);
    damaged[1234] = damaged[1234]! ^ 1; // same size: only the hash can tell
    writeFileSync(blob, damaged);
    const damagedError = isHubError(new RegExp(`the cached file ${blob.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is damaged \\(sha256 [0-9a-f]{64}, expected ${sha256(data)}\\); delete it \\(rm '.*'\\)`));
    await assert.rejects(hubFile(ref, { cacheDir: sb.cacheDir, offline: true }), damagedError);
    process.env.VISIONMIX_OFFLINE = '1';
    await assert.rejects(readWeightsSource(`hf:${REPO}`, { cacheDir: sb.cacheDir }), damagedError);
    delete process.env.VISIONMIX_OFFLINE;
    await assert.rejects(hubFile(ref, { hubUrl: gone.url, cacheDir: sb.cacheDir }), damagedError);
    assert.deepEqual(new Uint8Array(readFileSync(blob)), damaged, 'offline, the damaged file is reported, not deleted');

    // Online: detected and downloaded again.
    const before = resolves(hub).length;
    const fixed = await hubFile(ref, { hubUrl: hub.url, cacheDir: sb.cacheDir });
    assert.equal(fixed, path);
    assert.deepEqual(new Uint8Array(readFileSync(fixed)), data);
    assert.equal(resolves(hub).length, before + 1, 'fetched again');
    assert.equal(await hubFile(ref, { cacheDir: sb.cacheDir, offline: true }), path);
    sb.untouched('damaged cache');
  } finally {
    if (saved === undefined) delete process.env.VISIONMIX_OFFLINE;
    else process.env.VISIONMIX_OFFLINE = saved;
    await hub.close();
    sb.cleanup();
  }
});

test('a failed download of a newer revision leaves the cached one in use offline; refs/main moves only once the new snapshot is complete', async () => {
  const sb = sandbox();
  const v1 = bytes(100_000);
  const v2 = bytes(120_000);
  const old = await startFakeHub({ [REPO]: { 'model.safetensors': v1 } }, C1);
  const updated = await startFakeHub({ [REPO]: { 'model.safetensors': v2 } }, C2);
  const ref = parseHubRef(`hf:${REPO}`)!;
  const refMain = join(sb.cacheDir, 'models--t--good', 'refs', 'main');
  try {
    const p1 = await hubFile(ref, { hubUrl: old.url, cacheDir: sb.cacheDir });
    assert.equal(readFileSync(refMain, 'utf8'), C1);

    updated.corrupt(true);
    await assert.rejects(hubFile(ref, { hubUrl: updated.url, cacheDir: sb.cacheDir }), isHubError(/does not match/));
    updated.corrupt(false);
    updated.redirectLoop(true);
    await assert.rejects(hubFile(ref, { hubUrl: updated.url, cacheDir: sb.cacheDir }), isHubError(/redirects in a loop/));
    updated.redirectLoop(false);
    assert.equal(readFileSync(refMain, 'utf8'), C1, 'refs/main still names the complete snapshot');
    const offline = await hubFile(ref, { cacheDir: sb.cacheDir, offline: true });
    assert.equal(offline, p1);
    assert.deepEqual(new Uint8Array(readFileSync(offline)), v1);

    const p2 = await hubFile(ref, { hubUrl: updated.url, cacheDir: sb.cacheDir });
    assert.match(p2, new RegExp(`snapshots/${C2}/model\\.safetensors$`));
    assert.equal(readFileSync(refMain, 'utf8'), C2);
    assert.deepEqual(new Uint8Array(readFileSync(await hubFile(ref, { cacheDir: sb.cacheDir, offline: true }))), v2);
    // The older commit stays reachable by its id.
    assert.deepEqual(new Uint8Array(readFileSync(await hubFile({ ...ref, revision: C1 }, { cacheDir: sb.cacheDir, offline: true }))), v1);
    sb.untouched('revisions');
  } finally {
    await old.close();
    await updated.close();
    sb.cleanup();
  }
});

test('two downloads of the same file at once (one process) both succeed and leave one intact blob', async () => {
  const sb = sandbox();
  const data = bytes(3_000_000);
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': data } }, C1);
  try {
    hub.holdUntil(2); // both transfers are in flight together
    const ref = parseHubRef(`hf:${REPO}`)!;
    const [a, b] = await Promise.all([hubFile(ref, { hubUrl: hub.url, cacheDir: sb.cacheDir }), hubFile(ref, { hubUrl: hub.url, cacheDir: sb.cacheDir })]);
    assert.equal(a, b);
    assert.equal(resolves(hub).length, 2);
    assert.deepEqual(new Uint8Array(readFileSync(a)), data);
    assert.deepEqual(cacheEntries(sb.cacheDir), [sha256(data), `${sha256(data)}.verified`]);
    sb.untouched('concurrent downloads');
  } finally {
    await hub.close();
    sb.cleanup();
  }
});

const CHILD = fileURLToPath(new URL('../fixtures/hub_child.js', import.meta.url));

/** Run hub_child.js; `kill(output)` true → SIGKILL it. Resolves with its output lines and exit code. */
function child(args: string[], kill?: (out: string) => boolean): Promise<{ code: number | null; lines: Record<string, any>[]; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (kill?.(out)) p.kill('SIGKILL');
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, err, lines: out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) }));
  });
}

test('two processes downloading the same file at once both succeed; a process killed mid-download leaves a partial file the next run resumes', async () => {
  const sb = sandbox();
  const data = bytes(3_000_000);
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': data } }, C1);
  const source = `hf:${REPO}`;
  try {
    hub.holdUntil(2);
    const [a, b] = await Promise.all([child([hub.url, sb.cacheDir, source]), child([hub.url, sb.cacheDir, source])]);
    assert.equal(a.code, 0, JSON.stringify(a.lines.at(-1)) + a.err);
    assert.equal(b.code, 0, JSON.stringify(b.lines.at(-1)) + b.err);
    assert.equal(a.lines.at(-1)!.path, b.lines.at(-1)!.path);
    assert.deepEqual(new Uint8Array(readFileSync(a.lines.at(-1)!.path)), data);
    assert.deepEqual(cacheEntries(sb.cacheDir), [sha256(data), `${sha256(data)}.verified`]);
    hub.holdUntil(0);

    // Killed half-way (the server stalls after half the bytes; SIGKILL after the first progress).
    rmSync(sb.cacheDir, { recursive: true });
    hub.stallNext(1);
    const killed = await child([hub.url, sb.cacheDir, source], (out) => out.includes('"status":"progress"'));
    assert.equal(killed.code, null, 'killed');
    const left = cacheEntries(sb.cacheDir);
    assert.equal(left.length, 1);
    assert.match(left[0]!, new RegExp(`^${sha256(data)}\\.incomplete\\.`));
    const partial = statSync(join(sb.cacheDir, 'models--t--good', 'blobs', left[0]!)).size;
    assert.ok(partial > 0 && partial < data.length);

    const before = resolves(hub).length;
    const path = await hubFile(parseHubRef(source)!, { hubUrl: hub.url, cacheDir: sb.cacheDir });
    assert.deepEqual(new Uint8Array(readFileSync(path)), data);
    assert.equal(resolves(hub)[before]!.range, `bytes=${partial}-`, 'resumed where the killed process stopped');
    assert.deepEqual(cacheEntries(sb.cacheDir), [sha256(data), `${sha256(data)}.verified`]);
    sb.untouched('processes');
  } finally {
    await hub.close();
    sb.cleanup();
  }
});

test('a redirect loop is reported as one, naming the URL; a short download keeps its partial file and the next run resumes it', async () => {
  const sb = sandbox();
  const data = bytes(400_000);
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': data } }, C1);
  const ref = parseHubRef(`hf:${REPO}`)!;
  const o = { hubUrl: hub.url, cacheDir: sb.cacheDir };
  try {
    hub.redirectLoop(true);
    await assert.rejects(hubFile(ref, o), isHubError(new RegExp(`${hub.url}/t/good/resolve/main/model\\.safetensors redirects in a loop`)));
    hub.redirectLoop(false);

    hub.dropNext(3); // every attempt of this run is cut off half-way
    await assert.rejects(hubFile(ref, o), isHubError(/(download interrupted|stopped at \d+ of 400000 bytes).*the partial file is kept, run again to resume/));
    const partial = join(sb.cacheDir, 'models--t--good', 'blobs', `${sha256(data)}.incomplete`);
    const kept = statSync(partial).size;
    assert.ok(kept > 0 && kept < data.length, `partial file kept (${kept} bytes)`);
    const before = resolves(hub).length;
    const path = await hubFile(ref, o);
    assert.deepEqual(new Uint8Array(readFileSync(path)), data);
    assert.equal(resolves(hub)[before]!.range, `bytes=${kept}-`);
    assert.deepEqual(cacheEntries(sb.cacheDir), [sha256(data), `${sha256(data)}.verified`]);
    sb.untouched('redirects and short downloads');
  } finally {
    await hub.close();
    sb.cleanup();
  }
});

test('a cache folder that cannot be created is a HubError naming it (no stack trace), and the file in its way is left alone', async () => {
  const sb = sandbox();
  const hub = await startFakeHub({ [REPO]: { 'model.safetensors': bytes(1000) } }, C1);
  try {
    const cacheDir = join(sb.root, 'victim', 'file'); // a file, not a folder
    await assert.rejects(hubFile(parseHubRef(`hf:${REPO}`)!, { hubUrl: hub.url, cacheDir }), isHubError(/cannot create the cache folder .*victim\/file\/models--t--good\/blobs \(ENOTDIR\)/));
    sb.untouched('cache folder in the way');
  } finally {
    await hub.close();
    sb.cleanup();
  }
});
