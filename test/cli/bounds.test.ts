/**
 * Huge sizes from the command line (issue 20, point 8): `bench --size` / `--batch` and a `--config`
 * with a huge count are `error: …` lines naming the option or key (exit 1), before any input batch or
 * model is allocated — not a RangeError stack trace or a V8 abort.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { createModel } from '../../src/models/registry.js';
import '../../src/models/index.js';
import { checkInferenceInputSize } from '../../src/tasks/input_size.js';
import { STACK_FRAME, runCli } from '../helpers.js';

function typedError(args: string[], pattern: RegExp): void {
  const r = runCli(args);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
}

test('bench --size 100000 and --batch 100000 are errors naming both options', () => {
  const bench = ['bench', '--model', 'convnext_atto', '--iters', '1', '--warmup', '0', '--gemm-iters', '1'];
  typedError([...bench, '--size', '100000'], /^error: --size 100000 with --batch 1 makes an input of 1×3×100000×100000 = 3\.00e\+10 values, more than one array can hold/m);
  typedError([...bench, '--batch', '100000'], /^error: --size 224 with --batch 100000 makes an input of 100000×3×224×224/m);
});

test("bench's check: an input within the array limit but beyond the machine's memory names both options too", () => {
  const m = createModel('convnext_atto');
  // 64 × 3 × 1024² = 201M input values (805 MB) alone exceed 90% of a 512 MB machine.
  assert.throws(
    () => checkInferenceInputSize(m, 1024, 64, 512 * 2 ** 20),
    (e: unknown) => e instanceof ConfigError && /^--size 1024 with --batch 64 would need about \d+\.\d GiB to run convnext_atto .*more than this machine's 0\.5 GiB allow; use a smaller --size or --batch$/.test(e.message),
  );
  // Its activations count: at 512² a batch of 8 (6.3M input values, 25 MB) needs more than 64 MB.
  assert.throws(() => checkInferenceInputSize(m, 512, 8, 64 * 2 ** 20), (e: unknown) => e instanceof ConfigError && /--size 512 with --batch 8/.test(e.message));
  assert.doesNotThrow(() => checkInferenceInputSize(m, 224, 1, 2 ** 30));
  // A size a layer refuses is named as well (CMT runs at its img_size only).
  assert.throws(() => checkInferenceInputSize(createModel('cmt_ti'), 256, 1, 2 ** 34), (e: unknown) => e instanceof ConfigError && /^--size 256 does not fit cmt_ti/.test(e.message));
});

test('train --config with a huge depth is an error naming the key, and no run folder is created', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vm-bounds-'));
  try {
    const out = join(dir, 'run');
    const train = ['train', '--model', 'convnext', '--data', 'fashion-mnist:bundled', '--epochs', '1', '--out', out];
    typedError([...train, '--config', '{"depths":[1000000,1,1,1],"dims":[8,16,32,64]}'], /^error: config 'depths\[0\]' of family 'convnext' must be int in \[1, 256\], got 1000000/m);
    typedError([...train, '--config', '{"depths":[1,1,1,1],"dims":[16384,16,32,64]}'], /^error: this convnext config has ~2\.15G parameters .*'dims\[0\]' = 16384/m);
    assert.ok(!existsSync(out), 'no run folder');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
