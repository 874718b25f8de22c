/**
 * The published types, as a dependent project compiles them: a consumer importing 'visionmix' and
 * its subpath entries, checked by tsc against the emitted dist/**\/*.d.ts with `skipLibCheck: false`
 * (so an error inside our declarations fails too). The consumer's `@ts-expect-error` lines check that
 * the typed options of test/types.test.ts survive the declaration emit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './helpers.js';

const CONSUMER = `
import { createModel, type Tensor, type VisionModel } from 'visionmix';
import { createModel as createWebModel } from 'visionmix/web';
import { trainJob } from 'visionmix/train';
import { openImageFolder } from 'visionmix/data';
import { trainInBrowser, type BrowserTrainEvent } from 'visionmix/web-train';

export async function check(x: Tensor): Promise<number> {
  const m = createModel('convnextv2_atto', { numClasses: 10, drop_path_rate: 0.1 });
  const { logits, final, blocks } = await m.run(x, { final: true, blocks: true });
  // @ts-expect-error numClasses is a number
  createModel('convnextv2_atto', { numClasses: 'ten' });
  // @ts-expect-error CMT has no such key
  createModel('cmt_ti', { unknwonKey: 1 });
  // @ts-expect-error no model has this output
  void m.run(x, { featurez: true });
  // @ts-expect-error slots are GLNet's
  void m.run(x, { slots: true });
  const g = createWebModel('glnet_stl', { device: 'wasm', numSlots: 16 });
  const { slots } = await g.run(x, { slots: true });
  const any: VisionModel = createModel('glnet_stl' as string, { anyKey: 1 });
  const onEvent = (e: BrowserTrainEvent) => void (e.type === 'step' && e.loss.toFixed(3));
  void [trainJob, openImageFolder, any, trainInBrowser, onEvent];
  return logits.data.length + final.data.length + blocks.length + Object.keys(slots).length;
}
`;

test('the emitted .d.ts files compile in a dependent project with skipLibCheck: false, with the typed options', () => {
  assert.ok(existsSync(join(repoRoot, 'dist', 'src', 'index.d.ts')), 'dist/ is built (run tsc first)');
  const dir = mkdtempSync(join(tmpdir(), 'vm-dts-'));
  try {
    // 'visionmix' resolves to this repository through node_modules, as an installed package would.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(repoRoot, join(dir, 'node_modules', 'visionmix'), 'junction');
    writeFileSync(join(dir, 'consumer.ts'), CONSUMER);
    const compilerOptions = {
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      lib: ['ES2022', 'DOM'],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [join(repoRoot, 'node_modules', '@types')],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
    const tsc = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(tsc.status, 0, `tsc reported:\n${tsc.stdout}${tsc.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
