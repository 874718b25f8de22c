/**
 * NumPy's .npy format (version 1.0) for float32 arrays, so embeddings open with `np.load`. The format
 * is a magic string, a small header dict padded to 64 bytes, then the raw little-endian data — short
 * enough to write here rather than add a dependency.
 */
import { writeFileSync } from 'node:fs';
import type { Tensor } from '../tensor.js';

export function npyBytes(t: Tensor): Uint8Array {
  if (t.dtype !== 'float32') throw new Error(`npy: only float32 tensors are written, got ${t.dtype}`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + t.size * 4);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0], 0);
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  out.set(Buffer.from(header, 'latin1'), 10);
  const data = t.data as Float32Array;
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

export function writeNpy(path: string, t: Tensor): void {
  writeFileSync(path, npyBytes(t));
}
