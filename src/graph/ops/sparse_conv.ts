/**
 * A depthwise convolution whose output is read on a sparse set of square tiles of its map only —
 * FCMAE's visible patches at a stage's resolution (ConvNeXt V2 §3; the official code runs them as
 * MinkowskiEngine sparse convs). The forward and input gradient are the ordinary Conv on the whole
 * map; the weight gradient, the slowest of the three in ONNX Runtime (a grouped Conv with a kernel as
 * large as the map), sums over the tiles only, the output gradient being zero elsewhere.
 *
 * A tile set is host-side data computed when the mask is drawn (`tileIndices`): the tiles (image,
 * tile row, tile column), each f×f pixels and read through its (f + kh − 1)×(f + kw − 1) window.
 *
 * Tried and dropped: the whole conv on the visible pixels (windows gathered from rows of visible
 * pixels, convolved as a batch of tiles): exact, but ONNX Runtime's depthwise Conv on a batch of
 * 14×14 tiles ran at a third of its speed on the whole map, so the stage 0 forward took as long as on
 * the dense map with 2.5× the pixels, and stage 2 (2×2 tiles in 8×8 windows) took 3× longer.
 */
import { ShapeError } from '../../errors.js';
import { defineOp, type Shape, type Value } from '../graph.js';
import { fmt } from '../shape.js';
import { apply1 } from './core.js';
import { applyConv, Conv, conv2d, convAttrsFrom, convInputGrad, emitConv, type ConvAttrs, type ConvOptions } from './conv.js';
import { isSmallMapDepthwise } from './conv_small_map.js';
import { gather, gatherPositions } from './gather.js';
import { pad, reshape, transpose } from './layout.js';
import { reduceSum } from './reduce.js';

/** Tiles as the graph reads them: the tile size and the int64 index inputs from `tileIndices`. */
export interface ConvTiles {
  tile: number;
  /** Per tile, its window's pixels row-major, flat into the map's N·H·W pixels; N·H·W (a zero pixel) where the window leaves the map. */
  window: Value;
  /** Per tile, its f×f pixels row-major, flat into the map's N·H·W pixels. */
  pixels: Value;
}

export interface TileGeometry {
  /** Images, and the map's height and width. */
  n: number;
  h: number;
  w: number;
  tile: number;
  kh: number;
  kw: number;
  padTop: number;
  padLeft: number;
}

/** The index inputs of `ConvTiles` for the tiles (n, ty, tx), in the given order. */
export function tileIndices(tiles: readonly (readonly [number, number, number])[], o: TileGeometry): { window: BigInt64Array; pixels: BigInt64Array } {
  const { n: batch, h, w, tile: f, kh, kw, padTop, padLeft } = o;
  if (h % f || w % f) throw new ShapeError(`tileIndices: the map ${h}×${w} is not made of ${f}×${f} tiles`);
  const [wh, ww] = [f + kh - 1, f + kw - 1];
  const window = new BigInt64Array(tiles.length * wh * ww);
  const pixels = new BigInt64Array(tiles.length * f * f);
  const zero = BigInt(batch * h * w);
  let [i, j] = [0, 0];
  for (const [n, ty, tx] of tiles) {
    for (let a = 0; a < wh; a++)
      for (let b = 0; b < ww; b++) {
        const [y, x] = [ty * f - padTop + a, tx * f - padLeft + b];
        window[i++] = y >= 0 && y < h && x >= 0 && x < w ? BigInt((n * h + y) * w + x) : zero;
      }
    for (let a = 0; a < f; a++) for (let b = 0; b < f; b++) pixels[j++] = BigInt((n * h + ty * f + a) * w + tx * f + b);
  }
  return { window, pixels };
}

interface TiledAttrs extends ConvAttrs {
  tile: number;
  hasBias: boolean;
}

/**
 * y = depthwise Conv(x, w) + b, inputs [x, w, window, pixels, b?], whose weight gradient is summed
 * over a set of tiles only. The caller's contract (the shape rule checks what shapes can tell; the
 * rest it cannot see, and breaking it gives a wrong weight gradient, silently):
 *
 *  - x [N, C, H, W], w [C, 1, kh, kw]: depthwise, stride 1, dilation 1, "same" padding (pads summing
 *    to kh − 1 and kw − 1, so y has x's H×W — `pixels` index both maps alike).
 *  - `window` and `pixels` (int64, not differentiated) come from `tileIndices` with this conv's
 *    geometry: the same N, H, W, kernel, and padTop/padLeft = the conv's top/left pads; H and W are
 *    multiples of the tile size, and no tile is listed twice (it would count twice in dW).
 *  - Nothing reads y outside the tiles: the gradient reaching y is zero there (FCMAE gathers the
 *    visible tiles' pixels and scatters them back). dW sums over the tiles only; dx and db are the
 *    ordinary conv's, exact for any gradient.
 *  - Small maps (conv_small_map.ts's bound) are not tiled: `tiledDepthwiseConv2d` gives them to `conv2d`.
 */
const TiledDepthwiseConv = defineOp<TiledAttrs>({
  type: 'TiledDepthwiseConv',
  nonDiff: [2, 3],
  infer: ([x, w, window, pixels, b], a, fail) => {
    if (window!.dtype !== 'int64' || pixels!.dtype !== 'int64') fail('tile indices must be int64');
    const c = x!.shape[1]!;
    if (a.groups !== c || w!.shape[0] !== c || w!.shape[1] !== 1) fail(`expects a depthwise conv (groups = channels = outputs = ${c}), got weight ${fmt(w!.shape)}, groups ${a.groups}`);
    if (a.strides.some((v) => v !== 1) || a.dilations.some((v) => v !== 1)) fail('expects stride 1 and dilation 1');
    const [kh, kw] = w!.shape.slice(2) as [number, number];
    if (a.pads[0]! + a.pads[2]! !== kh - 1 || a.pads[1]! + a.pads[3]! !== kw - 1) fail(`expects "same" padding (pads summing to ${kh - 1} and ${kw - 1}), got [${a.pads}]`);
    if (x!.shape[2]! % a.tile || x!.shape[3]! % a.tile) fail(`the map ${x!.shape[2]}×${x!.shape[3]} is not made of ${a.tile}×${a.tile} tiles`);
    const t = pixels!.shape[0]! / (a.tile * a.tile);
    if (!Number.isInteger(t) || window!.shape[0] !== t * (a.tile + kh - 1) * (a.tile + kw - 1))
      fail(`tile indices ${fmt(window!.shape)} / ${fmt(pixels!.shape)} do not describe whole ${a.tile}×${a.tile} tiles with ${kh}×${kw} windows`);
    return Conv.infer(a.hasBias ? [x!, w!, b!] : [x!, w!], a, fail);
  },
  emit: (e, n) => {
    const [x, w, , , b] = n.inputs;
    emitConv(e, n.attrs.hasBias ? [x!, w!, b!] : [x!, w!], n.outputs[0]!, n.attrs);
  },
  vjp: ({ inputs: [x, w, window, pixels, b], dys: [dy], attrs, needs }) => [
    needs[0] ? convInputGrad(dy!, w!, x!.shape, attrs) : null,
    needs[1] ? tiledWeightGrad(x!, dy!, window!, pixels!, w!.shape, attrs.tile) : null,
    null,
    null,
    b && needs[4] ? reduceSum(dy!, [0, 2, 3]) : null,
  ],
});

/**
 * dW from the tiles where dy may be non-zero: each tile's input window [C, T, f + kh − 1, f + kw − 1]
 * correlated with its dy [C, T, f, f] by one depthwise Conv over the (channel, tile) pairs, then
 * summed over the tiles (as conv.ts's depthwise weight gradient does with the images: the form
 * ONNX Runtime's NCHWc kernels take) — work ∝ the tiles, not the map. Windows and tiles
 * are gathered as pixel rows of the NHWC maps: each index copies C values (gathering single values
 * from channel-major maps was twice as slow).
 */
function tiledWeightGrad(x: Value, dy: Value, window: Value, pixels: Value, wShape: Shape, f: number): Value {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, , kh, kw] = wShape as [number, number, number, number];
  const t = pixels.shape[0]! / (f * f);
  // The map's pixels as rows, plus one zero row past the last pixel, read where a window leaves the map.
  const windows = gather(pad(reshape(transpose(x, [0, 2, 3, 1]), [n * h * w, c]), [0, 0, 1, 0]), window, 0);
  const xt = reshape(transpose(windows, [1, 0]), [1, c * t, f + kh - 1, f + kw - 1]);
  const dyt = reshape(transpose(gatherPositions(dy, pixels), [1, 0]), [c * t, 1, f, f]);
  const perPair = applyConv(xt, dyt, { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], groups: c * t });
  return reshape(reduceSum(reshape(perPair, [c, t, kh, kw]), [1]), wShape);
}

/**
 * The depthwise conv (stride 1) of a whole map [N, C, H, W] whose output is read on `tiles` only —
 * the caller guarantees that nothing reads it elsewhere (see `TiledDepthwiseConv`'s contract): the
 * ordinary Conv forward and input gradient; the weight gradient sums over the tiles, at a cost that
 * scales with them.
 */
export function tiledDepthwiseConv2d(x: Value, w: Value, b: Value | null, o: ConvOptions, tiles: ConvTiles): Value {
  const a = convAttrsFrom(o);
  // On a small map the plain conv is emitted as MatMuls when its weights are fed (conv.ts), its dW
  // included: at GEMM speed over the whole map, faster than ORT's Conv summing over the tiles.
  if (isSmallMapDepthwise(x.shape, w.shape, a)) return conv2d(x, w, b, o);
  const inputs = [x, w, tiles.window, tiles.pixels];
  return apply1(TiledDepthwiseConv, b ? [...inputs, b] : inputs, { ...a, tile: tiles.tile, hasBias: !!b });
}
