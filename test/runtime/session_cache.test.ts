/** SessionCache: bounded LRU of compiled sessions that never releases a session still in use. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionCache, type Session } from '../../src/runtime/session.js';

/** Stand-ins for sessions: only `release` is used by the cache. */
function fakes() {
  const released: string[] = [];
  const make = (name: string) => async () => ({ release: async () => void released.push(name) }) as unknown as Session;
  return { released, make };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

test('idle sessions beyond capacity are released, least recently used first', async () => {
  const { released, make } = fakes();
  const cache = new SessionCache(2);
  for (const k of ['a', 'b', 'a', 'c']) (await cache.acquire(k, make(k))).release();
  await settle();
  assert.deepEqual(released, ['b'], "'a' was used more recently than 'b'");
  assert.equal(cache.size, 2);
});

test('a session in use is never released, even past capacity; it goes when its last user is done', async () => {
  const { released, make } = fakes();
  const cache = new SessionCache(1);
  const a = await cache.acquire('a', make('a'));
  const a2 = await cache.acquire('a', make('a'));
  const b = await cache.acquire('b', make('b'));
  await settle();
  assert.deepEqual(released, [], 'both in use');
  assert.equal(cache.size, 2, 'over capacity while in use');
  a.release();
  await settle();
  assert.deepEqual(released, [], "'a' still has a user");
  a2.release();
  await settle();
  assert.deepEqual(released, ['a']);
  b.release();
  a2.release(); // releasing twice is harmless
  await settle();
  assert.deepEqual(released, ['a']);
  assert.equal(cache.size, 1);
});

test('a failed build is not cached; the next acquire builds again', async () => {
  const cache = new SessionCache(2);
  let builds = 0;
  const failing = async () => {
    builds++;
    throw new Error('bad graph');
  };
  await assert.rejects(cache.acquire('x', failing), /bad graph/);
  await assert.rejects(cache.acquire('x', failing), /bad graph/);
  assert.equal(builds, 2);
  assert.equal(cache.size, 0);
});

test('clear(matches) drops matching sessions: idle ones now, busy ones when released', async () => {
  const { released, make } = fakes();
  const cache = new SessionCache(4);
  (await cache.acquire('eval|1', make('eval|1'))).release();
  const busy = await cache.acquire('eval|2', make('eval|2'));
  (await cache.acquire('train', make('train'))).release();
  cache.clear((k) => k.startsWith('eval'));
  await settle();
  assert.deepEqual(released, ['eval|1']);
  assert.equal(cache.size, 1, 'train stays');
  busy.release();
  await settle();
  assert.deepEqual(released, ['eval|1', 'eval|2']);
  assert.throws(() => new SessionCache(0), /session cache size must be an integer ≥ 1/);
});
