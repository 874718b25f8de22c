/** Test helpers: locate the repo and the shared golden data (never copied into the repo). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: the nearest folder above this file with a package.json. */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('test/helpers: no package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

/** ../shared beside the checkout, or $VISIONMIX_SHARED. */
export const sharedDir: string = process.env.VISIONMIX_SHARED ?? resolve(repoRoot, '..', 'shared');

export function goldenDir(family: string): string {
  return join(sharedDir, 'golden', family);
}

export function hasGolden(family: string): boolean {
  return existsSync(join(goldenDir(family), 'cases.json'));
}

/** True when running in CI (`CI` set to anything but empty, `0` or `false`, as CI services do). */
export function isCI(): boolean {
  const v = process.env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * Every skip for missing ../shared data starts with this, so that `scripts/run_tests.mjs` can sum them
 * up in its last line.
 */
export const SHARED_SKIP_PREFIX = 'needs ../shared:';

/**
 * The `skip` option of a test that reads `rel` (a path under ../shared or $VISIONMIX_SHARED): a reason
 * when it is missing, false when it is there. Under CI a missing file is never a skip — the test runs
 * and fails, since a CI run without its reference data proves nothing.
 */
export function sharedSkip(rel: string): string | false {
  const path = join(sharedDir, rel);
  if (existsSync(path) || isCI()) return false;
  return `${SHARED_SKIP_PREFIX} ${path} is missing (skipped outside CI; with CI=true this fails)`;
}

/** `sharedSkip` for the golden data of a family (../shared/golden/<family>/cases.json). */
export function goldenSkip(family: string): string | false {
  return sharedSkip(join('golden', family, 'cases.json'));
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/**
 * Run `node bin/visionmix.js …args` from the repository root and wait for it. `env` entries
 * replace (or, when undefined, remove) variables of this process's environment.
 */
export function runCli(args: readonly string[], opts: { timeoutMs?: number; env?: Record<string, string | undefined> } = {}): CliResult {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'visionmix.js'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    env: env as NodeJS.ProcessEnv,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, pid: r.pid ?? -1 };
}

/** Stack frames look like `    at fn (file:line:col)`; typed errors must not print them. */
export const STACK_FRAME = /^\s+at /m;
