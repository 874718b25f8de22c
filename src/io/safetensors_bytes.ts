/**
 * A whole safetensors file in memory, with our writer's checksum (`CHECKSUM_KEY`: the same bytes and
 * the same check as `writeSafetensors` / `SafetensorsFile`), hashed with Web Crypto: for browsers,
 * where there is no file to write atomically (IndexedDB's transactions give that) but corruption and
 * edits must still be found. Files made here load in Node with their checksum verified, and back.
 */
import { SafetensorsError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { CHECKSUM_KEY, checksumPreimage, DATA_CHECKSUM_KEY, parseSafetensors, parseSafetensorsHeader, serializeSafetensors } from './safetensors_format.js';

async function sha256Hex(parts: Uint8Array[]): Promise<string> {
  let n = 0;
  for (const p of parts) n += p.length;
  const all = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The checksum of a serialized file as our writer defines it (header as parsed, then the data area). */
async function fileChecksum(bytes: Uint8Array, file: string): Promise<string> {
  const h = parseSafetensorsHeader(bytes, bytes.length, file);
  return sha256Hex([checksumPreimage(h.entries, h.metadata, [CHECKSUM_KEY, DATA_CHECKSUM_KEY]), bytes.subarray(h.dataStart)]);
}

/** `tensors` and `metadata` as the bytes of a safetensors file carrying its checksum. */
export async function serializeChecksummed(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const rest = { ...metadata };
  delete rest[CHECKSUM_KEY];
  delete rest[DATA_CHECKSUM_KEY];
  const checksum = await fileChecksum(serializeSafetensors(tensors, rest), '(in memory)');
  return serializeSafetensors(tensors, { ...rest, [CHECKSUM_KEY]: checksum });
}

/** Parse a whole file held in memory; a file carrying our checksum is verified against it. */
export async function parseChecksummed(bytes: Uint8Array, file: string): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const parsed = parseSafetensors(bytes, file);
  const want = parsed.metadata[CHECKSUM_KEY];
  if (want !== undefined && (await fileChecksum(bytes, file)) !== want)
    throw new SafetensorsError(`safetensors file '${file}': checksum mismatch — its header or tensor data is not what was written`, file);
  return parsed;
}
