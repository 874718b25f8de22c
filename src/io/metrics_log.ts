/** metrics.jsonl: one JSON object per line, appended as training goes. */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DataError } from '../errors.js';
import { faultPauseAppend } from './fault.js';

function reason(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

export class MetricsLog {
  constructor(readonly path: string) {}

  /**
   * Start a fresh log, or (resume) keep exactly the first `keepLines` records. A log with fewer
   * complete records than the checkpoint counted was truncated or replaced: continuing it would
   * leave a hole in the run's history, so that is a DataError.
   */
  open(keepLines?: number): void {
    try {
      if (keepLines === undefined) {
        writeFileSync(this.path, '');
        return;
      }
      // Records written after the checkpoint we resume from would be duplicated: cut them (and any
      // line a crash left half-written, which is always the last one).
      const text = existsSync(this.path) ? readFileSync(this.path, 'utf8') : '';
      const lines = text.split('\n');
      const complete = lines.slice(0, -1).filter((l) => l.length > 0); // the part after the last \n is unfinished
      if (complete.length < keepLines)
        throw new DataError(
          `${this.path} has ${complete.length} complete records but the checkpoint was written after ${keepLines}; ` +
            `the log was truncated or replaced, so resuming would lose part of the run's history`,
        );
      // Through a temp file and a rename: a crash while cutting the log must not lose the records
      // the checkpoint counts (then no resume would be possible).
      const dir = dirname(this.path);
      const tmp = join(dir, `.${basename(this.path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
      writeFileSync(tmp, complete.slice(0, keepLines).map((l) => l + '\n').join(''));
      renameSync(tmp, this.path);
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new DataError(`cannot write ${this.path} (${reason(err)})`);
    }
  }

  write(record: Record<string, unknown>): void {
    const line = JSON.stringify(record) + '\n';
    try {
      const half = line.length >> 1;
      if (process.env.VISIONMIX_FAULT_PAUSE_APPEND) {
        // Crash tests: two appends with a pause between them (io/fault.ts).
        appendFileSync(this.path, line.slice(0, half));
        faultPauseAppend(this.path);
        appendFileSync(this.path, line.slice(half));
      } else {
        appendFileSync(this.path, line);
      }
    } catch (err) {
      throw new DataError(`cannot append to ${this.path} (${reason(err)})`);
    }
  }

  static read(path: string): Record<string, number | string>[] {
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, number | string>];
        } catch {
          return []; // a line cut by a crash
        }
      });
  }
}
