import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChart, emaSmooth, escapeXml, lineChart, niceTicks, trainingCurves, type MetricsRecord, type Point } from '../../src/analysis/svg.js';
import { ConfigError } from '../../src/errors.js';

/**
 * Parse-level well-formedness: one <svg> root, every tag balanced, attributes quoted, no raw `<`
 * or stray `&` in text, and no NaN/Infinity anywhere. Returns the tag names in document order.
 */
function checkSvg(svg: string): string[] {
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), 'starts with the svg root');
  assert.ok(!/NaN|Infinity|undefined/.test(svg), 'no NaN, Infinity or undefined in the output');
  const tagRe = /<[^>]*>/g;
  const attrs = /^<([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>$/;
  const stack: string[] = [];
  const names: string[] = [];
  let last = 0;
  let roots = 0;
  for (const match of svg.matchAll(tagRe)) {
    const text = svg.slice(last, match.index);
    assert.ok(!text.includes('<'), `raw < in text: ${text}`);
    assert.ok(!/&(?!amp;|lt;|gt;|quot;|apos;)/.test(text), `unescaped & in text: ${text}`);
    if (stack.length === 0) assert.equal(text.trim(), '', 'nothing outside the root');
    last = match.index + match[0].length;
    const tag = match[0];
    if (tag.startsWith('</')) {
      const name = tag.slice(2, -1).trim();
      assert.equal(stack.pop(), name, `closing ${name}`);
      continue;
    }
    const m = attrs.exec(tag);
    assert.ok(m, `malformed tag ${tag}`);
    names.push(m[1]!);
    if (stack.length === 0) roots++;
    if (m[3] !== '/') stack.push(m[1]!);
  }
  assert.equal(svg.slice(last).trim(), '', 'nothing after the root');
  assert.deepEqual(stack, [], 'all tags closed');
  assert.equal(roots, 1, 'exactly one root element');
  return names;
}

function isNiceStep(step: number): boolean {
  const e = Math.floor(Math.log10(step) + 1e-9);
  const m = step / 10 ** e;
  return [1, 2, 5, 10].some((c) => Math.abs(m - c) < 1e-6);
}

test('niceTicks: 1/2/5 × 10^k steps that cover the range', () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 2750), [0, 500, 1000, 1500, 2000, 2500, 3000]);
  assert.deepEqual(niceTicks(0.31, 0.87), [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
  assert.deepEqual(niceTicks(-3.2, 0.1, 5), [-3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5]);
  // Exact decimals, not 0.30000000000000004.
  for (const t of niceTicks(0.1, 0.7)) assert.equal(t, Number(t.toFixed(10)));

  // Property check over many ranges, from tiny to huge.
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < 500; i++) {
    const scale = 10 ** Math.floor(rand() * 20 - 10);
    const a = (rand() - 0.5) * 100 * scale;
    const b = a + rand() * 100 * scale + scale * 1e-3;
    const ticks = niceTicks(a, b, 5);
    assert.ok(ticks.length >= 3 && ticks.length <= 10, `${a}..${b}: ${ticks.length} ticks`);
    assert.ok(ticks[0]! <= a * (1 + Math.sign(a) * 1e-12) + 1e-300 && ticks.at(-1)! >= b * (1 - Math.sign(b) * 1e-12) - 1e-300, `${a}..${b} covered by ${ticks}`);
    const step = ticks[1]! - ticks[0]!;
    assert.ok(isNiceStep(step), `step ${step} for ${a}..${b}`);
    for (let k = 1; k < ticks.length; k++) assert.ok(Math.abs(ticks[k]! - ticks[k - 1]! - step) <= step * 1e-6, 'even spacing');
  }
});

test('niceTicks: degenerate input still gives a usable axis', () => {
  const same = niceTicks(5, 5);
  assert.ok(same.length >= 2 && same[0]! < 5 && same.at(-1)! > 5);
  const zero = niceTicks(0, 0);
  assert.ok(zero[0]! < 0 && zero.at(-1)! > 0);
  assert.deepEqual(niceTicks(NaN, Infinity), niceTicks(0, 1));
  assert.deepEqual(niceTicks(1, 0), niceTicks(0, 1));
});

test('lineChart: well-formed, titled, with every series in the legend', () => {
  const svg = lineChart({
    title: 'Throughput <batch & threads>',
    xLabel: 'batch',
    yLabel: 'img/s',
    series: [
      { name: 'convnextv2_atto', points: [[1, 50], [2, 90], [4, 160], [8, 260]] },
      { name: 'mobilevit_xs "fast"', points: [[1, 30], [2, 55], [4, 100], [8, 170]], dashed: true, markers: true },
    ],
  });
  const tags = checkSvg(svg);
  assert.ok(svg.includes('convnextv2_atto'));
  assert.ok(svg.includes('mobilevit_xs &quot;fast&quot;'));
  assert.ok(svg.includes('Throughput &lt;batch &amp; threads&gt;'));
  assert.equal(tags.filter((t) => t === 'path').length, 2);
  assert.equal(tags.filter((t) => t === 'circle').length, 4 + 1, 'markers plus one legend marker');
  // Grid: one line per tick on each axis, ticks at nice values.
  assert.match(svg, />0<\/text>/);
  assert.match(svg, />300<\/text>/);
  assert.match(svg, />8<\/text>/);
});

test('lineChart: non-finite points are skipped and split the line', () => {
  const svg = lineChart({
    series: [{ name: 'loss', points: [[0, 2], [1, NaN], [2, 1.5], [3, 1.2], [Infinity, 1], [5, -Infinity], [6, 0.9]] }],
  });
  checkSvg(svg);
  const d = /<path d="([^"]*)"/.exec(svg)![1]!;
  assert.equal(d.match(/M/g)!.length, 1, 'only [2,1.5]-[3,1.2] forms a line');
  assert.equal((svg.match(/<circle/g) ?? []).length, 2, 'the isolated points [0,2] and [6,0.9] become markers');
});

test('lineChart: a single point, an empty series and no series at all', () => {
  const one = lineChart({ title: 'one', series: [{ name: 'only', points: [[3, 7]] }] });
  checkSvg(one);
  assert.equal((one.match(/<circle/g) ?? []).length, 1);
  assert.ok(!one.includes('no data'));

  const empty = lineChart({ title: 'empty', series: [{ name: 'nothing', points: [] }] });
  checkSvg(empty);
  assert.ok(empty.includes('no data') && empty.includes('nothing'));

  const none = lineChart({ series: [] });
  checkSvg(none);
  assert.ok(none.includes('no data'));

  const allBad = lineChart({ series: [{ name: 'nan', points: [[NaN, NaN], [1, Infinity]] }], logY: true });
  checkSvg(allBad);
  assert.ok(allBad.includes('no data'));
});

test('lineChart: log axis ticks at powers of ten, non-positive values skipped', () => {
  const svg = lineChart({
    logY: true,
    series: [{ name: 'lr', points: [[0, 1e-6], [1, 1e-5], [2, 1e-3], [3, 0], [4, -1], [5, 1e-2]] }],
  });
  checkSvg(svg);
  for (const label of ['1e-6', '1e-5', '0.0001', '0.001', '0.01']) assert.ok(svg.includes(`>${label}</text>`), `tick ${label}`);
  const narrow = lineChart({ logY: true, series: [{ name: 'loss', points: [[0, 0.45], [1, 0.41]] }] });
  checkSvg(narrow);
  assert.ok(narrow.includes('>0.2</text>') && narrow.includes('>0.5</text>'));
  const fixedNarrow = lineChart({ logY: true, yRange: [3, 4], series: [{ name: 'x', points: [[0, 3.5]] }] });
  checkSvg(fixedNarrow);
  assert.ok(fixedNarrow.includes('>3.0</text>') && fixedNarrow.includes('>3.4</text>') && fixedNarrow.includes('>4.0</text>'));
});

test('lineChart: fixed yRange keeps its bounds and clips the data', () => {
  const svg = lineChart({ yRange: [0, 1], series: [{ name: 'acc', points: [[0, 0.5], [1, 1.4], [2, 0.9]] }] });
  checkSvg(svg);
  assert.ok(svg.includes('>0.0</text>') && svg.includes('>1.0</text>'));
  assert.ok(!svg.includes('>1.2</text>'), 'the domain does not grow to fit 1.4');
  assert.match(svg, /<g clip-path="url\(#vm-line-plot\)">/);
  assert.throws(() => lineChart({ yRange: [1, 1], series: [] }), ConfigError);
  assert.throws(() => lineChart({ yRange: [0, 1], logY: true, series: [] }), /positive/);
  assert.throws(() => lineChart({ width: 10, series: [] }), /width must be a number >= 160 \(got 10\)/);
});

test('lineChart: long x-sorted series are decimated per pixel column', () => {
  const points: [number, number][] = [];
  for (let i = 0; i < 200_000; i++) points.push([i, (i % 7) / 10]);
  points[123_457] = [123_457, 10]; // a one-step spike must survive decimation
  const svg = lineChart({ series: [{ name: 'loss', points }] });
  checkSvg(svg);
  assert.ok(svg.length < 100_000, `size ${svg.length}`);
  const ys = [...svg.matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.ok(ys.length > 500 && ys.length < 10_000, `${ys.length} path points`);
  // y = 10 is the top tick of the 0..10 domain, i.e. the top edge of the plot (y0 = 14 px).
  assert.equal(Math.min(...ys), 14);
});

test('barChart: one bar per finite value, n/a for the rest, negatives left of zero', () => {
  const svg = barChart({
    title: 'Top-1',
    valueLabel: 'accuracy (%)',
    items: [
      { name: 'convnextv2_atto', value: 76.66 },
      { name: 'glnet <4g>', value: NaN },
      { name: 'delta', value: -12.5, color: '#d62728' },
    ],
  });
  const tags = checkSvg(svg);
  assert.equal(tags.filter((t) => t === 'rect').length, 1 + 2, 'background plus two bars');
  assert.ok(svg.includes('>76.66</text>') && svg.includes('>-12.5</text>') && svg.includes('>n/a</text>'));
  assert.ok(svg.includes('glnet &lt;4g&gt;'));
  assert.ok(svg.includes('>-20</text>') && svg.includes('>80</text>'));
  checkSvg(barChart({ items: [] }));
  checkSvg(barChart({ items: [{ name: 'zero', value: 0 }], format: (v) => `${v} img/s` }));
});

test('emaSmooth is bias-corrected and skips non-finite values', () => {
  assert.deepEqual(emaSmooth([1, 1, 1], 0.9).map((v) => Number(v.toFixed(12))), [1, 1, 1]);
  const s = emaSmooth([2, NaN, 4], 0.5);
  assert.equal(s[0], 2);
  assert.ok(Number.isNaN(s[1]!));
  assert.equal(s[2], (0.25 * 2 + 0.5 * 4) / 0.75);
  assert.deepEqual(emaSmooth([3, 4], 0), [3, 4]);
  assert.throws(() => emaSmooth([1], 1), ConfigError);
});

test('trainingCurves: two panels from a metrics log', () => {
  const records: MetricsRecord[] = [];
  let step = 0;
  for (let epoch = 1; epoch <= 5; epoch++) {
    for (let i = 0; i < 50; i++) records.push({ step: ++step, loss: 2 / Math.sqrt(step), lr: 1e-3 });
    records.push({ epoch, step, test_acc: 0.5 + epoch / 20, train_loss: 1 / epoch, test_loss: 1.1 / epoch });
  }
  records[10]!.loss = NaN; // a diverged step must not break the chart
  const svg = trainingCurves(records, { title: 'convnextv2_atto / fashion-mnist' });
  const tags = checkSvg(svg);
  for (const name of ['loss (smoothed)', 'test loss', 'test acc', 'convnextv2_atto / fashion-mnist']) assert.ok(svg.includes(`>${name}</text>`), name);
  assert.ok(svg.includes('>step</text>') && svg.includes('>epoch</text>'));
  assert.equal(tags.filter((t) => t === 'clipPath').length, 2);
  assert.ok(svg.includes('id="vm-loss-plot"') && svg.includes('id="vm-acc-plot"'), 'unique ids per panel');
});

test('trainingCurves: epoch-only logs and empty logs', () => {
  const epochOnly = trainingCurves([
    { epoch: 1, test_acc: 0.6, train_loss: 1.2, test_loss: 1.3 },
    { epoch: 2, test_acc: 0.7, train_loss: 0.9 },
  ]);
  checkSvg(epochOnly);
  assert.ok(epochOnly.includes('>train loss</text>') && !epochOnly.includes('>loss (smoothed)</text>'));
  const empty = trainingCurves([]);
  checkSvg(empty);
  assert.equal((empty.match(/no data/g) ?? []).length, 1, 'one panel: no empty accuracy panel beside the loss');
});

/** The text of every tick label on the axis drawn at `y` (the x axis' labels share one baseline). */
const xTickLabels = (svg: string): string[][] => {
  const rows = new Map<string, string[]>();
  for (const m of svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" text-anchor="middle">([^<]*)<\/text>/g)) rows.set(m[1]!, [...(rows.get(m[1]!) ?? []), m[2]!]);
  return [...rows.values()].filter((r) => r.length > 1);
};

test('plots read correctly: whole-number epoch/layer ticks, y from 0, EMA accuracy, no empty panel, the smoothing note', () => {
  // Two epochs used to get a tick at 1.5; a layer axis of 3 blocks at 0.5, 1.5.
  const two = trainingCurves([
    { step: 1, loss: 2 }, { step: 2, loss: 1.5 }, { epoch: 1, step: 2, test_acc: 0.5, test_acc_ema: 0.45, test_loss: 1.4 },
    { step: 3, loss: 1.2 }, { step: 4, loss: 1.1 }, { epoch: 2, step: 4, test_acc: 0.6, test_acc_ema: 0.62, test_loss: 1.0 },
  ], { labelSmoothing: 0.1 });
  checkSvg(two);
  for (const row of xTickLabels(two)) for (const label of row) assert.match(label, /^\d+$/, `whole-number x ticks, got ${row.join(' ')}`);
  assert.ok(two.includes('>test acc (EMA)</text>'), 'fine-tune curves show test_acc_ema');
  assert.ok(two.includes('train loss includes label smoothing 0.1'), 'says why the test loss can sit below the train loss');
  assert.ok(!trainingCurves([{ step: 1, loss: 2 }]).includes('label smoothing'), 'no note without smoothing');
  // Pretraining: loss only, one full-width panel.
  const pre = trainingCurves([{ step: 1, loss: 2 }, { step: 2, loss: 1 }, { epoch: 1, step: 2, test_loss: 1.2 }]);
  assert.ok(!pre.includes('id="vm-acc-plot"') && !pre.includes('no data'));
  // y from 0: distances within 0.484–0.500 on an axis that starts at 0.
  const yTicks = (svg: string) => [...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)<\/text>/g)].map((m) => Number(m[1]));
  const points: Point[] = [[0, 0.484], [1, 0.49], [2, 0.5]];
  const fd = lineChart({ yFromZero: true, integerX: true, series: [{ name: 'a', points }] });
  assert.equal(Math.min(...yTicks(fd)), 0, 'the y axis starts at 0');
  for (const row of xTickLabels(fd)) for (const label of row) assert.match(label, /^\d+$/);
  const zoomed = lineChart({ series: [{ name: 'a', points }] });
  assert.ok(Math.min(...yTicks(zoomed)) > 0.4, 'without yFromZero the axis zooms (the test tells the two apart)');
  assert.ok(xTickLabels(zoomed).flat().includes('0.5'), 'and without integerX, 0.5 is a tick');
});

test('escapeXml escapes all five XML specials', () => {
  assert.equal(escapeXml(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
});
