import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBar, formatCount, formatDuration, formatMetric, formatRate } from '../../src/cli/progress.js';
import { ConfigError } from '../../src/errors.js';

/** A stream that records writes; `tty` decides which mode the bar picks. */
function fakeStream(tty: boolean, columns?: number) {
  const writes: string[] = [];
  return {
    writes,
    isTTY: tty,
    columns,
    write(s: string) {
      writes.push(s);
      return true;
    },
    text: () => writes.join(''),
  };
}

/** A clock the test moves by hand, in milliseconds. */
function fakeClock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test('plain mode prints one line per 10% with exact rate and ETA', () => {
  const stream = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 1000, label: 'eval', unit: 'img', stream, now: clock.now });
  for (let i = 0; i < 100; i++) {
    clock.advance(1000);
    bar.tick(10); // exactly 10 img/s throughout
  }
  bar.done();
  const lines = stream.text().split('\n').filter(Boolean);
  assert.equal(lines.length, 10, 'one line per 10%, no duplicate from done()');
  assert.ok(!stream.text().includes('\r'), 'no carriage returns in logs');
  assert.equal(lines[0], 'eval [##..................] 10% 100/1000 img | 10.0 img/s | ETA 1m30s');
  assert.equal(lines[4], 'eval [##########..........] 50% 500/1000 img | 10.0 img/s | ETA 50.0s');
  assert.equal(lines[9], 'eval [####################] 100% 1000/1000 img | 10.0 img/s | elapsed 1m40s');
});

test('plain mode: line count stays bounded for many small ticks', () => {
  const stream = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 50_000, stream, now: clock.now, logEveryPercent: 25 });
  for (let i = 0; i < 50_000; i++) {
    clock.advance(2);
    bar.tick();
  }
  bar.done();
  const lines = stream.text().split('\n').filter(Boolean);
  assert.equal(lines.length, 4); // 25, 50, 75, 100 %
  assert.match(lines[3]!, /100% 50000\/50000 it \| 500\.0 it\/s \| elapsed 1m40s$/);
});

test('plain mode: done() prints the final line when the total was not reached', () => {
  const stream = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 100, stream, now: clock.now });
  clock.advance(1000);
  bar.tick(5);
  bar.done({ loss: 0.5 });
  bar.done(); // idempotent
  const lines = stream.text().split('\n').filter(Boolean);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /5% 5\/100 it loss 0\.500 \| 5\.0 it\/s \| elapsed 1\.0s$/);
});

test('plain mode: time-based lines for an unknown total', () => {
  const stream = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ label: 'extract', unit: 'img', stream, now: clock.now, logEverySeconds: 5 });
  for (let i = 0; i < 20; i++) {
    clock.advance(1000);
    bar.tick(3);
  }
  bar.done();
  const lines = stream.text().split('\n').filter(Boolean);
  // At 5, 10, 15 and 20 s; done() adds nothing because nothing changed since the 20 s line.
  assert.equal(lines.length, 4);
  assert.equal(lines[0], 'extract 15 img | 3.0 img/s | elapsed 5.0s');
  assert.ok(!lines.some((l) => l.includes('%') || l.includes('ETA')));
});

test('rate uses rateUnit and rateScale; fields are shown and merged', () => {
  const stream = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({
    total: 2750,
    label: 'train ep 2/10',
    unit: 'step',
    rateUnit: 'img',
    rateScale: 32,
    stream,
    now: clock.now,
  });
  clock.advance(1000);
  bar.update(10, { loss: 0.41234, acc: 0.861 });
  clock.advance(1000);
  bar.update(1234, { loss: 0.4121 }); // acc stays from the previous call
  assert.equal(bar.value, 1234);
  // The EMA after a 10 step/s then 1224 step/s sample, with tau 5 s: 10 + (1 - e^-0.2)(1214).
  const rate = 10 + (1 - Math.exp(-0.2)) * 1214;
  const eta = (2750 - 1234) / rate;
  assert.equal(
    bar.render(),
    `train ep 2/10 [########............] 44% 1234/2750 step loss 0.412 acc 0.861 | ${formatRate(rate * 32, 'img')} | ETA ${formatDuration(eta)}`,
  );
});

test('moving average follows a change of speed within a few time constants', () => {
  const stream = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 1e9, stream, now: clock.now, smoothingSeconds: 2 });
  for (let i = 0; i < 10; i++) {
    clock.advance(500);
    bar.tick(5); // 10/s
  }
  assert.match(bar.render(), /\| 10\.0 it\/s \|/);
  for (let i = 0; i < 40; i++) {
    clock.advance(500);
    bar.tick(20); // 40/s for 20 s = 10 time constants
  }
  assert.match(bar.render(), /\| 40\.0 it\/s \|/);
});

test('samples closer than 50 ms are merged, so a burst of ticks at one instant gives no infinite rate', () => {
  const stream = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 100, stream, now: clock.now });
  for (let i = 0; i < 10; i++) bar.tick(); // same instant
  assert.match(bar.render(), /-- it\/s \| ETA --$/);
  clock.advance(1000);
  bar.tick();
  assert.match(bar.render(), /\| 11\.0 it\/s \|/);
});

test('TTY mode redraws in place, throttled to ~10 per second', () => {
  const stream = fakeStream(true);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 10_000, label: 'bench', stream, now: clock.now });
  for (let i = 0; i < 10_000; i++) {
    clock.advance(1); // 10 s of work in 10 000 ticks
    bar.tick();
  }
  const redraws = stream.writes.length;
  assert.ok(redraws >= 95 && redraws <= 102, `expected ~100 redraws, got ${redraws}`);
  for (const w of stream.writes) {
    assert.ok(w.startsWith('\r') && w.endsWith('\x1b[K'), JSON.stringify(w));
    assert.ok(!w.includes('\n'));
  }
  bar.done();
  assert.ok(stream.text().endsWith('\n'));
  assert.match(stream.writes.at(-2)!, /100% 10000\/10000 it \| 1000 it\/s \| elapsed 10\.0s/);
  bar.tick(); // after done(): ignored
  assert.ok(stream.text().endsWith('\n'));
});

test('TTY mode fits the line to the terminal width', () => {
  const stream = fakeStream(true, 60);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 100, label: 'train ep 1/90', unit: 'step', stream, now: clock.now });
  clock.advance(1000);
  bar.tick(3, { loss: 2.345678, acc: 0.123456, lr: 0.0004 });
  const line = stream.writes[0]!.replace('\r', '').replace('\x1b[K', '');
  assert.ok(line.length <= 59, `${line.length}: ${line}`);
  assert.ok(line.startsWith('train ep 1/90'));
});

test('TTY log() clears the bar, prints the message and redraws', () => {
  const stream = fakeStream(true);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 10, stream, now: clock.now });
  clock.advance(200);
  bar.tick();
  bar.log('checkpoint saved');
  assert.equal(stream.writes[1], '\r\x1b[Kcheckpoint saved\n');
  assert.ok(stream.writes[2]!.startsWith('\r[##'));
});

test('invalid options throw ConfigError naming the option', () => {
  assert.throws(() => new ProgressBar({ total: -1, stream: fakeStream(false) }), (e: unknown) => e instanceof ConfigError && /total.*-1/.test(e.message));
  assert.throws(() => new ProgressBar({ total: NaN, stream: fakeStream(false) }), ConfigError);
  assert.throws(() => new ProgressBar({ total: 1, rateScale: 0, stream: fakeStream(false) }), /rateScale must be > 0 \(got 0\)/);
  const bar = new ProgressBar({ total: 1, stream: fakeStream(false) });
  assert.throws(() => bar.update(NaN), ConfigError);
});

test('formatDuration', () => {
  assert.equal(formatDuration(0), '0ms');
  assert.equal(formatDuration(0.95), '950ms');
  assert.equal(formatDuration(0.9996), '1.0s');
  assert.equal(formatDuration(12.34), '12.3s');
  assert.equal(formatDuration(59.96), '1m00s');
  assert.equal(formatDuration(245), '4m05s');
  assert.equal(formatDuration(3599.6), '1h00m');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatDuration(2 * 86400 + 3 * 3600), '2d03h');
  assert.equal(formatDuration(-1), '--');
  assert.equal(formatDuration(Infinity), '--');
  assert.equal(formatDuration(NaN), '--');
});

test('formatRate, formatCount and formatMetric', () => {
  assert.equal(formatRate(212.34, 'img'), '212.3 img/s');
  assert.equal(formatRate(2345.6, 'img'), '2346 img/s');
  assert.equal(formatRate(128_400, 'tok'), '128k tok/s');
  assert.equal(formatRate(0.3125, 'step'), '3.2s/step');
  assert.equal(formatRate(0, 'img'), '-- img/s');
  assert.equal(formatRate(NaN), '-- it/s');
  assert.equal(formatCount(1234), '1234');
  assert.equal(formatCount(99_999), '99999');
  assert.equal(formatCount(128_000), '128k');
  assert.equal(formatCount(1_281_167), '1.28M');
  assert.equal(formatCount(999_999), '1M');
  assert.equal(formatCount(28_589_128), '28.6M');
  assert.equal(formatMetric(0.41234), '0.412');
  assert.equal(formatMetric(7), '7');
  assert.equal(formatMetric(0.0004), '4.00e-4');
  assert.equal(formatMetric(1234.56), '1234.6');
  assert.equal(formatMetric('n/a'), 'n/a');
});

test('initial: work done before the bar started (a resumed epoch) counts in the bar, not in the rate', () => {
  const stream = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 100, unit: 'step', stream, now: clock.now, initial: 40 });
  for (let i = 0; i < 10; i++) {
    clock.advance(500);
    bar.tick(); // 2 steps/s
  }
  assert.match(bar.render(), /50% 50\/100 step \| 2\.0 step\/s \| ETA 25\.0s/);
  for (let i = 0; i < 50; i++) {
    clock.advance(500);
    bar.tick();
  }
  bar.done();
  assert.match(stream.text(), /100\/100 step \| 2\.0 step\/s \| elapsed 30\.0s\n$/, 'the final average is over this run only');
});

test('trainProgress after a resume: rates from the steps of this process only; epochs from the start event', async () => {
  const { trainProgress } = await import('../../src/cli/train_progress.js');
  const stream = fakeStream(false);
  const clock = fakeClock();
  const onEvent = trainProgress(stream, clock.now);
  // Resumed at step 29 of 30-step epochs (epoch 1 of 2 done), batch 64: 10 steps/s = 640 img/s.
  onEvent({ type: 'start', step: 29, totalSteps: 60, stepsPerEpoch: 30, epoch: 0, epochs: 2, batchSize: 64 });
  for (let s = 30; s <= 45; s++) {
    clock.advance(100);
    onEvent({ type: 'step', step: s, epoch: s <= 30 ? 0 : 1, loss: 1, acc: 0.5, lr: 1e-3, imgPerSec: 640 });
  }
  const text = stream.text();
  assert.match(text, /^resuming at step 29 \(epoch 1\/2\)$/m);
  const rates = [...text.matchAll(/\| ([\d.]+) img\/s \|/g)].map((m) => Number(m[1]));
  assert.ok(rates.length > 0, text);
  for (const r of rates) assert.ok(r <= 700, `rate ${r} img/s, expected about 640:\n${text}`);
  // A finished run's final epoch is not shown as "epoch 3/2".
  const s2 = fakeStream(false);
  trainProgress(s2)({ type: 'start', step: 60, totalSteps: 60, stepsPerEpoch: 30, epoch: 2, epochs: 2, batchSize: 64 });
  assert.equal(s2.text(), 'resuming at step 60 (epoch 2/2)\n');
});

test('trainProgress, multi-scale: an epoch longer than the expected step count ends in one bar, no stray "1/N" bar after 100%', async () => {
  const { trainProgress } = await import('../../src/cli/train_progress.js');
  const stream = fakeStream(false);
  const clock = fakeClock();
  const onEvent = trainProgress(stream, clock.now);
  // About 4 steps expected per epoch; this one takes 6 (the batch size varies with the side).
  onEvent({ type: 'start', step: 0, totalSteps: 4, stepsPerEpoch: 4, epoch: 0, epochs: 1, batchSize: 8, multiScale: true });
  for (let s = 1; s <= 6; s++) {
    clock.advance(100);
    onEvent({ type: 'step', step: s, epoch: 0, loss: 1, acc: 0.5, lr: 1e-3, imgPerSec: 80 });
  }
  onEvent({ type: 'eval', epoch: 0, done: 10, total: 10 });
  onEvent({ type: 'epoch', record: { epoch: 1, train_loss: 1, test_acc: 0.5 } });
  const text = stream.text();
  assert.doesNotMatch(text, /100%[\s\S]*train ep 1\/1/, `one bar for the epoch:\n${text}`);
  assert.match(text, /6 step/, text);
  assert.ok(text.indexOf('evaluated 10 test images') > text.lastIndexOf('train ep 1/1'), 'the bar ends before the eval line');
});
