/** metrics.jsonl: one JSON object per line, appended as training goes. */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

export class MetricsLog {
  constructor(readonly path: string) {}

  /** Start a fresh log, or (resume) keep exactly the first `keepLines` records. */
  open(keepLines?: number): void {
    if (keepLines === undefined || !existsSync(this.path)) {
      writeFileSync(this.path, '');
      return;
    }
    // Records written after the checkpoint we resume from would be duplicated: cut them (and any
    // line a crash left half-written).
    const lines = readFileSync(this.path, 'utf8').split('\n').filter((l) => l.length > 0);
    writeFileSync(this.path, lines.slice(0, keepLines).map((l) => l + '\n').join(''));
  }

  write(record: Record<string, unknown>): void {
    appendFileSync(this.path, JSON.stringify(record) + '\n');
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
