/**
 * A node:test reporter that records every skipped test as one JSON line `{ file, name, reason }`,
 * and `summariseSkips`, which turns those records into the one line `scripts/run_tests.mjs` ends with.
 *
 * Skips for missing ../shared data are worded by `sharedSkip` in test/helpers.ts:
 * `needs ../shared: <path> is missing (…)`. They are summed up as one group naming the missing paths;
 * any other reason is named with its count.
 */
export default async function* skipReporter(source) {
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.skip !== undefined && event.data.skip !== false) {
      const reason = typeof event.data.skip === 'string' && event.data.skip !== '' ? event.data.skip : '(no reason given)';
      yield `${JSON.stringify({ file: event.data.file, name: event.data.name, reason })}\n`;
    }
  }
}

const SHARED = /^needs \.\.\/shared: (.*?) is missing\b/;

/** One line: how many tests were skipped, grouped by reason (the ../shared ones by missing path). */
export function summariseSkips(records) {
  if (records.length === 0) return 'run_tests: no test was skipped';
  const shared = new Map(); // missing path → count
  const other = new Map(); // reason → count
  for (const { reason } of records) {
    const m = SHARED.exec(reason);
    if (m) shared.set(m[1], (shared.get(m[1]) ?? 0) + 1);
    else other.set(reason, (other.get(reason) ?? 0) + 1);
  }
  const parts = [];
  if (shared.size) {
    const n = [...shared.values()].reduce((a, b) => a + b, 0);
    parts.push(`${n} need ../shared data that is missing (${[...shared.keys()].join(', ')}; with CI=true they fail instead)`);
  }
  for (const [reason, n] of other) parts.push(`${n} ${reason}`);
  return `run_tests: ${records.length} test${records.length === 1 ? '' : 's'} skipped: ${parts.join('; ')}`;
}
