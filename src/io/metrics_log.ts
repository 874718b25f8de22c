/**
 * metrics.jsonl: one JSON object per line, appended as training goes. The first line is a header
 * record `{"run_id": …}` naming the run the records belong to, so that resume can refuse to append
 * another run's history to it (logs of older versions have no header; they are read as before).
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DataError } from '../errors.js';
import { faultPauseAppend } from './fault.js';
import { errorReason, readTextIfExists } from './files.js';

/** The header record's key; a record with it and without `step`/`epoch` is the header. */
const RUN_ID_KEY = 'run_id';

function isHeader(record: Record<string, unknown>): boolean {
  return typeof record[RUN_ID_KEY] === 'string' && record.step === undefined && record.epoch === undefined;
}

/** The header line of `lines` (complete lines of a log), or null for logs without one. */
function headerOf(lines: readonly string[]): string | null {
  if (lines.length === 0) return null;
  try {
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    return first !== null && typeof first === 'object' && isHeader(first) ? lines[0]! : null;
  } catch {
    return null;
  }
}

export class MetricsLog {
  constructor(readonly path: string) {}

  /**
   * The run id recorded in the log's header; null when there is no log, it is empty, or it was
   * written before logs had a header.
   */
  static runId(path: string): string | null {
    const text = readTextIfExists(path);
    if (text === null) return null;
    const header = headerOf(text.split('\n').slice(0, -1));
    return header === null ? null : (JSON.parse(header) as Record<string, string>)[RUN_ID_KEY]!;
  }

  /**
   * Start a fresh log for run `runId` (its header record), or (resume) keep the header and exactly
   * the first `keepLines` records. A log with fewer complete records than the checkpoint counted was
   * truncated or replaced: continuing it would leave a hole in the run's history, so that is a
   * DataError. (Whether the log is the checkpoint's run's is checked before, with `runId()`.)
   */
  open(runId: string, keepLines?: number): void {
    const headerLine = JSON.stringify({ [RUN_ID_KEY]: runId });
    try {
      if (keepLines === undefined) {
        writeFileSync(this.path, headerLine + '\n');
        return;
      }
      // Records written after the checkpoint we resume from would be duplicated: cut them (and any
      // line a crash left half-written, which is always the last one).
      const text = existsSync(this.path) ? readFileSync(this.path, 'utf8') : '';
      const lines = text.split('\n');
      let complete = lines.slice(0, -1).filter((l) => l.length > 0); // the part after the last \n is unfinished
      // Logs of older versions have no header: they get one now.
      const found = headerOf(complete);
      if (found !== null) complete = complete.slice(1);
      const header = found ?? headerLine;
      if (complete.length < keepLines)
        throw new DataError(
          `${this.path} has ${complete.length} complete records but the checkpoint was written after ${keepLines}; ` +
            `the log was truncated or replaced, so resuming would lose part of the run's history`,
        );
      // Through a temp file and a rename: a crash while cutting the log must not lose the records
      // the checkpoint counts (then no resume would be possible).
      const dir = dirname(this.path);
      const tmp = join(dir, `.${basename(this.path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
      writeFileSync(tmp, [header, ...complete.slice(0, keepLines)].map((l) => l + '\n').join(''));
      renameSync(tmp, this.path);
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new DataError(`cannot write ${this.path} (${errorReason(err)})`);
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
      throw new DataError(`cannot append to ${this.path} (${errorReason(err)})`);
    }
  }

  /** The step and epoch records of a log (the header left out). */
  static read(path: string): Record<string, number | string>[] {
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .flatMap((l) => {
        try {
          const record = JSON.parse(l) as Record<string, number | string>;
          return isHeader(record) ? [] : [record];
        } catch {
          return []; // a line cut by a crash
        }
      });
  }
}
