/**
 * Dependency-free SVG charts for reports: line charts (training curves, scaling plots), horizontal bar
 * charts (model comparisons) and a two-panel training summary.
 *
 * Pure functions from data to an SVG document string: no `node:` imports and no DOM, so the same
 * code runs in Node and in browsers. Output is a standalone `<svg xmlns=...>` document that opens in
 * a browser and embeds in Markdown. Text sizes are estimated from character counts (there is no
 * font engine here), which is accurate enough for labels and legends in a sans-serif font.
 *
 * Robustness rules: non-finite points are skipped (they break a line into segments rather than
 * being joined across the gap), a single point is drawn as a marker, an empty chart shows its axes
 * and "no data", and no `NaN` or `Infinity` ever reaches the output.
 */
import { ConfigError } from '../errors.js';

// ---- public types --------------------------------------------------------------------------------

export type Point = readonly [x: number, y: number];

export interface LineSeries {
  name: string;
  points: readonly Point[];
  /** CSS color; default from a 10-color palette, by series index. */
  color?: string;
  /** Draw a circle at every point (for sparse data such as per-epoch accuracy). */
  markers?: boolean;
  dashed?: boolean;
  /** Line opacity in 0..1 (e.g. a faint raw curve under its smoothed version). */
  opacity?: number;
}

export interface LineChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  series: readonly LineSeries[];
  /** Pixels; default 640 × 400. */
  width?: number;
  height?: number;
  /** Logarithmic y axis; points with y <= 0 are skipped. */
  logY?: boolean;
  /** Fixed y range [min, max]; data outside is clipped. Default: nice range around the data. */
  yRange?: readonly [number, number];
  /**
   * Start the y axis at 0 (the top still follows the data): differences then look as large as
   * they are, instead of a 1% change filling the chart. Linear axes only.
   */
  yFromZero?: boolean;
  /** x values are counts (epochs, layers, steps): ticks at whole numbers only, never 1.5. */
  integerX?: boolean;
  /** A line of small print under the chart (what a series includes, how to read it). */
  note?: string;
}

export interface BarItem {
  name: string;
  value: number;
  color?: string;
}

export interface BarChartOptions {
  title?: string;
  /** Label of the value axis, e.g. `img/s` or `top-1 (%)`. */
  valueLabel?: string;
  items: readonly BarItem[];
  /** Pixels; default 640. The height follows from the number of bars. */
  width?: number;
  /** Text of the value printed at the end of each bar. */
  format?: (value: number) => string;
  /** Color of all bars without their own (default: the first palette color). */
  color?: string;
}

/**
 * One line of a metrics log (JSONL). Step records carry `step` and `loss` (and maybe `lr`); epoch
 * records carry `epoch` with `test_acc`, `train_loss` and optionally `test_loss`/`train_acc` (and
 * `step`, which places the test loss on the step axis). Other keys are ignored.
 */
export interface MetricsRecord {
  step?: number;
  loss?: number;
  lr?: number;
  epoch?: number;
  test_acc?: number;
  train_acc?: number;
  train_loss?: number;
  test_loss?: number;
  [key: string]: unknown;
}

export interface TrainingCurvesOptions {
  title?: string;
  /** Total pixels for both panels; default 960 × 360. */
  width?: number;
  height?: number;
  /** EMA weight in [0, 1) for the smoothed loss; default grows with the number of steps. */
  smoothing?: number;
  /** Plot the loss on a log axis. */
  logLoss?: boolean;
  /**
   * The run's label smoothing: the chart then says that the train loss includes it (and Mixup's
   * soft targets) while the test loss is plain cross-entropy — why the test loss can sit below it.
   */
  labelSmoothing?: number;
}

/** Distinguishable colors, in the order series get them. */
export const PALETTE: readonly string[] = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];

// ---- small helpers -------------------------------------------------------------------------------

const FONT_SIZE = 12;
/** Average advance of a sans-serif character relative to the font size. */
const CHAR_WIDTH = 0.6;

function textWidth(text: string, fontSize = FONT_SIZE): number {
  return text.length * fontSize * CHAR_WIDTH;
}

/** Escapes text for element content and attribute values alike. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * A coordinate with two decimals. All coordinates come from finite data, so the fallback is a last
 * line of defence that keeps `NaN` out of the document should a bug ever produce one.
 */
function num(v: number): string {
  if (!Number.isFinite(v)) return '0';
  const r = Math.round(v * 100) / 100;
  return String(r === 0 ? 0 : r);
}

function truncate(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, Math.max(1, maxChars - 1))}…`;
}

function checkSize(what: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) throw new ConfigError(`${what} must be a number >= ${min} (got ${value})`);
  return value;
}

/** Wraps chart elements into a standalone SVG document on a white background. */
function svgDocument(width: number, height: number, title: string | undefined, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" ` +
      `viewBox="0 0 ${num(width)} ${num(height)}" font-family="sans-serif" font-size="${FONT_SIZE}">`,
    ...(title ? [`<title>${escapeXml(title)}</title>`] : []),
    `<rect width="${num(width)}" height="${num(height)}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

// ---- nice ticks ----------------------------------------------------------------------------------

/**
 * The step of the form m × 10^e with m ∈ {1, 2, 5} nearest to raw on a log scale (the cut points
 * √2, √10, √50 lie halfway between 1, 2, 5, 10), so the tick count stays close to the target
 * from either side instead of always falling below it. Returned as
 * (m, e) so tick values can be computed exactly: k·m / 10^-e rounds to the decimal one expects
 * (0.3), where k · (m·10^e) would give 0.30000000000000004.
 */
function niceStep(raw: number): { m: number; e: number } {
  let e = Math.floor(Math.log10(raw));
  let f = raw / 10 ** e;
  // log10 can land one off near exact powers of ten; renormalize f into [1, 10).
  if (f >= 10) [f, e] = [f / 10, e + 1];
  if (f < 1) [f, e] = [f * 10, e - 1];
  const m = f < Math.SQRT2 ? 1 : f < Math.sqrt(10) ? 2 : f < Math.sqrt(50) ? 5 : 10;
  return m === 10 ? { m: 1, e: e + 1 } : { m, e };
}

function tickValue(k: number, m: number, e: number): number {
  return e >= 0 ? k * m * 10 ** e : (k * m) / 10 ** -e;
}

interface Ticks {
  /** Axis domain (in data units). */
  min: number;
  max: number;
  ticks: number[];
  /** Decimals that label every tick exactly (linear axes). */
  decimals: number;
}

/**
 * Linear ticks at multiples of a 1/2/5 × 10^k step, about `target` of them. With `cover`, the
 * domain grows outward to the enclosing ticks; without, the domain is kept and ticks lie inside.
 */
function linearTicks(min: number, max: number, target: number, cover: boolean, integer = false): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) [min, max] = [0, 1];
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    // A single value: open a small window around it so that it sits mid-axis.
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    [min, max] = [min - pad, max + pad];
  }
  let { m, e } = niceStep((max - min) / Math.max(1, target));
  // Whole-number axes (epochs, layers): no step below 1, so no tick at 1.5.
  if (integer && e < 0) [m, e] = [1, 0];
  const step = tickValue(1, m, e);
  // Tolerances absorb float error so that 0.3/0.1 counts as exactly 3 steps.
  const lo = cover ? Math.floor(min / step + 1e-9) : Math.ceil(min / step - 1e-9);
  const hi = cover ? Math.ceil(max / step - 1e-9) : Math.floor(max / step + 1e-9);
  const ticks: number[] = [];
  for (let k = lo; k <= hi; k++) ticks.push(tickValue(k, m, e));
  const decimals = Math.max(0, -e);
  return cover && ticks.length >= 2 ? { min: ticks[0]!, max: ticks[ticks.length - 1]!, ticks, decimals } : { min, max, ticks, decimals };
}

/**
 * "Nice" tick values covering [min, max]: multiples of 1, 2 or 5 × 10^k, about `count` steps
 * (the step is within a factor √2.5 of (max − min)/count), the first tick at or below min and the
 * last at or above max.
 * Degenerate input (min = max, non-finite) still gives at least two ticks.
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  return linearTicks(min, max, count, true).ticks;
}

/** The 1-2-5 sequence around v: the largest such number <= v (down) or the smallest >= v (up). */
function snap125(v: number, dir: 'down' | 'up'): number {
  const e = Math.floor(Math.log10(v));
  const candidates = [-1, 0, 1].flatMap((de) => [1, 2, 5].map((m) => tickValue(1, m, e + de)));
  return dir === 'down'
    ? Math.max(...candidates.filter((c) => c <= v * (1 + 1e-12)))
    : Math.min(...candidates.filter((c) => c >= v * (1 - 1e-12)));
}

/**
 * Log-axis ticks for positive [min, max]. Over more than two decades: powers of ten (thinned to at
 * most ~8); over less: the 1-2-5 sequence, which keeps a narrow range readable.
 */
function logTicks(min: number, max: number, fixed: boolean): Ticks {
  if (!(min > 0 && max > 0 && Number.isFinite(min) && Number.isFinite(max))) [min, max] = [1, 10];
  if (min > max) [min, max] = [max, min];
  if (min === max) [min, max] = [min / 2, max * 2];
  const span = Math.log10(max / min);
  let lo = min;
  let hi = max;
  const ticks: number[] = [];
  if (span > 2) {
    const e0 = Math.floor(Math.log10(min) + 1e-9);
    const e1 = Math.ceil(Math.log10(max) - 1e-9);
    if (!fixed) [lo, hi] = [tickValue(1, 1, e0), tickValue(1, 1, e1)];
    const every = Math.max(1, Math.ceil((e1 - e0) / 8));
    for (let e = e0; e <= e1; e++) if ((e - e0) % every === 0) ticks.push(tickValue(1, 1, e));
  } else {
    if (!fixed) [lo, hi] = [snap125(min, 'down'), snap125(max, 'up')];
    for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) ticks.push(tickValue(1, m, e));
    }
  }
  const inside = ticks.filter((t) => t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9));
  if (inside.length < 2) {
    // A fixed range narrower than one 1-2-5 step (say [3, 4]): plain linear ticks, log-placed.
    const linear = linearTicks(lo, hi, 4, false);
    return { min: lo, max: hi, ticks: linear.ticks, decimals: linear.decimals };
  }
  return { min: lo, max: hi, ticks: inside, decimals: 0 };
}

/** Tick label: fixed decimals on linear axes (0.0, 0.5, 1.0), exponent form for extreme magnitudes. */
function formatTick(v: number, decimals: number): string {
  if (v === 0) return (0).toFixed(Math.min(decimals, 20)); // `0.0` beside `0.5`, `0` beside `5`
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-4) {
    return Number(v.toPrecision(6)).toExponential().replace('e+', 'e');
  }
  // Log ticks pass decimals 0 and may be fractional (0.02): print them by value instead.
  if (decimals === 0 && !Number.isInteger(v)) return String(Number(v.toPrecision(6)));
  return v.toFixed(Math.min(decimals, 20));
}

/** Value label at the end of a bar: four significant digits, whole numbers from 1000 up. */
function formatValue(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 1000) return String(Math.round(v));
  return String(Number(v.toPrecision(4)));
}

// ---- line charts ---------------------------------------------------------------------------------

interface Frame {
  width: number;
  height: number;
  /** Prefix for element ids, unique per panel so that panels can share one document. */
  id: string;
}

/** True when x never decreases, the precondition for per-pixel decimation. */
function xMonotonic(points: readonly Point[]): boolean {
  for (let i = 1; i < points.length; i++) if (points[i]![0] < points[i - 1]![0]) return false;
  return true;
}

/**
 * Reduces a long, x-sorted run of pixel points to first/min/max/last per pixel column. The drawn
 * shape is unchanged (a pixel cannot show more), but a 100 000-step loss curve stays a small file.
 */
function decimate(pixels: readonly Point[]): Point[] {
  const out: Point[] = [];
  let i = 0;
  while (i < pixels.length) {
    const column = Math.floor(pixels[i]![0]);
    let j = i;
    let lo = i;
    let hi = i;
    while (j + 1 < pixels.length && Math.floor(pixels[j + 1]![0]) === column) {
      j++;
      if (pixels[j]![1] < pixels[lo]![1]) lo = j;
      if (pixels[j]![1] > pixels[hi]![1]) hi = j;
    }
    // Keep the extremes in their original order so the line still runs left to right.
    for (const k of [...new Set([i, Math.min(lo, hi), Math.max(lo, hi), j])]) out.push(pixels[k]!);
    i = j + 1;
  }
  return out;
}

/** The elements of one line chart (axes, grid, series, legend) inside a width × height box. */
function lineChartBody(opts: LineChartOptions, frame: Frame): string[] {
  const { width, height } = frame;
  const logY = opts.logY === true;
  const series = opts.series;

  // Keep the usable points of each series; a skipped point becomes a gap (null).
  const usable = (p: Point) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!logY || p[1] > 0);
  const cleaned = series.map((s) => s.points.map((p) => (usable(p) ? p : null)));
  const all = cleaned.flat().filter((p): p is Point => p !== null);
  const hasData = all.length > 0;

  // Domains and ticks.
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const [x, y] of all) {
    if (x < xMin) xMin = x;
    if (x > xMax) xMax = x;
    if (y < yMin) yMin = y;
    if (y > yMax) yMax = y;
  }
  if (!hasData) [xMin, xMax, yMin, yMax] = logY ? [0, 1, 1, 10] : [0, 1, 0, 1];
  if (opts.yFromZero && !logY) [yMin, yMax] = [Math.min(0, yMin), Math.max(0, yMax)];
  const xt = linearTicks(xMin, xMax, 6, true, opts.integerX);
  let yt: Ticks;
  if (opts.yRange) {
    const [a, b] = opts.yRange;
    if (!(Number.isFinite(a) && Number.isFinite(b) && a < b)) {
      throw new ConfigError(`yRange must be two finite numbers [min, max] with min < max (got [${a}, ${b}])`);
    }
    if (logY && !(a > 0)) throw new ConfigError(`yRange must be positive with logY (got [${a}, ${b}])`);
    yt = logY ? logTicks(a, b, true) : linearTicks(a, b, 5, false);
  } else {
    yt = logY ? logTicks(yMin, yMax, false) : linearTicks(yMin, yMax, 5, true);
  }
  const yLabels = yt.ticks.map((t) => formatTick(t, yt.decimals));
  const xLabels = xt.ticks.map((t) => formatTick(t, xt.decimals));

  // Layout: room for the title, tick labels, axis labels and a legend column on the right.
  const named = series.filter((s) => s.name !== '');
  const legendChars = Math.min(28, Math.max(0, ...named.map((s) => s.name.length)));
  const legendWidth = named.length > 0 ? 30 + legendChars * FONT_SIZE * CHAR_WIDTH + 12 : 0;
  const top = opts.title ? 36 : 14;
  const bottom = 22 + (opts.xLabel ? 22 : 0) + (opts.note ? 18 : 0);
  const left = 12 + (opts.yLabel ? 20 : 0) + Math.max(...yLabels.map((l) => textWidth(l)), 8);
  const right = 14 + legendWidth;
  const x0 = left;
  const x1 = Math.max(x0 + 20, width - right);
  const y0 = top;
  const y1 = Math.max(y0 + 20, height - bottom);

  const tx = (v: number) => (logY ? Math.log10(v) : v);
  const sx = (x: number) => x0 + ((x - xt.min) / (xt.max - xt.min)) * (x1 - x0);
  const sy = (y: number) => y1 - ((tx(y) - tx(yt.min)) / (tx(yt.max) - tx(yt.min))) * (y1 - y0);

  const out: string[] = [];
  if (opts.title) {
    out.push(`<text x="${num(width / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(opts.title)}</text>`);
  }
  out.push(`<defs><clipPath id="${frame.id}-plot"><rect x="${num(x0)}" y="${num(y0)}" width="${num(x1 - x0)}" height="${num(y1 - y0)}"/></clipPath></defs>`);

  // Grid first, so that data draws over it.
  const grid: string[] = [];
  for (const t of xt.ticks) grid.push(`<line x1="${num(sx(t))}" y1="${num(y0)}" x2="${num(sx(t))}" y2="${num(y1)}"/>`);
  for (const t of yt.ticks) grid.push(`<line x1="${num(x0)}" y1="${num(sy(t))}" x2="${num(x1)}" y2="${num(sy(t))}"/>`);
  out.push(`<g stroke="#e6e6e6" stroke-width="1">`, ...grid, '</g>');

  // Axes, tick marks and labels.
  const axes = [
    `<line x1="${num(x0)}" y1="${num(y1)}" x2="${num(x1)}" y2="${num(y1)}"/>`,
    `<line x1="${num(x0)}" y1="${num(y0)}" x2="${num(x0)}" y2="${num(y1)}"/>`,
  ];
  for (const t of xt.ticks) axes.push(`<line x1="${num(sx(t))}" y1="${num(y1)}" x2="${num(sx(t))}" y2="${num(y1 + 4)}"/>`);
  for (const t of yt.ticks) axes.push(`<line x1="${num(x0 - 4)}" y1="${num(sy(t))}" x2="${num(x0)}" y2="${num(sy(t))}"/>`);
  out.push(`<g stroke="#444444" stroke-width="1">`, ...axes, '</g>');
  const labels: string[] = [];
  xt.ticks.forEach((t, i) =>
    labels.push(`<text x="${num(sx(t))}" y="${num(y1 + 17)}" text-anchor="middle">${escapeXml(xLabels[i]!)}</text>`),
  );
  yt.ticks.forEach((t, i) =>
    labels.push(`<text x="${num(x0 - 7)}" y="${num(sy(t) + 4)}" text-anchor="end">${escapeXml(yLabels[i]!)}</text>`),
  );
  if (opts.xLabel) {
    labels.push(`<text x="${num((x0 + x1) / 2)}" y="${num(height - 8 - (opts.note ? 18 : 0))}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  }
  if (opts.note) {
    const chars = Math.floor((width - 16) / (10 * CHAR_WIDTH));
    labels.push(`<text x="8" y="${num(height - 6)}" font-size="10" fill="#666666">${escapeXml(truncate(opts.note, chars))}</text>`);
  }
  if (opts.yLabel) {
    const cy = (y0 + y1) / 2;
    labels.push(`<text x="16" y="${num(cy)}" text-anchor="middle" transform="rotate(-90 16 ${num(cy)})">${escapeXml(opts.yLabel)}</text>`);
  }
  out.push(`<g fill="#333333">`, ...labels, '</g>');

  if (!hasData) {
    out.push(`<text x="${num((x0 + x1) / 2)}" y="${num((y0 + y1) / 2)}" text-anchor="middle" fill="#888888">no data</text>`);
  }

  // Series, clipped to the plot area (matters with a fixed yRange).
  const lines: string[] = [];
  series.forEach((s, i) => {
    const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]!);
    const opacity = s.opacity !== undefined && Number.isFinite(s.opacity) ? Math.min(1, Math.max(0, s.opacity)) : 1;
    const style = `stroke="${color}"${opacity < 1 ? ` stroke-opacity="${num(opacity)}"` : ''}${s.dashed ? ' stroke-dasharray="6 4"' : ''}`;
    // Split into runs of consecutive usable points.
    const runs: Point[][] = [];
    let run: Point[] = [];
    for (const p of cleaned[i]!) {
      if (p === null) {
        if (run.length) runs.push(run);
        run = [];
      } else run.push([sx(p[0]), sy(p[1])]);
    }
    if (run.length) runs.push(run);
    const sorted = xMonotonic(s.points.filter(usable));
    const segments: string[] = [];
    const dots: Point[] = [];
    for (const r of runs) {
      if (r.length === 1) {
        dots.push(r[0]!); // A lone point has no line to draw; show it as a marker instead.
        continue;
      }
      const drawn = sorted && r.length > 4 * (x1 - x0) ? decimate(r) : r;
      segments.push(drawn.map((p, k) => `${k === 0 ? 'M' : 'L'}${num(p[0])} ${num(p[1])}`).join(' '));
      if (s.markers) dots.push(...r);
    }
    if (segments.length) {
      lines.push(`<path d="${segments.join(' ')}" fill="none" ${style} stroke-width="1.8" stroke-linejoin="round"/>`);
    }
    for (const [px, py] of dots) {
      lines.push(`<circle cx="${num(px)}" cy="${num(py)}" r="3" fill="${color}"${opacity < 1 ? ` fill-opacity="${num(opacity)}"` : ''}/>`);
    }
  });
  out.push(`<g clip-path="url(#${frame.id}-plot)">`, ...lines, '</g>');

  // Legend: a column right of the plot, so that it never hides data.
  if (named.length) {
    const legend: string[] = [];
    const lx = x1 + 14;
    let row = 0;
    series.forEach((s, i) => {
      if (s.name === '') return;
      const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]!);
      const ly = y0 + 8 + row * 18;
      row++;
      legend.push(
        `<line x1="${num(lx)}" y1="${num(ly)}" x2="${num(lx + 20)}" y2="${num(ly)}" stroke="${color}" stroke-width="2.5"` +
          `${s.opacity !== undefined && s.opacity < 1 ? ` stroke-opacity="${num(Math.max(0, s.opacity))}"` : ''}` +
          `${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
      if (s.markers) legend.push(`<circle cx="${num(lx + 10)}" cy="${num(ly)}" r="3" fill="${color}"/>`);
      legend.push(`<text x="${num(lx + 26)}" y="${num(ly + 4)}" fill="#333333">${escapeXml(truncate(s.name, 28))}</text>`);
    });
    out.push('<g>', ...legend, '</g>');
  }
  return out;
}

/**
 * A line chart as a standalone SVG document: nice 1/2/5 × 10^k ticks with grid lines, axis labels,
 * a legend, any number of series, optional log y axis and fixed y range.
 */
export function lineChart(opts: LineChartOptions): string {
  const width = checkSize('lineChart width', opts.width, 640, 160);
  const height = checkSize('lineChart height', opts.height, 400, 120);
  return svgDocument(width, height, opts.title, lineChartBody(opts, { width, height, id: 'vm-line' }));
}

// ---- bar charts ----------------------------------------------------------------------------------

/**
 * Horizontal bars, one per item, in the given order: names on the left (they can be long model
 * names), a value axis from 0 (negative values extend left of it), and the value printed at the end
 * of each bar. Non-finite values get no bar and the label `n/a`.
 */
export function barChart(opts: BarChartOptions): string {
  const width = checkSize('barChart width', opts.width, 640, 200);
  const items = opts.items;
  const format = opts.format ?? formatValue;
  const valueText = items.map((it) => (Number.isFinite(it.value) ? format(it.value) : 'n/a'));

  const finite = items.map((it) => it.value).filter(Number.isFinite);
  // Bars grow from zero, so zero is always inside the domain.
  const lo = Math.min(0, ...finite);
  const hi = Math.max(0, ...finite);
  const vt = linearTicks(lo, hi === lo ? 1 : hi, 5, true);

  const rowH = 24;
  const top = opts.title ? 38 : 12;
  const bottom = 24 + (opts.valueLabel ? 20 : 0);
  const nameChars = Math.min(32, Math.max(4, ...items.map((it) => it.name.length)));
  const left = 12 + nameChars * FONT_SIZE * CHAR_WIDTH + 8;
  const right = 12 + Math.max(20, ...valueText.map((t) => textWidth(t))) + 6;
  const x0 = left;
  const x1 = Math.max(x0 + 40, width - right);
  const plotH = Math.max(1, items.length) * rowH;
  const y0 = top;
  const y1 = top + plotH;
  const height = y1 + bottom;
  const sx = (v: number) => x0 + ((v - vt.min) / (vt.max - vt.min)) * (x1 - x0);

  const out: string[] = [];
  if (opts.title) {
    out.push(`<text x="${num(width / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(opts.title)}</text>`);
  }
  out.push(`<g stroke="#e6e6e6" stroke-width="1">`);
  for (const t of vt.ticks) out.push(`<line x1="${num(sx(t))}" y1="${num(y0)}" x2="${num(sx(t))}" y2="${num(y1)}"/>`);
  out.push('</g>');

  const bars: string[] = [];
  const texts: string[] = [];
  items.forEach((it, i) => {
    const cy = y0 + i * rowH + rowH / 2;
    texts.push(`<text x="${num(x0 - 8)}" y="${num(cy + 4)}" text-anchor="end">${escapeXml(truncate(it.name, 32))}</text>`);
    if (!Number.isFinite(it.value)) {
      texts.push(`<text x="${num(sx(0) + 4)}" y="${num(cy + 4)}" fill="#888888">n/a</text>`);
      return;
    }
    const a = sx(Math.min(0, it.value));
    const b = sx(Math.max(0, it.value));
    const color = escapeXml(it.color ?? opts.color ?? PALETTE[0]!);
    bars.push(`<rect x="${num(a)}" y="${num(cy - 8)}" width="${num(Math.max(0.5, b - a))}" height="16" fill="${color}"/>`);
    const end = it.value < 0 ? `x="${num(a - 4)}" text-anchor="end"` : `x="${num(b + 4)}"`;
    texts.push(`<text ${end} y="${num(cy + 4)}">${escapeXml(valueText[i]!)}</text>`);
  });
  out.push('<g>', ...bars, '</g>');

  const axes = [
    `<line x1="${num(x0)}" y1="${num(y1)}" x2="${num(x1)}" y2="${num(y1)}"/>`,
    `<line x1="${num(sx(0))}" y1="${num(y0)}" x2="${num(sx(0))}" y2="${num(y1)}"/>`,
  ];
  for (const t of vt.ticks) axes.push(`<line x1="${num(sx(t))}" y1="${num(y1)}" x2="${num(sx(t))}" y2="${num(y1 + 4)}"/>`);
  out.push(`<g stroke="#444444" stroke-width="1">`, ...axes, '</g>');
  for (const t of vt.ticks) {
    texts.push(`<text x="${num(sx(t))}" y="${num(y1 + 17)}" text-anchor="middle">${escapeXml(formatTick(t, vt.decimals))}</text>`);
  }
  if (opts.valueLabel) {
    texts.push(`<text x="${num((x0 + x1) / 2)}" y="${num(height - 6)}" text-anchor="middle">${escapeXml(opts.valueLabel)}</text>`);
  }
  if (items.length === 0) {
    texts.push(`<text x="${num((x0 + x1) / 2)}" y="${num(y0 + rowH / 2 + 4)}" text-anchor="middle" fill="#888888">no data</text>`);
  }
  out.push(`<g fill="#333333">`, ...texts, '</g>');
  return svgDocument(width, height, opts.title, out);
}

// ---- training curves -----------------------------------------------------------------------------

/**
 * Exponential moving average with bias correction (as in TensorBoard's smoothing slider): early
 * values are not dragged toward zero. Non-finite inputs give NaN at their position (a gap in a
 * chart) and do not poison the average.
 */
export function emaSmooth(values: readonly number[], weight: number): number[] {
  if (!(weight >= 0 && weight < 1)) throw new ConfigError(`smoothing weight must be in [0, 1) (got ${weight})`);
  const out: number[] = [];
  let avg = 0;
  let n = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(NaN);
      continue;
    }
    avg = weight * avg + (1 - weight) * v;
    n++;
    out.push(avg / (1 - weight ** n));
  }
  return out;
}

function finiteField(r: MetricsRecord, key: string): number | undefined {
  const v = r[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

const EPOCH_KEYS = ['test_acc', 'test_acc_ema', 'train_acc', 'train_loss', 'test_loss'] as const;

/**
 * Two panels side by side from a metrics log: loss against step (raw, faint, plus a smoothed line;
 * the test loss at each epoch's step when epoch records carry `step`), and accuracy against epoch
 * (test, test with the EMA weights, train). Without step records, the left panel shows train/test
 * loss per epoch instead; without any accuracy (FCMAE pretraining), the loss panel takes the whole
 * width. `lr` is accepted in the records but not drawn.
 */
export function trainingCurves(records: readonly MetricsRecord[], options: TrainingCurvesOptions = {}): string {
  const width = checkSize('trainingCurves width', options.width, 960, 400);
  const height = checkSize('trainingCurves height', options.height, 360, 160);

  const steps: Point[] = [];
  const epochs: MetricsRecord[] = [];
  for (const r of records) {
    if (r.epoch !== undefined && EPOCH_KEYS.some((k) => r[k] !== undefined)) epochs.push(r);
    // Non-finite losses are kept (as gaps): a diverged run should show where it diverged.
    else if (finiteField(r, 'step') !== undefined && typeof r.loss === 'number') steps.push([r.step!, r.loss]);
  }
  const epochSeries = (key: string): Point[] =>
    epochs.flatMap((r) => {
      const e = finiteField(r, 'epoch');
      const v = r[key];
      return e !== undefined && typeof v === 'number' ? [[e, v] as Point] : [];
    });

  let lossPanel: LineChartOptions;
  if (steps.length > 0) {
    const weight = options.smoothing ?? Math.min(0.99, Math.max(0, 1 - 10 / steps.length));
    const smooth = emaSmooth(steps.map((p) => p[1]), weight);
    const series: LineSeries[] = [
      { name: 'loss', points: steps, color: PALETTE[0], opacity: 0.3 },
      { name: 'loss (smoothed)', points: steps.map((p, i) => [p[0], smooth[i]!] as Point), color: PALETTE[0] },
    ];
    const testAtStep = epochs.flatMap((r) => {
      const s = finiteField(r, 'step');
      return s !== undefined && typeof r.test_loss === 'number' ? [[s, r.test_loss] as Point] : [];
    });
    if (testAtStep.length) series.push({ name: 'test loss', points: testAtStep, color: PALETTE[1], markers: true });
    lossPanel = { title: 'loss', xLabel: 'step', series, logY: options.logLoss, integerX: true };
  } else {
    lossPanel = {
      title: 'loss',
      xLabel: 'epoch',
      integerX: true,
      logY: options.logLoss,
      series: [
        { name: 'train loss', points: epochSeries('train_loss'), color: PALETTE[0], markers: true },
        { name: 'test loss', points: epochSeries('test_loss'), color: PALETTE[1], markers: true },
      ].filter((s) => s.points.length > 0),
    };
  }
  if (options.labelSmoothing !== undefined && options.labelSmoothing > 0)
    lossPanel.note = `train loss includes label smoothing ${options.labelSmoothing} (and Mixup); test loss does not`;
  const accPanel: LineChartOptions = {
    title: 'accuracy',
    xLabel: 'epoch',
    integerX: true,
    series: [
      { name: 'test acc', points: epochSeries('test_acc'), color: PALETTE[2], markers: true },
      { name: 'test acc (EMA)', points: epochSeries('test_acc_ema'), color: PALETTE[3], markers: true },
      { name: 'train acc', points: epochSeries('train_acc'), color: PALETTE[4], markers: true, dashed: true },
    ].filter((s) => s.points.length > 0),
  };

  const titleH = options.title ? 30 : 0;
  // No accuracy at all (a pretraining run): one panel, not an empty "no data" one beside it.
  const withAcc = accPanel.series.length > 0;
  const panelW = withAcc ? width / 2 : width;
  const panelH = height - titleH;
  const body: string[] = [];
  if (options.title) {
    body.push(`<text x="${num(width / 2)}" y="21" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(options.title)}</text>`);
  }
  body.push(`<g transform="translate(0 ${num(titleH)})">`, ...lineChartBody(lossPanel, { width: panelW, height: panelH, id: 'vm-loss' }), '</g>');
  if (withAcc)
    body.push(
      `<g transform="translate(${num(panelW)} ${num(titleH)})">`,
      ...lineChartBody(accPanel, { width: panelW, height: panelH, id: 'vm-acc' }),
      '</g>',
    );
  return svgDocument(width, height, options.title ?? 'training curves', body);
}
