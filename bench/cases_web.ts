/**
 * The browser entry's size: `visionmix/web` bundled and minified by esbuild, gzipped, onnxruntime-web
 * left out (a peer dependency with its own wasm). Goal (issue 22): under 300 kB. A note, not a timing row.
 */
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { findPackageRoot } from '../src/io/package_root.js';
import type { BenchCase } from './types.js';

/** Minified and gzipped bytes of the web entry's bundle, without onnxruntime-web. */
export async function webBundleSize(): Promise<{ minified: number; gzipped: number }> {
  const r = await esbuild.build({
    entryPoints: [join(findPackageRoot(), 'src', 'web.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    external: ['onnxruntime-web', 'onnxruntime-web/*'],
    logLevel: 'silent',
  });
  const code = r.outputFiles[0]!.contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

export function webBundleCase(goalBytes = 300_000): BenchCase {
  return {
    id: 'web/bundle-size',
    async run(ctx) {
      const { minified, gzipped } = await webBundleSize();
      const kb = (n: number) => `${(n / 1000).toFixed(1)} kB`;
      ctx.note(
        `visionmix/web bundle (esbuild, minified, onnxruntime-web excluded): ${kb(minified)}, ${kb(gzipped)} gzipped ` +
          `(goal < ${kb(goalBytes)} gzipped: ${gzipped < goalBytes ? 'met' : 'NOT met'}). onnxruntime-web's own wasm (~12-25 MB) comes on top.`,
      );
      return [];
    },
  };
}
