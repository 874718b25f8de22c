/**
 * Exported ONNX files run through `loadOnnxModel` (issue 24 §6): fp32, fp16 weights, dynamic and static
 * int8 files of a small ConvNeXt, in Node against the model's own `run`, and in Chromium (wasm) against
 * the same file in Node; the file's labels come with it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, exportOnnx, loadOnnxModel, Tensor, type ExportOnnxOptions } from '../../src/index.js';
import { ConfigError } from '../../src/errors.js';
import { browserSkip, fromBase64F32, PAGE_HELPERS, startHarness, type Harness } from './harness.js';

const SPEC = { family: 'convnext', depths: [1, 1, 1, 1], dims: [16, 32, 48, 64], num_classes: 5 } as const;
const LABELS = ['ant', 'bee', 'cat', 'dog', 'eel'];
const S = 64;

/** Deterministic images [n, 3, S, S]. */
function images(n: number, seed: number): Tensor {
  const d = new Float32Array(n * 3 * S * S);
  for (let i = 0; i < d.length; i++) d[i] = Math.sin(seed * 7.1 + i * 0.013) * 1.5;
  return new Tensor(d, [n, 3, S, S], 'float32');
}

const FILES: Record<string, Partial<ExportOnnxOptions>> = {
  fp32: {},
  fp16: { dtype: 'float16' },
  int8_dynamic: { dtype: 'int8' },
  int8_static: { dtype: 'int8', quantization: 'static', calibration: { images: images(8, 3) } },
};

let dir: string;
let h: Harness | undefined;
const skip = browserSkip();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'visionmix-onnx-files-'));
  const m = createModel(SPEC, { seed: 2 });
  for (const [name, o] of Object.entries(FILES)) await exportOnnx(m, { path: join(dir, `${name}.onnx`), size: S, labels: LABELS, ...o });
  if (!skip) {
    h = await startHarness();
    for (const name of Object.keys(FILES)) h.server.put(`/files/${name}.onnx`, readFileSync(join(dir, `${name}.onnx`)));
  }
});
after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

test('Node: every exported file loads with loadOnnxModel, runs a batch, and classifies with its labels', async () => {
  const m = createModel(SPEC, { seed: 2 });
  const x = images(3, 1);
  const want = (await m.run(x)).logits.data as Float32Array;
  // fp32 and fp16 weights compute in float32: the model's logits; int8 within its quantization error.
  const tolerance: Record<string, number> = { fp32: 1e-5, fp16: 5e-3, int8_dynamic: 0.1, int8_static: 0.15 };
  for (const name of Object.keys(FILES)) {
    const f = await loadOnnxModel(join(dir, `${name}.onnx`));
    try {
      assert.deepEqual(f.labels, LABELS);
      assert.equal(f.inputName, 'pixel_values');
      assert.deepEqual(f.transform, undefined, 'a custom config has no eval transform to record');
      const got = (await f.run(x)).logits!.data as Float32Array;
      assert.ok(maxDiff(got, want) <= tolerance[name]! * maxAbs(want), `${name}: max difference ${maxDiff(got, want)} of ${maxAbs(want)}`);
      const top = await f.classify(x, 2);
      assert.equal(top.length, 3);
      assert.ok(top.every((t) => t.length === 2 && LABELS.includes(t[0]!.label)));
      await assert.rejects(f.run(new Tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32], 'float32')), (e: unknown) => e instanceof ConfigError && /does not fit the file's pixel_values \[batch, 3, 64, 64\]/.test((e as Error).message));
    } finally {
      await f.release();
    }
  }
  await assert.rejects(loadOnnxModel(join(dir, 'missing.onnx')), (e: unknown) => e instanceof ConfigError && /cannot read ONNX file/.test((e as Error).message));
});

test('Chromium (wasm): the fp32, fp16, dynamic and static int8 files run through visionmix/web as in Node', { skip }, async (t) => {
  const page = await h!.page();
  await page.evaluate(PAGE_HELPERS);
  try {
    const x = images(2, 5);
    for (const name of Object.keys(FILES)) {
      const f = await loadOnnxModel(join(dir, `${name}.onnx`));
      const want = (await f.run(x)).logits!.data as Float32Array;
      await f.release();
      const got = (await page.evaluate(
        async (url: string, xs: string, shape: number[]) => {
          const vm = (window as any).vm;
          (window as any).wasm ??= vm.createEngine({ device: 'wasm', numThreads: 1 });
          const m = await vm.loadOnnxModel(url, { engine: (window as any).wasm });
          const data = new Float32Array(Uint8Array.from(atob(xs), (c) => c.charCodeAt(0)).buffer);
          const out = await m.run(new vm.Tensor(data, shape, 'float32'));
          const top = await m.classify(new vm.Tensor(data, shape, 'float32'), 1);
          await m.release();
          return { logits: (window as any).b64(out.logits.data), labels: m.labels, top: top[0][0].label };
        },
        `/files/${name}.onnx`,
        Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength).toString('base64'),
        x.shape,
      )) as { logits: string; labels: string[]; top: string };
      assert.deepEqual(got.labels, LABELS);
      const logits = fromBase64F32(got.logits);
      const d = maxDiff(logits, want);
      assert.ok(d <= 1e-4 * maxAbs(want), `${name}: browser vs Node ${d} of ${maxAbs(want)}`);
      assert.ok(LABELS.includes(got.top));
      t.diagnostic(`${name}: browser vs Node max difference ${(d / maxAbs(want)).toExponential(2)} of the largest logit`);
    }
  } finally {
    await page.close();
  }
});
