/** Read an ONNX file's declarations (signature, metadata, initializers) from disk. */
import { readFileSync } from 'node:fs';
import { DataError } from '../errors.js';
import { readOnnxInfo, type OnnxFileInfo } from '../graph/onnx_read.js';
import { errorReason } from './files.js';

export type { OnnxFileInfo } from '../graph/onnx_read.js';

/** The declarations of the ONNX file at `path`; an unreadable or malformed file is a DataError naming it. */
export function readOnnxFile(path: string): OnnxFileInfo {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DataError(`cannot read ${path} (${errorReason(err)})`);
  }
  try {
    return readOnnxInfo(bytes, path);
  } catch (err) {
    throw new DataError((err as Error).message);
  }
}
