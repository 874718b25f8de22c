/**
 * PyTorch checkpoints in the browser (issue 21): the same restricted reader as Node, bytes in. Every
 * good fixture of ../shared/golden/pth reads in the page to exactly the tensors Node reads (whose
 * equality with the golden weights test/io/pytorch.test.ts checks); every malicious or broken one is
 * refused with the same typed error, naming the forbidden global.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readWeights, type Tensor } from '../../src/index.js';
import { PTH, pthCases, skip as pthSkip } from '../io/pth_cases.js';
import { browserSkip, PAGE_HELPERS, startHarness, type Harness } from './harness.js';

const skip = browserSkip() || pthSkip;

/** name|dtype|shape|sha256 of the bytes, per tensor, in key order: what two readers must agree on. */
function digest(sd: Map<string, Tensor>): string[] {
  return [...sd.keys()].sort().map((k) => {
    const t = sd.get(k)!;
    const d = t.data as ArrayBufferView;
    return `${k}|${t.dtype}|${t.shape.join('x')}|${createHash('sha256').update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)).digest('hex')}`;
  });
}

let h: Harness;
before(async () => {
  if (!skip) h = await startHarness();
});
after(async () => {
  await h?.close();
});

test('every PyTorch fixture reads in the browser as in Node; malicious and broken ones give the same typed errors', { skip }, async () => {
  const page = await h.page();
  await page.evaluate(PAGE_HELPERS);
  try {
    for (const c of pthCases) {
      const got = (await page.evaluate(async (file: string) => {
        const vm = (window as any).vm;
        try {
          const sd: Map<string, any> = await vm.readWeights(`/golden/pth/${file}`);
          const rows: string[] = [];
          for (const k of [...sd.keys()].sort()) {
            const t = sd.get(k);
            const u = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
            rows.push(`${k}|${t.dtype}|${t.shape.join('x')}|${await (window as any).sha(u)}`);
          }
          return { rows };
        } catch (e: any) {
          return { error: { name: e.name, message: String(e.message) } };
        }
      }, c.file)) as { rows?: string[]; error?: { name: string; message: string } };
      if (c.malicious) {
        assert.equal(got.error?.name, 'UnsafePickleError', `${c.file}: ${JSON.stringify(got)}`);
        assert.ok(got.error!.message.includes(c.forbidden_global!), `${c.file} names ${c.forbidden_global}: ${got.error!.message}`);
      } else if (c.bad) {
        assert.equal(got.error?.name, 'CheckpointError', `${c.file}: ${JSON.stringify(got)}`);
      } else {
        assert.equal(got.error, undefined, `${c.file}: ${JSON.stringify(got.error)}`);
        assert.deepEqual(got.rows, digest(await readWeights(join(PTH, c.file))), c.file);
      }
    }
  } finally {
    await page.close();
  }
});
