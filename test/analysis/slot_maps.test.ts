/** The slot-map picture: hard assignment, un-normalisation, palette, and what the rendered panels contain. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hardAssignment, inputToRgb, renderSlotMaps, slotPalette, textWidth } from '../../src/analysis/slot_maps.js';

test('hardAssignment is the argmax over slots at every pixel', () => {
  // 3 slots on a 1×4 map.
  const a = Float32Array.from([0.1, 0.7, 0.2, 0.3, /* */ 0.8, 0.2, 0.1, 0.3, /* */ 0.1, 0.1, 0.7, 0.4]);
  assert.deepEqual([...hardAssignment(a, 3, 1, 4)], [1, 0, 2, 2]);
});

test('inputToRgb undoes the normalisation; one channel is shown grey', () => {
  const x = Float32Array.from([(0.5 - 0.25) / 0.5, (1 - 0.25) / 0.5, -9]);
  const img = inputToRgb(x, 1, 1, 3, [0.25], [0.5]);
  assert.deepEqual([...img.data], [128, 128, 128, 255, 255, 255, 0, 0, 0]);
  const rgb = inputToRgb(Float32Array.from([0, 1, 0.5]), 3, 1, 1, [0, 0, 0], [1, 1, 1]);
  assert.deepEqual([...rgb.data], [0, 255, 128]);
});

test('the palette gives 64 distinct colours', () => {
  const p = slotPalette(64);
  assert.equal(new Set(p.map((c) => c.join(','))).size, 64);
});

test('a two-slot map of a half-white, half-black image: the hard map shows both slots over half the area each', () => {
  const [h, w] = [8, 8];
  const data = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w / 2; x++) data.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
  // Slot 0 owns the left (white) half, slot 1 the right (black) half; 2×2 maps.
  const assign = Float32Array.from([0.9, 0.1, 0.9, 0.1, /* */ 0.1, 0.9, 0.1, 0.9]);
  const img = renderSlotMaps({ width: w, height: h, data }, [{ title: 'block', assign, slots: 2, height: 2, width: 2 }], { tile: 32, heading: 'test' });
  assert.equal(img.data.length, img.width * img.height * 3);
  const [p0, p1] = slotPalette(2) as unknown as [number[], number[]];
  // Hard-map pixels: 65% slot colour + 35% of the grey image (255 on the left, 0 on the right).
  const blend = (c: number[], g: number) => c.map((v) => Math.round(0.65 * v + 0.35 * g)).join(',');
  const counts = new Map<string, number>();
  for (let i = 0; i < img.data.length; i += 3) {
    const k = `${img.data[i]},${img.data[i + 1]},${img.data[i + 2]}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const left = counts.get(blend(p0, 255)) ?? 0;
  const right = counts.get(blend(p1, 0)) ?? 0;
  // The hard map is four tiles tall (4·32 + 3·2 = 134 px, as wide): 67 columns per half, less the
  // columns where the grey image blends between white and black and the boundary line.
  assert.ok(left > 0.8 * 67 * 134 && right > 0.8 * 67 * 134 && left === right, `left ${left}, right ${right}`);
  assert.ok(img.width >= textWidth('test', 2) && img.height > 134);
});
