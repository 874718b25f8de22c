/**
 * visionmix/web-train's parts that need no browser, run in Node: classFolders (Blob is global), and
 * trainInBrowser on onnxruntime-node with an in-memory checkpoint store (memory fitting, settings
 * check, checksum).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DataError } from '../../src/errors.js';
import { createModel } from '../../src/index.js';
import { BUNDLED_FASHION_MNIST_DIR, loadFashionMnist } from '../../src/io/fashion_mnist_files.js';
import { readWeightsSource } from '../../src/io/weights_source.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { Engine, trainStepBytes } from '../../src/tasks/engine.js';
import { MEMORY_SHARE } from '../../src/tasks/input_size.js';
import { crossEntropy } from '../../src/train/losses.js';
import { adamw } from '../../src/train/optim.js';
import { classFolders, droppedFiles, prepareImages, trainInBrowser, type BrowserTrainEvent, type CheckpointStore, type PickedFile } from '../../src/web_train.js';

const file = (path: string): PickedFile => Object.assign(new Blob([new Uint8Array(4)]), { name: path.split('/').pop()!, webkitRelativePath: path });

test('files are labelled by their class folder, classes sorted, non-images left out', () => {
  const { items, classes } = classFolders([file('pets/dog/a.jpg'), file('pets/cat/b.PNG'), file('pets/cat/c.webp'), file('pets/cat/notes.txt'), file('pets/dog/d.jpeg')]);
  assert.deepEqual(classes, ['cat', 'dog']);
  assert.deepEqual(items.map((i) => [i.image.name, i.label]), [['b.PNG', 0], ['c.webp', 0], ['a.jpg', 1], ['d.jpeg', 1]]);
});

test('a file outside a class folder, or a single class, is a DataError naming it', () => {
  assert.throws(() => classFolders([file('a.png'), file('x/b.png')]), (e: unknown) => e instanceof DataError && /'a\.png' is not in a class folder/.test((e as Error).message));
  assert.throws(() => classFolders([file('r/cat/a.png'), file('r/cat/b.png')]), (e: unknown) => e instanceof DataError && /found 1 class folder \(cat\); a classifier needs at least 2/.test((e as Error).message));
});

/** A CheckpointStore in memory (what IndexedDB is in the page). */
function memoryStore(): CheckpointStore & { map: Map<string, Uint8Array> } {
  const map = new Map<string, Uint8Array>();
  return { map, get: async (k) => map.get(k) ?? null, put: async (k, v) => void map.set(k, v.slice()), delete: async (k) => void map.delete(k) };
}

test('trainInBrowser (run here on onnxruntime-node): a step beyond the runtime’s memory runs in micro-batches with the same losses; a checkpoint of other settings is refused', async () => {
  const fm = await loadFashionMnist(BUNDLED_FASHION_MNIST_DIR);
  const px = 28 * 28;
  const train = { ...fm.train, images: fm.train.images.slice(0, 32 * px), labels: fm.train.labels.slice(0, 32), count: 32 };
  const spec = { family: 'convnextv2', depths: [1, 1, 1, 1], dims: [8, 16, 24, 32], stem_stride: 2, in_chans: 1, num_classes: 10 } as const;
  const config = { epochs: 1, batchSize: 16, inputSize: 32, cropPad: 2, seed: 0, lr: 1e-3 };
  const run = async (engine: Engine, store = memoryStore()) => {
    const model = engine.createModel(spec, { seed: 0 });
    const events: BrowserTrainEvent[] = [];
    const r = await trainInBrowser({ model, train, config, run: 'r', store, onEvent: (e) => void events.push(e) });
    return { losses: events.flatMap((e) => (e.type === 'step' ? [e.loss] : [])), micro: events.find((e) => e.type === 'micro-batches'), r, store };
  };
  const roomy = await run(new Engine(nodeRuntime(readWeightsSource)));
  assert.equal(roomy.micro, undefined);
  assert.equal(roomy.losses.length, 2);
  // A runtime whose memory holds the step on about 6 images, not 16.
  const m = createModel(spec);
  m.train();
  const six = trainStepBytes(m, crossEntropy() as never, { optimizer: adamw(), batchShape: [6, 1, 32, 32] });
  const tight = await run(new Engine({ ...nodeRuntime(readWeightsSource), memoryBytes: () => six / MEMORY_SHARE }));
  assert.ok(tight.micro && tight.micro.type === 'micro-batches' && tight.micro.size >= 1 && tight.micro.size < 16, JSON.stringify(tight.micro));
  tight.losses.forEach((l, i) => assert.ok(Math.abs(l - roomy.losses[i]!) <= 1e-5 * Math.abs(l), `step ${i + 1}: ${l} vs ${roomy.losses[i]}`));
  // The run's checkpoint is Node's checksummed safetensors; other settings under the same key are refused.
  const bytes = roomy.store.map.get('r')!;
  assert.ok(bytes.length > 0);
  const model = createModel(spec, { seed: 0 });
  await assert.rejects(
    trainInBrowser({ model, train, config: { ...config, lr: 5e-4 }, run: 'r', store: roomy.store }),
    (e: unknown) => e instanceof ConfigError && /run 'r' has a checkpoint made with other settings/.test((e as Error).message),
  );
  // A flipped byte in the stored checkpoint is found by its checksum.
  bytes[bytes.length - 5] ^= 0xff;
  await assert.rejects(trainInBrowser({ model, train, config, run: 'r', store: roomy.store }), /checksum mismatch/);
});

test('droppedFiles walks dropped folders (entries read in chunks) and gives each file its path for classFolders', async () => {
  const fileEntry = (path: string) => ({ isFile: true, isDirectory: false, name: path.split('/').pop()!, fullPath: `/${path}`, file: (ok: (f: File) => void) => ok(new File([new Uint8Array(3)], path.split('/').pop()!)) });
  const dirEntry = (path: string, children: unknown[]) => {
    // Two chunks, then an empty one, as browsers hand out large folders.
    const chunks = [children.slice(0, 1), children.slice(1), []];
    return { isFile: false, isDirectory: true, name: path.split('/').pop()!, fullPath: `/${path}`, createReader: () => ({ readEntries: (ok: (e: unknown[]) => void) => ok(chunks.shift() ?? []) }) };
  };
  const root = dirEntry('pets', [dirEntry('pets/cat', [fileEntry('pets/cat/1.png'), fileEntry('pets/cat/2.jpg')]), dirEntry('pets/dog', [fileEntry('pets/dog/3.png')])]);
  const files = await droppedFiles({ items: [{ webkitGetAsEntry: () => root }, { webkitGetAsEntry: () => null }] });
  assert.deepEqual(files.map((f) => f.webkitRelativePath), ['pets/cat/1.png', 'pets/cat/2.jpg', 'pets/dog/3.png']);
  const { items, classes } = classFolders(files);
  assert.deepEqual(classes, ['cat', 'dog']);
  assert.deepEqual(items.map((i) => i.label), [0, 0, 1]);
});

test('prepareImages refuses a size outside 8 … 1024 before allocating anything', async () => {
  for (const size of [4, 8.5, 100_000]) await assert.rejects(prepareImages([], ['a', 'b'], size), (e: unknown) => e instanceof ConfigError && /size must be an integer from 8 to 1024, got/.test(e.message));
  assert.equal((await prepareImages([], ['a', 'b'], 32)).count, 0);
});
