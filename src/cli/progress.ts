/**
 * Progress bars for long work (training epochs, feature extraction, downloads, benchmarks).
 *
 * Two output modes, picked from the stream:
 * - TTY: one line redrawn in place (`\r` + clear-to-end-of-line), throttled to ~10 redraws per
 *   second, so calling `tick()` once per image in a hot loop costs a clock read and a compare.
 * - not a TTY (CI logs, pipes, `| tee`): a plain line only every N percent (default 10%) or every
 *   M seconds, plus the final line, so a 100-epoch run leaves a log that a human can still read.
 *
 * The throughput is an exponential moving average over time (not over ticks), so it means the same
 * whether `tick()` is called per image or per batch, and it follows speed changes (warm-up, thermal
 * throttling, a slow data loader) within a few seconds. The clock is injectable for tests.
 */
import { ConfigError } from '../errors.js';

/** The part of a `NodeJS.WriteStream` a progress bar needs; a fake is enough in tests. */
export interface ProgressStream {
  write(chunk: string): unknown;
  /** True for terminals: enables in-place redraws. */
  isTTY?: boolean;
  /** Terminal width; lines are fitted to it so that they never wrap (wrapping breaks `\r`). */
  columns?: number;
}

export interface ProgressBarOptions {
  /** Amount of work, in `unit`s. Missing or 0: unknown total (no bar, percent or ETA). */
  total?: number;
  /** Text in front of the bar, e.g. `train ep 2/10`. */
  label?: string;
  /** What `tick()` counts: `img`, `step`, `batch`, `B`, ... (default `it`). */
  unit?: string;
  /**
   * Unit of the displayed rate when it differs from `unit`: counting `step`s but showing `img/s`.
   * Each `unit` is worth `rateScale` rate units (the batch size in that example).
   */
  rateUnit?: string;
  /** Rate units per counted unit (default 1). */
  rateScale?: number;
  /** Where to draw (default `process.stderr`, so that stdout stays clean for results). */
  stream?: ProgressStream;
  /** Force TTY (in-place) or plain-line mode instead of asking the stream. */
  tty?: boolean;
  /** Clock in milliseconds (default `performance.now`). Injected by tests. */
  now?: () => number;
  /** Width of the `[###...]` bar in characters (default 20; shrunk to fit narrow terminals). */
  barWidth?: number;
  /** TTY mode: minimum milliseconds between redraws (default 100, i.e. at most ~10/s). */
  redrawIntervalMs?: number;
  /** Plain mode: print a line each time another `logEveryPercent` of the total is done (default 10). */
  logEveryPercent?: number;
  /**
   * Plain mode: also print a line when this many seconds passed since the last one. Default: off
   * when the total is known, 30 s when it is not (then percent steps cannot trigger a line).
   */
  logEverySeconds?: number;
  /** Time constant of the rate's moving average, in seconds (default 5). */
  smoothingSeconds?: number;
  /**
   * Work already done before this bar started (a resumed epoch): shown in the count and the
   * percentage, but not in the rate or ETA, which describe only what this process does.
   */
  initial?: number;
}

/** Extra values shown after the counts, e.g. `{ loss: 0.412, acc: 0.861 }`. */
export type ProgressFields = Readonly<Record<string, string | number>>;

/** Rate samples closer together than this are merged: a rate over microseconds is only noise. */
const MIN_SAMPLE_MS = 50;
const CLEAR_LINE = '\x1b[K';

export class ProgressBar {
  readonly total: number | undefined;
  readonly label: string;
  readonly unit: string;
  private readonly rateUnit: string;
  private readonly rateScale: number;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly barWidth: number;
  private readonly redrawIntervalMs: number;
  private readonly logEveryPercent: number;
  private readonly logEveryMs: number;
  private readonly tauMs: number;

  private count = 0;
  /** Units done before the bar started (`initial`): excluded from rates. */
  private readonly initial: number;
  private readonly fields = new Map<string, string | number>();
  private readonly startMs: number;
  /** Smoothed throughput in counted units per second; undefined until the first sample. */
  private emaRate: number | undefined;
  private sampleMs: number;
  private sampleCount = 0;
  /** Last in-place redraw (TTY) or last printed line (plain). */
  private lastOutputMs = -Infinity;
  /** Plain mode: index of the last percent step that was printed. */
  private lastPercentStep = 0;
  /** Something changed since the last output line (so `done()` knows whether to print again). */
  private dirty = false;
  private printedAny = false;
  private finished = false;

  constructor(options: ProgressBarOptions = {}) {
    const { total } = options;
    if (total !== undefined && !(Number.isFinite(total) && total >= 0)) {
      throw new ConfigError(`ProgressBar: total must be a finite number >= 0 (got ${total})`);
    }
    this.total = total !== undefined && total > 0 ? total : undefined;
    this.label = options.label ?? '';
    this.unit = options.unit ?? 'it';
    this.rateUnit = options.rateUnit ?? this.unit;
    this.rateScale = positiveOption('rateScale', options.rateScale, 1);
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.now = options.now ?? (() => performance.now());
    this.barWidth = Math.floor(positiveOption('barWidth', options.barWidth, 20));
    this.redrawIntervalMs = nonNegativeOption('redrawIntervalMs', options.redrawIntervalMs, 100);
    this.logEveryPercent = positiveOption('logEveryPercent', options.logEveryPercent, 10);
    const everySeconds = positiveOption(
      'logEverySeconds',
      options.logEverySeconds,
      this.total === undefined ? 30 : Infinity,
    );
    this.logEveryMs = everySeconds * 1000;
    this.tauMs = positiveOption('smoothingSeconds', options.smoothingSeconds, 5) * 1000;
    this.initial = nonNegativeOption('initial', options.initial, 0);
    this.count = this.initial;
    this.sampleCount = this.initial;
    this.startMs = this.now();
    this.sampleMs = this.startMs;
    // Plain mode measures "every M seconds" from the start, not from a line that was never printed.
    if (!this.tty) this.lastOutputMs = this.startMs;
  }

  /** Units done so far. */
  get value(): number {
    return this.count;
  }

  /** Adds `n` units of finished work (default 1) and merges `fields` into the shown values. */
  tick(n = 1, fields?: ProgressFields): void {
    this.update(this.count + n, fields);
  }

  /** Sets the absolute amount of finished work and merges `fields` into the shown values. */
  update(done: number, fields?: ProgressFields): void {
    if (this.finished) return;
    if (!Number.isFinite(done)) {
      throw new ConfigError(`ProgressBar.update: done must be a finite number (got ${done})`);
    }
    const before = this.count;
    this.count = done;
    if (fields !== undefined) for (const key in fields) this.fields.set(key, fields[key]!);
    this.dirty = true;

    const t = this.now();
    this.sampleRate(t);
    // Reaching the total is always shown at once, even inside the throttle window.
    const justCompleted = this.total !== undefined && done >= this.total && before < this.total;

    if (this.tty) {
      // The only per-tick cost in the common case: one clock read and this compare.
      if (justCompleted || t - this.lastOutputMs >= this.redrawIntervalMs) this.redraw(t);
      return;
    }
    let due = t - this.lastOutputMs >= this.logEveryMs;
    if (this.total !== undefined) {
      const step = Math.floor(((done / this.total) * 100) / this.logEveryPercent);
      if (step > this.lastPercentStep) {
        this.lastPercentStep = step;
        due = true;
      }
    }
    if (due) this.printLine(t);
  }

  /**
   * Writes a message without garbling the bar: in TTY mode the bar line is cleared, the message
   * printed, and the bar drawn again below it.
   */
  log(message: string): void {
    if (this.tty && this.printedAny && !this.finished) {
      this.stream.write(`\r${CLEAR_LINE}${message}\n`);
      this.redraw(this.now());
    } else {
      this.stream.write(`${message}\n`);
    }
  }

  /** Finishes the bar: draws the final line (average rate, elapsed time) and ends it. Idempotent. */
  done(fields?: ProgressFields): void {
    if (this.finished) return;
    if (fields !== undefined) {
      for (const key in fields) this.fields.set(key, fields[key]!);
      this.dirty = true;
    }
    const t = this.now();
    this.finished = true;
    if (this.tty) {
      this.redraw(t);
      this.stream.write('\n');
    } else if (this.dirty || !this.printedAny) {
      this.printLine(t);
    }
  }

  /** The current status line, as it would be drawn now (no color, no control characters). */
  render(maxWidth?: number): string {
    return this.format(this.now(), maxWidth);
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Folds the work done since the last sample into the moving-average rate. */
  private sampleRate(t: number): void {
    const dt = t - this.sampleMs;
    if (dt < MIN_SAMPLE_MS) return;
    const dCount = this.count - this.sampleCount;
    this.sampleMs = t;
    this.sampleCount = this.count;
    // `update()` may move backwards (a restarted counter): that is not negative throughput.
    if (dCount < 0) return;
    const instant = (dCount / dt) * 1000;
    if (this.emaRate === undefined) {
      this.emaRate = instant;
    } else {
      // Time-weighted EMA: a sample spanning dt counts 1 - exp(-dt/tau), so the smoothing does not
      // depend on how often the caller ticks.
      const alpha = 1 - Math.exp(-dt / this.tauMs);
      this.emaRate += alpha * (instant - this.emaRate);
    }
  }

  private redraw(t: number): void {
    this.lastOutputMs = t;
    this.dirty = false;
    this.printedAny = true;
    const columns = this.stream.columns;
    const maxWidth = columns !== undefined && columns > 1 ? columns - 1 : undefined;
    this.stream.write(`\r${this.format(t, maxWidth)}${CLEAR_LINE}`);
  }

  private printLine(t: number): void {
    this.lastOutputMs = t;
    this.dirty = false;
    this.printedAny = true;
    this.stream.write(`${this.format(t)}\n`);
  }

  private format(t: number, maxWidth?: number): string {
    const elapsedS = Math.max(0, t - this.startMs) / 1000;
    const complete = this.finished || (this.total !== undefined && this.count >= this.total);

    // Counted units per second. At the end, the average over the whole run is the honest summary;
    // during the run, the moving average says how fast it goes now.
    let unitRate: number | undefined;
    if (complete) unitRate = elapsedS > 0 ? (this.count - this.initial) / elapsedS : undefined;
    else unitRate = this.emaRate;

    const head: string[] = [];
    if (this.label) head.push(this.label);
    let percent = '';
    if (this.total !== undefined) {
      const frac = Math.min(1, Math.max(0, this.count / this.total));
      percent = `${Math.floor(frac * 100)}%`;
    }
    const counts =
      this.total !== undefined
        ? `${formatCount(this.count)}/${formatCount(this.total)} ${this.unit}`
        : `${formatCount(this.count)} ${this.unit}`;
    const tail = [counts];
    for (const [key, value] of this.fields) tail.push(`${key} ${formatMetric(value)}`);
    const rate =
      unitRate === undefined ? `-- ${this.rateUnit}/s` : formatRate(unitRate * this.rateScale, this.rateUnit);
    let timing: string;
    if (complete) timing = `elapsed ${formatDuration(elapsedS)}`;
    else if (this.total !== undefined && unitRate !== undefined && unitRate > 0) {
      timing = `ETA ${formatDuration((this.total - this.count) / unitRate)}`;
    } else if (this.total !== undefined) timing = 'ETA --';
    else timing = `elapsed ${formatDuration(elapsedS)}`;

    const compose = (barWidth: number): string => {
      const parts = [...head];
      if (this.total !== undefined) {
        if (barWidth > 0) {
          const filled = Math.floor(Math.min(1, Math.max(0, this.count / this.total)) * barWidth);
          parts.push(`[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`);
        }
        parts.push(percent);
      }
      parts.push(...tail);
      return `${parts.join(' ')} | ${rate} | ${timing}`;
    };

    let line = compose(this.barWidth);
    if (maxWidth !== undefined && line.length > maxWidth) {
      // Give up bar characters first; a bar under 4 characters says nothing, so drop it then.
      const shrunk = this.barWidth - (line.length - maxWidth);
      line = compose(shrunk >= 4 ? shrunk : 0);
      if (line.length > maxWidth) line = line.slice(0, maxWidth);
    }
    return line;
  }
}

function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0)) throw new ConfigError(`ProgressBar: ${name} must be > 0 (got ${value})`);
  return value;
}

function nonNegativeOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value >= 0) || !Number.isFinite(value)) {
    throw new ConfigError(`ProgressBar: ${name} must be a finite number >= 0 (got ${value})`);
  }
  return value;
}

// ---- format helpers (also used by tables and reports) ---------------------------------------------

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/**
 * A duration for humans, precise where it matters and short where it does not:
 * `950ms`, `12.3s`, `4m05s`, `1h02m`, `2d03h`. Negative or non-finite: `--`.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  // Each branch rounds first and compares the rounded value, so 59.96 s becomes `1m00s`, not `60.0s`.
  const ms = Math.round(seconds * 1000);
  if (ms < 1000) return `${ms}ms`;
  const tenths = Math.round(seconds * 10);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const secs = Math.round(seconds);
  if (secs < 3600) return `${Math.floor(secs / 60)}m${pad2(secs % 60)}s`;
  const mins = Math.round(seconds / 60);
  if (mins < 24 * 60) return `${Math.floor(mins / 60)}h${pad2(mins % 60)}m`;
  const hours = Math.round(seconds / 3600);
  return `${Math.floor(hours / 24)}d${pad2(hours % 24)}h`;
}

const SI_SUFFIXES = ['', 'k', 'M', 'G', 'T', 'P'];

/** Three significant digits with an SI suffix: 128k, 1.28M, 12.8G. */
function compact(n: number): string {
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  let i = 0;
  while (i < SI_SUFFIXES.length - 1 && Number(v.toPrecision(3)) >= 1000) {
    v /= 1000;
    i++;
  }
  // Number() also turns toPrecision's exponent form (only possible past the last suffix) into digits.
  return `${sign}${Number(v.toPrecision(3))}${SI_SUFFIXES[i]}`;
}

/**
 * A count: exact below 100 000 (`1234`, `98304`), then three significant digits with an SI suffix
 * (`128k`, `1.28M`, `28.6M`).
 */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) < 1e5) return String(Math.round(n));
  return compact(n);
}

/**
 * A throughput: `212.3 img/s`, `2345 img/s`, `128k tok/s`; below 1 per second it is shown as time per
 * unit, `3.2s/step`, which is how slow steps are easiest to read. Unknown: `-- img/s`.
 */
export function formatRate(perSecond: number, unit = 'it'): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return `-- ${unit}/s`;
  if (perSecond < 1) return `${formatDuration(1 / perSecond)}/${unit}`;
  if (perSecond < 1000) return `${perSecond.toFixed(1)} ${unit}/s`;
  if (perSecond < 1e5) return `${Math.round(perSecond)} ${unit}/s`;
  return `${compact(perSecond)} ${unit}/s`;
}

/**
 * A metric value in a status line: integers as they are, `0.412`, `12.346`, small values such as
 * learning rates in exponent form (`4.00e-4`). Strings pass through.
 */
export function formatMetric(value: string | number): string {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(1);
  if (abs >= 0.01) return value.toFixed(3);
  return value.toExponential(2);
}
