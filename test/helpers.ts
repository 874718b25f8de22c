/** Test helpers: locate the repo and the shared golden data (never copied into the repo). */
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

/**
 * The `skip` option of a golden test: skipped (with the reason) when the golden folder is missing,
 * except under CI (`CI` set), where a missing folder must fail the run rather than pass it silently.
 */
export function goldenSkip(family: string): string | false {
  if (hasGolden(family) || process.env.CI) return false;
  return `no ../shared/golden/${family}`;
}
