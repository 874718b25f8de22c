/**
 * Where the CLI's warnings go: set by `main` to a plain `warning: …` line on its stderr, and given
 * to the engine whenever a command takes it (cli/engine.ts), so that nothing is printed as Node's
 * `(node:1234) [VISIONMIX] Warning: …`.
 */
let sink: ((message: string) => void) | null = null;

export function setWarningSink(fn: ((message: string) => void) | null): void {
  sink = fn;
}

export function warningSink(): ((message: string) => void) | null {
  return sink;
}
