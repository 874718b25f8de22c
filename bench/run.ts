/**
 * The benchmark suite: `npm run bench` (= `tsc -p . && node dist/bench/run.js`).
 *
 * What it measures, in one process, so that every figure is a measurement or a ratio of this run:
 *  1. the GEMM peak (2048³ fp32 MatMul through our runtime, same thread count) — before the cases
 *     and again after them; the larger of the two is "peak", and their ratio shows drift (a
 *     neighbour starting to compute, thermal limits) that would make the other ratios doubtful;
 *  2. the `cases`: fp32 inference of ConvNeXt-T and ConvNeXt V2-T at batch 1 and 8, 224², and a
 *     peer comparison, the same serialized ONNX graph on onnxruntime-node and onnxruntime-web (wasm).
 * It prints the tables and writes BENCHMARKS.md at the repository root.
 *
 * Adding benchmarks: write a function returning a `BenchCase` (types.ts) in a `cases_*.ts` file and put
 * it in `cases` (cases.ts). A case returns `BenchRow`s for one of the `SECTIONS` (tables.ts); rows that
 * carry `flopsPerImage` get GFLOP/s and a fraction of the GEMM peak computed for them at the end.
 *
 * The files, by concern: types.ts (the extension points), cases_inference.ts, cases_training.ts and
 * cases_data.ts (the cases), cases.ts (the suite's list), ratios.ts (same-run ratios and their goals),
 * tables.ts (columns and section texts), suite.ts (running), render.ts (console text and BENCHMARKS.md),
 * and this file, the command line.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defineCommand, parseCommand, renderHelp } from '../src/cli/args.js';
import { VisionmixError } from '../src/errors.js';
import { renderMarkdown, renderText } from './render.js';
import { runSuite } from './suite.js';

// ---- command line ------------------------------------------------------------------------------------

const spec = defineCommand({
  name: 'bench',
  program: 'node dist/bench/run.js',
  summary: 'Run the benchmark suite, print the tables and write BENCHMARKS.md',
  options: {
    threads: { type: 'int', min: 1, default: 2, description: 'intra-op threads for every runtime' },
    only: { type: 'string', placeholder: 'text', description: 'run only cases whose id contains this text (GEMM peaks always run)' },
    out: { type: 'string', placeholder: 'file', description: 'report path (default: BENCHMARKS.md at the repository root)' },
    write: { type: 'boolean', default: true, description: 'write the report file' },
  },
});

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (parsed.help) {
    process.stdout.write(`${renderHelp(spec)}\n`);
    return 0;
  }
  const { threads, only, out, write } = parsed.values;
  const result = await runSuite({ threads, only });
  process.stdout.write(`${renderText(result)}\n`);
  if (write) {
    const path = resolve(out ?? join(repoRoot(), 'BENCHMARKS.md'));
    writeFileSync(path, renderMarkdown(result));
    process.stderr.write(`wrote ${path}\n`);
  }
  return 0;
}

// Run only as a script: importing this module (to reuse `cases` or the renderers) must not start it.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(err instanceof VisionmixError ? `error: ${err.message}\n` : `${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
