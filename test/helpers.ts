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
