/**
 * GLNet's slot-assignment maps as a picture (the paper's Fig. / the official visualization): for each
 * chosen GLMix block, the input image, the hard assignment (every pixel coloured by its most likely
 * slot) and a mosaic of the per-slot dispatch maps (softmax over slots, min–max scaled per slot as
 * the official script does) over a dimmed copy of the image. Pure: produces an RGB buffer; writing
 * the PNG is io/'s job.
 */

/** 8-bit RGB, interleaved (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** One block's maps for one image. */
export interface SlotMapPanel {
  /** Heading drawn above the panel, e.g. 'stages.0.blocks.1 · GLMix block 2 · 56×56 px · 64 slots'. */
  title: string;
  /** Dispatch weights [S, h, w] (softmax over slots at every pixel). */
  assign: Float32Array;
  slots: number;
  height: number;
  width: number;
}

export interface RenderOptions {
  /** Longer side of one mosaic tile in pixels (default 72). */
  tile?: number;
  /** A line above everything (model, image). */
  heading?: string;
}

type Rgb = readonly [number, number, number];

const BACKGROUND: Rgb = [246, 246, 246];
const INK: Rgb = [30, 30, 30];
const GAP = 2;
const MARGIN = 16;

// ---- colours ---------------------------------------------------------------------------------------

/** n distinguishable colours: hues spread by the golden angle, alternating in brightness. */
export function slotPalette(n: number): Rgb[] {
  return Array.from({ length: n }, (_, i) => hsv((i * 137.508) % 360, i % 3 === 1 ? 0.55 : 0.85, i % 2 ? 0.75 : 0.95));
}

function hsv(h: number, s: number, v: number): Rgb {
  const f = (k: number) => {
    const x = (k + h / 60) % 6;
    return Math.round(255 * (v - v * s * Math.max(0, Math.min(x, 4 - x, 1))));
  };
  return [f(5), f(3), f(1)];
}

/** A heat ramp (dark purple → red → orange → pale yellow), readable over a dimmed grey image. */
const HEAT: Rgb[] = [
  [20, 10, 60],
  [120, 28, 110],
  [210, 50, 70],
  [250, 140, 40],
  [255, 240, 160],
];

function heat(v: number): Rgb {
  const x = Math.max(0, Math.min(1, v)) * (HEAT.length - 1);
  const i = Math.min(HEAT.length - 2, Math.floor(x));
  const t = x - i;
  const [a, b] = [HEAT[i]!, HEAT[i + 1]!];
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

// ---- maps ------------------------------------------------------------------------------------------

/** The most likely slot of every pixel: argmax over S of assign [S, h, w] → [h, w]. */
export function hardAssignment(assign: Float32Array, slots: number, h: number, w: number): Int32Array {
  const out = new Int32Array(h * w);
  for (let p = 0; p < h * w; p++) {
    let best = 0;
    for (let s = 1; s < slots; s++) if (assign[s * h * w + p]! > assign[best * h * w + p]!) best = s;
    out[p] = best;
  }
  return out;
}

/** A normalised model input [C, H, W] back to 8-bit RGB (x·std + mean; one channel is shown grey). */
export function inputToRgb(x: Float32Array, channels: number, h: number, w: number, mean: readonly number[], std: readonly number[]): RgbImage {
  const data = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++)
    for (let c = 0; c < 3; c++) {
      const ch = Math.min(c, channels - 1);
      const v = x[ch * h * w + p]! * std[ch]! + mean[ch]!;
      data[p * 3 + c] = Math.round(255 * Math.max(0, Math.min(1, v)));
    }
  return { width: w, height: h, data };
}

/** Sample position of output pixel i when n source pixels are shown as m (nearest, pixel centres). */
const nearest = (i: number, m: number, n: number) => Math.min(n - 1, Math.floor(((i + 0.5) * n) / m));

/** Bilinear sample of an RGB image at output size (pixel centres aligned, as align_corners=False). */
function sampleRgb(img: RgbImage, x: number, y: number): Rgb {
  const fx = Math.max(0, Math.min(img.width - 1, x - 0.5));
  const fy = Math.max(0, Math.min(img.height - 1, y - 0.5));
  const [x0, y0] = [Math.floor(fx), Math.floor(fy)];
  const [x1, y1] = [Math.min(img.width - 1, x0 + 1), Math.min(img.height - 1, y0 + 1)];
  const [tx, ty] = [fx - x0, fy - y0];
  const at = (xx: number, yy: number, c: number) => img.data[(yy * img.width + xx) * 3 + c]!;
  const mix = (c: number) =>
    (at(x0, y0, c) * (1 - tx) + at(x1, y0, c) * tx) * (1 - ty) + (at(x0, y1, c) * (1 - tx) + at(x1, y1, c) * tx) * ty;
  return [mix(0), mix(1), mix(2)];
}

// ---- canvas ----------------------------------------------------------------------------------------

class Canvas {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) this.data.set(BACKGROUND, p * 3);
  }

  set(x: number, y: number, c: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.data[i] = Math.round(c[0]);
    this.data[i + 1] = Math.round(c[1]);
    this.data[i + 2] = Math.round(c[2]);
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) this.set(xx, yy, c);
  }

  /** Draw text with the 5×7 font at an integer scale; returns the width used. */
  text(x: number, y: number, s: string, scale = 1, c: Rgb = INK): number {
    return drawText(this, x, y, s, scale, c);
  }
}

/** Draw text with the 5×7 font into an RGB image (clipped at its edges); returns the width used. */
export function drawText(img: RgbImage, x: number, y: number, s: string, scale = 1, c: Rgb = INK): number {
  const rgb = c.map(Math.round);
  const dot = (px: number, py: number) => {
    if (px < 0 || py < 0 || px >= img.width || py >= img.height) return;
    img.data.set(rgb, (py * img.width + px) * 3);
  };
  let cx = x;
  for (const ch of s) {
    const rows = glyph(ch);
    for (let r = 0; r < 7; r++)
      for (let col = 0; col < 5; col++)
        if ((rows[r]! >> (4 - col)) & 1)
          for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) dot(cx + col * scale + dx, y + r * scale + dy);
    cx += 6 * scale;
  }
  return cx - x;
}

/** Pixel width of `s` in the 5×7 font at `scale`. */
export const textWidth = (s: string, scale = 1): number => [...s].length * 6 * scale;

// ---- layout ----------------------------------------------------------------------------------------

const LEGEND = [
  'left: hard assignment, every pixel coloured by its most likely slot',
  'right: each slot\'s map (softmax over slots), min-max scaled, hot = assigned',
  'tiles are framed in their slot\'s colour and numbered from 0',
];

/**
 * The input once at the top with a legend, then one row per panel: the hard assignment beside the
 * mosaic of the S per-slot maps. Every tile of the mosaic is framed in its slot's colour from the
 * hard-assignment map and numbered, so the two can be read against each other.
 */
export function renderSlotMaps(image: RgbImage, panels: readonly SlotMapPanel[], o: RenderOptions = {}): RgbImage {
  const tileLong = o.tile ?? 72;
  const aspect = image.width / image.height;
  const [tileW, tileH] = aspect >= 1 ? [tileLong, Math.max(8, Math.round(tileLong / aspect))] : [Math.max(8, Math.round(tileLong * aspect)), tileLong];
  const layouts = panels.map((p) => {
    const cols = Math.ceil(Math.sqrt(p.slots));
    const rows = Math.ceil(p.slots / cols);
    const mosaicW = cols * tileW + (cols - 1) * GAP;
    const mosaicH = rows * tileH + (rows - 1) * GAP;
    // The hard map is as tall as the mosaic, and at least four tiles tall.
    const bigH = Math.max(mosaicH, 4 * tileH + 3 * GAP);
    return { p, cols, rows, mosaicW, mosaicH, bigW: Math.round(bigH * aspect), bigH };
  });
  const TEXT = 7 * 2; // glyph height at scale 2
  const inputH = Math.max(4 * tileH, LEGEND.length * (TEXT + 8) + TEXT);
  const inputW = Math.round(inputH * aspect);
  const width = Math.max(
    ...layouts.map((l) => MARGIN * 3 + l.bigW + l.mosaicW),
    ...layouts.map((l) => MARGIN * 2 + textWidth(l.p.title, 2)),
    MARGIN * 3 + inputW + Math.max(...LEGEND.map((t) => textWidth(t, 2))),
    o.heading ? MARGIN * 2 + textWidth(o.heading, 2) : 0,
  );
  const headingH = o.heading ? TEXT + 12 : 0;
  const height = MARGIN + headingH + inputH + MARGIN * 2 + layouts.reduce((a, l) => a + TEXT + 10 + l.bigH + MARGIN * 2, 0);
  const cv = new Canvas(width, height);

  let y = MARGIN;
  if (o.heading) {
    cv.text(MARGIN, y, o.heading, 2);
    y += headingH;
  }
  drawImage(cv, image, MARGIN, y, inputW, inputH);
  LEGEND.forEach((t, i) => cv.text(MARGIN * 2 + inputW, y + i * (TEXT + 8), t, 2, [70, 70, 70]));
  y += inputH + MARGIN * 2;
  for (const l of layouts) {
    const { p } = l;
    const palette = slotPalette(p.slots);
    cv.text(MARGIN, y, p.title, 2);
    y += TEXT + 10;
    drawHardMap(cv, image, hardAssignment(p.assign, p.slots, p.height, p.width), palette, p, MARGIN, y, l.bigW, l.bigH);
    const x = MARGIN * 2 + l.bigW;
    for (let s = 0; s < p.slots; s++) {
      const tx = x + (s % l.cols) * (tileW + GAP);
      const ty = y + Math.floor(s / l.cols) * (tileH + GAP);
      drawSlotTile(cv, image, p, s, palette[s]!, tx, ty, tileW, tileH);
    }
    y += l.bigH + MARGIN * 2;
  }
  return { width, height, data: cv.data };
}

function drawImage(cv: Canvas, img: RgbImage, x0: number, y0: number, w: number, h: number): void {
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) cv.set(x0 + x, y0 + y, sampleRgb(img, ((x + 0.5) * img.width) / w, ((y + 0.5) * img.height) / h));
}

const grey = (c: Rgb) => 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];

/** Slot colours over the grey image, with dark lines where the most likely slot changes. */
function drawHardMap(cv: Canvas, img: RgbImage, hard: Int32Array, palette: Rgb[], p: SlotMapPanel, x0: number, y0: number, w: number, h: number): void {
  const label = (x: number, y: number) => hard[nearest(y, h, p.height) * p.width + nearest(x, w, p.width)]!;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const s = label(x, y);
      const edge = (x + 1 < w && label(x + 1, y) !== s) || (y + 1 < h && label(x, y + 1) !== s);
      const g = grey(sampleRgb(img, ((x + 0.5) * img.width) / w, ((y + 0.5) * img.height) / h));
      const c = palette[s]!;
      cv.set(x0 + x, y0 + y, edge ? [20, 20, 20] : [0.65 * c[0] + 0.35 * g, 0.65 * c[1] + 0.35 * g, 0.65 * c[2] + 0.35 * g]);
    }
}

/** One slot's map (min–max scaled, nearest-neighbour: each map cell stays visible) over the dimmed image. */
function drawSlotTile(cv: Canvas, img: RgbImage, p: SlotMapPanel, s: number, colour: Rgb, x0: number, y0: number, w: number, h: number): void {
  const plane = p.assign.subarray(s * p.height * p.width, (s + 1) * p.height * p.width);
  let [lo, hi] = [Infinity, -Infinity];
  for (const v of plane) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const range = hi - lo > 1e-12 ? hi - lo : 1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = (plane[nearest(y, h, p.height) * p.width + nearest(x, w, p.width)]! - lo) / range;
      const g = 0.45 * grey(sampleRgb(img, ((x + 0.5) * img.width) / w, ((y + 0.5) * img.height) / h));
      const hc = heat(v);
      const a = 0.25 + 0.7 * v; // the hot part covers the image; the cold part lets it show through
      cv.set(x0 + x, y0 + y, [g * (1 - a) + hc[0] * a, g * (1 - a) + hc[1] * a, g * (1 - a) + hc[2] * a]);
    }
  // Frame in the slot's colour, and its number in the corner.
  for (let i = 0; i < w; i++) {
    cv.set(x0 + i, y0, colour);
    cv.set(x0 + i, y0 + h - 1, colour);
  }
  for (let i = 0; i < h; i++) {
    cv.set(x0, y0 + i, colour);
    cv.set(x0 + w - 1, y0 + i, colour);
  }
  const label = String(s);
  cv.rect(x0 + 1, y0 + 1, textWidth(label) + 2, 9, [0, 0, 0]);
  cv.text(x0 + 2, y0 + 2, label, 1, [255, 255, 255]);
}

// ---- a 5×7 bitmap font (upper-case; lower case is drawn upper-case) --------------------------------

const FONT: Record<string, string> = {
  A: '01110 10001 10001 11111 10001 10001 10001',
  B: '11110 10001 10001 11110 10001 10001 11110',
  C: '01110 10001 10000 10000 10000 10001 01110',
  D: '11100 10010 10001 10001 10001 10010 11100',
  E: '11111 10000 10000 11110 10000 10000 11111',
  F: '11111 10000 10000 11110 10000 10000 10000',
  G: '01110 10001 10000 10111 10001 10001 01111',
  H: '10001 10001 10001 11111 10001 10001 10001',
  I: '01110 00100 00100 00100 00100 00100 01110',
  J: '00111 00010 00010 00010 00010 10010 01100',
  K: '10001 10010 10100 11000 10100 10010 10001',
  L: '10000 10000 10000 10000 10000 10000 11111',
  M: '10001 11011 10101 10101 10001 10001 10001',
  N: '10001 10001 11001 10101 10011 10001 10001',
  O: '01110 10001 10001 10001 10001 10001 01110',
  P: '11110 10001 10001 11110 10000 10000 10000',
  Q: '01110 10001 10001 10001 10101 10010 01101',
  R: '11110 10001 10001 11110 10100 10010 10001',
  S: '01111 10000 10000 01110 00001 00001 11110',
  T: '11111 00100 00100 00100 00100 00100 00100',
  U: '10001 10001 10001 10001 10001 10001 01110',
  V: '10001 10001 10001 10001 10001 01010 00100',
  W: '10001 10001 10001 10101 10101 10101 01010',
  X: '10001 10001 01010 00100 01010 10001 10001',
  Y: '10001 10001 10001 01010 00100 00100 00100',
  Z: '11111 00001 00010 00100 01000 10000 11111',
  '0': '01110 10001 10011 10101 11001 10001 01110',
  '1': '00100 01100 00100 00100 00100 00100 01110',
  '2': '01110 10001 00001 00010 00100 01000 11111',
  '3': '11111 00010 00100 00010 00001 10001 01110',
  '4': '00010 00110 01010 10010 11111 00010 00010',
  '5': '11111 10000 11110 00001 00001 10001 01110',
  '6': '00110 01000 10000 11110 10001 10001 01110',
  '7': '11111 00001 00010 00100 01000 01000 01000',
  '8': '01110 10001 10001 01110 10001 10001 01110',
  '9': '01110 10001 10001 01111 00001 00010 01100',
  ' ': '00000 00000 00000 00000 00000 00000 00000',
  '.': '00000 00000 00000 00000 00000 01100 01100',
  ',': '00000 00000 00000 00000 01100 00100 01000',
  ':': '00000 01100 01100 00000 01100 01100 00000',
  '-': '00000 00000 00000 11111 00000 00000 00000',
  '–': '00000 00000 00000 11111 00000 00000 00000',
  '_': '00000 00000 00000 00000 00000 00000 11111',
  '×': '00000 10001 01010 00100 01010 10001 00000',
  '·': '00000 00000 00000 01100 01100 00000 00000',
  '(': '00010 00100 01000 01000 01000 00100 00010',
  ')': '01000 00100 00010 00010 00010 00100 01000',
  '/': '00000 00001 00010 00100 01000 10000 00000',
  '=': '00000 00000 11111 00000 11111 00000 00000',
  '%': '11000 11001 00010 00100 01000 10011 00011',
  "'": '00100 00100 01000 00000 00000 00000 00000',
  '?': '01110 10001 00001 00010 00100 00000 00100',
};

const glyphs = new Map(Object.entries(FONT).map(([ch, rows]) => [ch, rows.split(' ').map((r) => parseInt(r, 2))] as const));

function glyph(ch: string): number[] {
  return glyphs.get(ch.toUpperCase()) ?? glyphs.get('?')!;
}
