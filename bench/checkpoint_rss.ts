/**
 * Memory of reading a large PyTorch checkpoint: a generated ~300 MB torch.save zip (75 float32
 * tensors of 4 MB) is read by `readWeights` in a fresh process, which reports its peak RSS. The
 * reader reads storage by storage from the file, so the peak should stay near the tensors' own size
 * (issue 21: below 1.5× the file). Run as a script, this file is that child process:
 * `node dist/bench/checkpoint_rss.js FILE` prints `{ baseline, peak, tensors }` (bytes) as JSON.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { peakRssBytes } from '../src/io/host.js';
import { writeTorchCheckpoint } from '../src/io/pytorch.js';
import { readWeightsSource } from '../src/io/weights_source.js';
import { Tensor } from '../src/tensor.js';

export interface CheckpointRss {
  fileBytes: number;
  /** RSS of the reading process before it read (Node and the reader's modules). */
  baselineBytes: number;
  /** Peak RSS of the reading process. */
  peakBytes: number;
}

/** Write the checkpoint into a temporary folder, read it in a child process, remove it. */
export function measureCheckpointRss(tensorCount = 75, elementsPerTensor = 1 << 20): Promise<CheckpointRss> {
  const dir = mkdtempSync(join(tmpdir(), 'visionmix-rss-'));
  const file = join(dir, 'big.pth');
  return (async () => {
    try {
      const tensors = new Map<string, Tensor>();
      for (let i = 0; i < tensorCount; i++) {
        const data = new Float32Array(elementsPerTensor);
        for (let j = 0; j < data.length; j += 1024) data[j] = i + j; // not all zeros: pages must really be touched
        tensors.set(`blocks.${i}.weight`, new Tensor(data, [elementsPerTensor / 1024, 1024], 'float32'));
      }
      await writeTorchCheckpoint(file, tensors);
      tensors.clear();
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), file], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`checkpoint reader failed: ${child.stderr}`);
      const r = JSON.parse(child.stdout) as { baseline: number; peak: number; tensors: number };
      if (r.tensors !== tensorCount) throw new Error(`read ${r.tensors} tensors, wrote ${tensorCount}`);
      return { fileBytes: statSync(file).size, baselineBytes: r.baseline, peakBytes: r.peak };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
}

async function child(file: string): Promise<void> {
  const baseline = process.memoryUsage().rss;
  const sd = await readWeightsSource(file);
  // VmHWM: this process image's own peak (getrusage's maxRSS carries over the parent's through fork).
  const peak = peakRssBytes();
  if (peak === null) throw new Error('this system does not report a peak RSS (/proc/self/status VmHWM)');
  process.stdout.write(JSON.stringify({ baseline, peak, tensors: sd.size }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  child(process.argv[2]!).catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}
