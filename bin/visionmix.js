#!/usr/bin/env node
// The `visionmix` command. The CLI is written in TypeScript and compiled to dist/; this stub only
// loads it, so that a fresh checkout gets a clear hint instead of a module-not-found stack.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);

if (!existsSync(entry)) {
  process.stderr.write('visionmix: the CLI is not built yet; run `npm run build` first\n');
  process.exit(1);
}

// ONNX Runtime's bundled telemetry (1DS) otherwise leaves an empty /tmp/mat-debug-<pid>.log behind
// every process that creates a session; this variable, read when its environment starts, turns it
// off. A value the user set is kept. (Library users: see README, "ONNX Runtime telemetry".)
process.env.ORT_DISABLE_TELEMETRY ??= '1';

const { main } = await import(entry.href);
// exitCode rather than process.exit(): pending stdout writes to a pipe are flushed before exit.
process.exitCode = await main(process.argv.slice(2));
