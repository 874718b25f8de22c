/** Shape arithmetic shared by op shape rules. */
import type { Shape } from './graph.js';

export function fmt(s: Shape): string {
  return `[${s.join(',')}]`;
}

/** Numpy-style broadcast of two shapes, or null if incompatible. */
export function broadcastShapes(a: Shape, b: Shape): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Axes (of `big`) summed away when broadcasting `small` up to `big`. */
export function reducedAxes(small: Shape, big: Shape): number[] {
  const axes: number[] = [];
  const off = big.length - small.length;
  for (let i = 0; i < big.length; i++) {
    if (i < off) axes.push(i);
    else if (small[i - off] === 1 && big[i] !== 1) axes.push(i);
  }
  return axes;
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function prod(s: Shape): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}
