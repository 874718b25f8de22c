/**
 * PyTorch checkpoints on disk (Node): a ByteSource over a file handle, so only the zip directory,
 * the pickle and the storages actually loaded are read — never the whole file at once. The format
 * logic is in `pytorch_format.ts`, which the browser build shares.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { CheckpointError } from '../errors.js';
import type { CheckpointInfo } from '../models/base.js';
import type { Tensor } from '../tensor.js';
import { readTorchStateDict, sniffWeightsFormat, type ByteSource } from './pytorch_format.js';
import { torchZipMembers, zipStored } from './pytorch_write.js';

/** Node caps one read at 2 GiB - 1. */
const IO_CHUNK = 1 << 30;

function fileSource(fh: FileHandle, size: number, path: string): ByteSource {
  return {
    size,
    async read(offset, length) {
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, Math.min(length - done, IO_CHUNK), offset + done);
        if (bytesRead === 0) throw new CheckpointError(`${path}: the file ends at ${offset + done}, reading [${offset}, ${offset + length}); was it modified while open?`, path);
        done += bytesRead;
      }
      return buf;
    },
  };
}

async function withFile<T>(path: string, f: (src: ByteSource) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CheckpointError(`${path}: cannot open: ${e.code === 'ENOENT' ? 'no such file' : (e.code ?? e.message)}`, path);
  }
  try {
    return await f(fileSource(fh, (await fh.stat()).size, path));
  } finally {
    await fh.close();
  }
}

/** What the file's first bytes say it is: 'safetensors', 'zip' / 'legacy' (torch.save), or 'unknown'. */
export async function sniffWeightsFile(path: string): Promise<ReturnType<typeof sniffWeightsFormat>> {
  return withFile(path, async (src) => sniffWeightsFormat(await src.read(0, Math.min(16, src.size))));
}

/**
 * The state dict of a `torch.save` file (zip or legacy), chosen as `pickStateDict` says (or under
 * `weightsKey`), its tensors read storage by storage from the file.
 */
export async function readPytorchFile(path: string, opts: { weightsKey?: string } = {}): Promise<{ tensors: Map<string, Tensor>; info: CheckpointInfo }> {
  return withFile(path, (src) => readTorchStateDict(src, path, opts));
}

/** Write `tensors` as a torch.save zip checkpoint (an OrderedDict state dict), piece by piece: no whole-file buffer. */
export async function writeTorchCheckpoint(path: string, tensors: Map<string, Tensor>): Promise<void> {
  const parts = zipStored(torchZipMembers(tensors)); // before the file is opened: a refused tensor leaves no empty file
  const fh = await open(path, 'w');
  try {
    for (const part of parts) {
      for (let done = 0; done < part.length; ) done += (await fh.write(part, done, Math.min(part.length - done, IO_CHUNK))).bytesWritten;
    }
  } finally {
    await fh.close();
  }
}
