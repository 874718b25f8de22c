/**
 * visionmix/web-train — fine-tuning in the browser, with Node's trainer (train/trainer.ts: AdamW/SGD,
 * cosine schedule with warm-up, label smoothing, gradient clipping, EMA, drop path, layer decay,
 * a frozen backbone, micro-batches) and Node's compiled train step, on onnxruntime-web.
 *
 *   const data = await prepareImages(files.map((f) => ({ image: f, label: classOf(f) })), classes, 224, model);
 *   const r = await trainInBrowser({ model, train: data, run: 'my-run', config: { epochs: 3, batchSize: 16, lr: 1e-4 } });
 *   // r.weights: model.safetensors bytes (timm key names) that Node and timm load strictly.
 *
 * Checkpoints go to IndexedDB (`indexedDbStore`) as the same checksummed safetensors bytes as Node's
 * checkpoint files: a run whose tab was closed resumes exactly from its last checkpoint when
 * `trainInBrowser` is called again with the same `run` (and refuses one made with other settings).
 * Run it in a Web Worker so that the page never freezes: `serveTrainWorker()` in the worker script,
 * `trainInWorker(worker, request, onEvent)` on the page.
 *
 * Images come either as bytes at the training size (`prepareImages`: the eval transform's resize and
 * centre crop; batches get random crops with `cropPad` padding and flips, as Fashion-MNIST's in Node)
 * or decoded at their own size (`decodeImages`) for Node's image-folder recipe: RandomResizedCrop,
 * RandAugment, jitter, erasing and Mixup/CutMix (`augment`, `mixup`), with the same batches as Node's loader.
 */
import { loadImageWeb, type WebImageSource } from './data/web_image.js';
import { evalCrop } from './data/image_transform.js';
import type { ImageDataset } from './data/transforms.js';
import type { PlanarImage } from './data/resample.js';
import type { TrainTransformConfig } from './data/train_transform.js';
import { DecodedImageBatches } from './train/decoded_batches.js';
import { Mixup, type MixupOptions } from './train/mixup.js';
import { ConfigError, DataError, VisionmixError } from './errors.js';
import { checkpointEntries, checkpointFromEntries } from './io/checkpoint_format.js';
import { parseChecksummed, serializeChecksummed } from './io/safetensors_bytes.js';
import type { VisionModel } from './models/base.js';
import { LIMITS } from './models/config.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './models/registry.js';
import type { Engine } from './tasks/engine.js';
import type { EvalResult } from './train/evaluate.js';
import { crossEntropy } from './train/losses.js';
import type { Objective } from './train/objective.js';
import { makeOptimizer } from './train/optim.js';
import { DEFAULT_TRAIN_CONFIG, Trainer, validateConfig, type Checkpoint, type MetricsRecord, type TrainConfig, type TrainerEvent } from './train/trainer.js';

// ---- data ------------------------------------------------------------------------------------------

/** The mean and std images are normalised with: the model's pretrained ones, ImageNet's without them. */
function normalisation(model: VisionModel | undefined): { mean: [number, number, number]; std: [number, number, number] } {
  const pc = model?.pretrainedConfig;
  return { mean: (pc?.mean ?? IMAGENET_MEAN) as [number, number, number], std: (pc?.std ?? IMAGENET_STD) as [number, number, number] };
}

/** A DataError naming the image whose label is not one of the classes (`fn`: the caller, for the message). */
function checkLabel(fn: string, i: number, label: number, classes: readonly string[]): void {
  if (!(Number.isInteger(label) && label >= 0 && label < classes.length))
    throw new DataError(`${fn}: image ${i} has label ${label}, not one of the ${classes.length} classes (0 to ${classes.length - 1})`);
}

/**
 * Decode labelled images (anything `loadImage` takes: File, Blob, URL, bytes, ImageBitmap, …) into a
 * data set of `size`×`size` RGB bytes: the eval transform's bicubic resize of the shorter side and
 * centre crop (crop_pct 1). Normalised with the model's pretrained mean and std (ImageNet's without one).
 */
export async function prepareImages(
  items: readonly { image: WebImageSource; label: number }[],
  classes: readonly string[],
  size: number,
  model?: VisionModel,
): Promise<ImageDataset> {
  // Bounded above too: the size is a caller's number that sizes one allocation per image.
  if (!(Number.isInteger(size) && size >= 8 && size <= LIMITS.imageSide))
    throw new ConfigError(`prepareImages: size must be an integer from 8 to ${LIMITS.imageSide}, got ${size}`);
  if (classes.length < 2 || classes.length > 256) throw new ConfigError(`prepareImages: 2 to 256 classes, got ${classes.length}`);
  const { mean, std } = normalisation(model);
  const plane = 3 * size * size;
  const images = new Uint8Array(items.length * plane);
  const labels = new Uint8Array(items.length);
  for (const [i, { image, label }] of items.entries()) {
    checkLabel('prepareImages', i, label, classes);
    const decoded = await loadImageWeb(image);
    images.set(evalCrop(decoded, { inputSize: [3, size, size], cropPct: 1, interpolation: 'bicubic', mean, std }).data, i * plane);
    labels[i] = label;
  }
  return { images, labels, count: items.length, height: size, width: size, channels: 3, classes, mean, std };
}

/** A picked file: a Blob with the name and folder path that `<input webkitdirectory>` gives it. */
export interface PickedFile extends Blob {
  readonly name: string;
  /** `root/class/image.png` from a folder picker (or set by the caller, e.g. from drag-and-drop entries). */
  readonly webkitRelativePath?: string;
}

/**
 * Files from a folder picker (`<input type="file" webkitdirectory>`) or a dropped folder, one
 * sub-folder per class (`root/cat/1.jpg`, `root/dog/2.jpg`): the labelled items `prepareImages` takes
 * and the class names (sorted, as Node's image folders sort them). Files that are not images by
 * their extension (.png, .jpg, .jpeg, .webp) are left out; a file outside any class folder is an error.
 */
export function classFolders(files: Iterable<PickedFile>): { items: { image: PickedFile; label: number }[]; classes: string[] } {
  const byClass = new Map<string, PickedFile[]>();
  for (const f of files) {
    if (!/\.(png|jpe?g|webp)$/i.test(f.name)) continue;
    const parts = (f.webkitRelativePath || f.name).split('/').filter(Boolean);
    if (parts.length < 2) throw new DataError(`'${f.name}' is not in a class folder: pick a folder with one sub-folder per class (root/class/image.png)`);
    const cls = parts[parts.length - 2]!;
    byClass.set(cls, [...(byClass.get(cls) ?? []), f]);
  }
  const classes = [...byClass.keys()].sort();
  if (classes.length < 2) throw new DataError(`found ${classes.length} class folder${classes.length === 1 ? ` (${classes[0]})` : 's'}; a classifier needs at least 2, one sub-folder each`);
  const items = classes.flatMap((c, label) => byClass.get(c)!.map((image) => ({ image, label })));
  return { items, classes };
}

/** The part of the File and Directory Entries API that a dropped folder is read with. */
interface DroppedEntry {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly name: string;
  readonly fullPath: string;
  file?(success: (f: File) => void, failure?: (e: unknown) => void): void;
  createReader?(): { readEntries(success: (entries: DroppedEntry[]) => void, failure?: (e: unknown) => void): void };
}

/**
 * The files of folders dropped on the page (a `drop` event's `dataTransfer`), each with its path
 * below the dropped folder as `webkitRelativePath` (`root/class/image.png`), ready for `classFolders`.
 */
export async function droppedFiles(dataTransfer: { items: ArrayLike<{ webkitGetAsEntry(): unknown }> }): Promise<PickedFile[]> {
  const out: PickedFile[] = [];
  const walk = async (entry: DroppedEntry): Promise<void> => {
    if (entry.isFile && entry.file) {
      const f = await new Promise<File>((resolve, reject) => entry.file!(resolve, reject));
      // An own property shadows File's read-only getter: the path the entry had in the drop.
      Object.defineProperty(f, 'webkitRelativePath', { value: entry.fullPath.replace(/^\//, '') });
      out.push(f as PickedFile);
    } else if (entry.isDirectory && entry.createReader) {
      const reader = entry.createReader();
      // readEntries hands out a directory's entries in chunks, until an empty one.
      for (;;) {
        const chunk = await new Promise<DroppedEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
        if (!chunk.length) break;
        for (const e of chunk) await walk(e);
      }
    }
  };
  // The entries are taken first: a DataTransfer's items are gone after the event handler's first await.
  const entries = Array.from(dataTransfer.items, (it) => it.webkitGetAsEntry() as DroppedEntry | null).filter((e): e is DroppedEntry => e !== null);
  for (const e of entries) await walk(e);
  return out;
}

/** Labelled images decoded at their own size: what the train transforms augment (see `decodeImages`). */
export interface DecodedImages {
  images: PlanarImage[];
  labels: number[];
  classes: readonly string[];
}

/**
 * Decode labelled images at their own size, for training with Node's image-folder recipe
 * (`augment`, `mixup` in `trainInBrowser`): RandomResizedCrop and the rest work on the whole image,
 * so the batches equal Node's loader's on the same files. Memory: 3 bytes per pixel of every image.
 */
export async function decodeImages(items: readonly { image: WebImageSource; label: number }[], classes: readonly string[]): Promise<DecodedImages> {
  const images: PlanarImage[] = [];
  for (const [i, { image, label }] of items.entries()) {
    checkLabel('decodeImages', i, label, classes);
    images.push(await loadImageWeb(image));
  }
  return { images, labels: items.map((it) => it.label), classes };
}

// ---- checkpoints ------------------------------------------------------------------------------------

/** Where a browser run keeps its checkpoint: one value per run key, replaced atomically. */
export interface CheckpointStore {
  get(run: string): Promise<Uint8Array | null>;
  put(run: string, bytes: Uint8Array): Promise<void>;
  delete(run: string): Promise<void>;
}

const STORE = 'checkpoints';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/**
 * Checkpoints in IndexedDB (database `database`, object store 'checkpoints'). Each `put` is one
 * transaction, so a tab closed while saving keeps the previous checkpoint whole.
 */
export function indexedDbStore(database = 'visionmix'): CheckpointStore {
  let db: Promise<IDBDatabase> | null = null;
  const open = () =>
    (db ??= new Promise((resolve, reject) => {
      const r = indexedDB.open(database, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    }));
  const tx = async (mode: IDBTransactionMode) => (await open()).transaction(STORE, mode);
  const done = (t: IDBTransaction) =>
    new Promise<void>((resolve, reject) => {
      t.oncomplete = () => resolve();
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
    });
  return {
    async get(run) {
      const v = await request((await tx('readonly')).objectStore(STORE).get(run));
      return v === undefined ? null : new Uint8Array(v as ArrayBuffer);
    },
    async put(run, bytes) {
      const t = await tx('readwrite');
      // A copy of exactly these bytes (a view may sit in a larger buffer).
      t.objectStore(STORE).put(bytes.slice().buffer, run);
      await done(t);
    },
    async delete(run) {
      const t = await tx('readwrite');
      t.objectStore(STORE).delete(run);
      await done(t);
    },
  };
}

// ---- training ---------------------------------------------------------------------------------------

/** The trainer's events, and 'micro-batches' when the step runs in micro-batches to fit the memory. */
export type BrowserTrainEvent = TrainerEvent | { type: 'micro-batches'; size: number; batchSize: number };

export interface BrowserTrainOptions {
  /** A model from visionmix/web's `createModel` (its engine compiles and runs the step). */
  model: VisionModel;
  /**
   * Images at the training size (`prepareImages`: batches get random crops with `cropPad` and flips),
   * or decoded at their own size (`decodeImages`) for Node's image-folder recipe: `augment`, `mixup`.
   */
  train: ImageDataset | DecodedImages;
  /**
   * With decoded images: the timm train transform (RandomResizedCrop scale/ratio, hflip, RandAugment
   * `autoAugment: 'rand-m9-mstd0.5-inc1'`, colour jitter, random erasing), at `config.inputSize`,
   * normalised with the model's mean and std. Default: RandomResizedCrop and flips.
   */
  augment?: Omit<TrainTransformConfig, 'inputSize' | 'mean' | 'std'>;
  /** With decoded images: Mixup/CutMix (label smoothing from `config.labelSmoothing`). */
  mixup?: Omit<MixupOptions, 'numClasses' | 'labelSmoothing'>;
  /** Evaluated after every epoch (loss, accuracy; EMA weights too with `emaDecay`). */
  test?: ImageDataset;
  /** Training settings (defaults: Node's `visionmix train` defaults, at the data's image size). */
  config?: Partial<TrainConfig>;
  /** The run's key in `store`: a run with a checkpoint there continues from it. */
  run: string;
  store?: CheckpointStore;
  onEvent?: (e: BrowserTrainEvent) => void;
  /** Aborting finishes the step in flight, writes a checkpoint and rejects with an InterruptedError. */
  signal?: AbortSignal;
  /** Stop after this many steps of this call (tests; the run stays resumable). */
  stopAfterSteps?: number;
}

export interface BrowserTrainResult {
  /** Optimisation steps done in all, resumed ones included. */
  steps: number;
  /** The last evaluation (null without test data, or when stopped before an epoch ended). */
  result: EvalResult | null;
  /** Every metrics record of this call (steps and epochs), as Node writes them to metrics.jsonl. */
  records: MetricsRecord[];
  /** The weights as a model.safetensors file (timm key names, checksummed). */
  weights: Uint8Array;
  /** Whether the training state stayed on the device between steps (WebGPU), only the batch and the loss crossing. */
  stateOnDevice: boolean;
}

/** What a checkpoint must agree with to be resumed: the model and the settings that make the numbers. */
function runConfigOf(model: VisionModel, config: TrainConfig, o: BrowserTrainOptions) {
  const { epochs: _epochs, ...settings } = config;
  // The network as its parameters' names and shapes (a browser run has no run.json with its spec).
  const network = model.namedParameters().map(([k, p]) => `${k}:${p.tensor.shape.join('x')}`);
  const t = o.train;
  const data = isDecoded(t) ? { count: t.images.length, classes: t.classes, augment: o.augment ?? null, mixup: o.mixup ?? null } : { count: t.count, size: t.height, classes: t.classes };
  return { model: model.name || model.family, network, settings, data };
}

function isDecoded(t: ImageDataset | DecodedImages): t is DecodedImages {
  return Array.isArray((t as DecodedImages).images);
}

/** Train (or continue training) `model` on `train`; see the module comment. */
export async function trainInBrowser(o: BrowserTrainOptions): Promise<BrowserTrainResult> {
  // Duck-typed: a page may load this entry and visionmix/web as two bundles, each with its own Engine class.
  const engine = o.model.backend as Engine | null;
  if (typeof engine?.createSession !== 'function') throw new ConfigError('trainInBrowser: the model must come from createModel (it has no engine)');
  // `pretrained: true` weights are fetched before the first run: the step must start from them.
  await o.model.ready();
  const store = o.store ?? indexedDbStore();
  const t = o.train;
  if (!isDecoded(t) && (o.augment || o.mixup)) throw new ConfigError('trainInBrowser: augment and mixup need decoded images (decodeImages), not images prepared at the training size');
  // Prepared images are at the training size already; decoded ones are cropped to the configured one.
  const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, inputSize: isDecoded(t) ? DEFAULT_TRAIN_CONFIG.inputSize : t.height, cropPad: 0, ...o.config };
  validateConfig(config, isDecoded(t) ? t.images.length : t.count);
  // onnxruntime-web has a 4 GiB heap: a step that would not fit runs in micro-batches (the same update),
  // or is refused with the micro-batch size that fits when one was given.
  o.model.train();
  const microBatch = engine.fitMicroBatch(o.model, crossEntropy({ labelSmoothing: config.labelSmoothing }) as Objective<unknown>, {
    optimizer: makeOptimizer(config.optimizer),
    batchShape: [config.batchSize, o.model.defaultInputSize[0], config.inputSize, config.inputSize],
    microBatch: config.microBatch ?? 'auto',
  });
  if (microBatch !== config.microBatch) {
    config.microBatch = microBatch;
    if (microBatch !== undefined) o.onEvent?.({ type: 'micro-batches', size: microBatch, batchSize: config.batchSize });
  }
  const runConfig = runConfigOf(o.model, config, o);
  const saved = await store.get(o.run);
  let ckpt: Checkpoint | null = null;
  if (saved) {
    const { tensors, metadata } = await parseChecksummed(saved, `checkpoint of run '${o.run}'`);
    const loaded = checkpointFromEntries<Checkpoint['meta']>(tensors, metadata, `checkpoint of run '${o.run}'`);
    if (JSON.stringify(loaded.runConfig) !== JSON.stringify(runConfig))
      throw new ConfigError(`run '${o.run}' has a checkpoint made with other settings, model or data; give another run key, or delete it (store.delete('${o.run}'))`);
    ckpt = loaded.ckpt as Checkpoint;
  }
  const records: MetricsRecord[] = [];
  const target = (await engine.runtime.emitTarget?.()) ?? 'cpu';
  const trainData = isDecoded(t) ? decodedBatches(o.model, config, t, o) : t;
  const trainer = await Trainer.create(o.model, config, trainData, o.test ?? null, {
    createSession: engine.trainStepSessions(),
    // WebGPU needs graphs lowered for it (graph/emit.ts), and keeps the state in GPU buffers between
    // steps (only the batch goes up, the loss comes back); wasm takes the CPU's graphs.
    target,
    keepStateOnDevice: target === 'webgpu',
    async saveCheckpoint(c) {
      const { tensors, metadata } = checkpointEntries(c, runConfig);
      await store.put(o.run, await serializeChecksummed(tensors, metadata));
    },
    writeMetrics: (r) => void records.push(r),
    now: () => performance.now(),
  });
  try {
    if (ckpt) trainer.restore(ckpt);
    const result = await trainer.run(o.onEvent, o.stopAfterSteps, o.signal);
    // The weights as trained so far (a run stopped after `stopAfterSteps` has not synced them).
    await trainer.step.toHost();
    trainer.step.syncToModel(false);
    return { steps: trainer.step.stepCount, result, records, weights: await serializeChecksummed(o.model.stateDict()), stateOnDevice: trainer.step.stateOnDevice };
  } finally {
    await trainer.release();
  }
}

/** Batches of decoded images with the image-folder recipe (train/decoded_batches.ts). */
function decodedBatches(model: VisionModel, config: TrainConfig, t: DecodedImages, o: BrowserTrainOptions): DecodedImageBatches {
  const s = config.inputSize;
  const transform: TrainTransformConfig = { ...o.augment, inputSize: [3, s, s], ...normalisation(model) };
  const mixup = o.mixup ? new Mixup({ ...o.mixup, numClasses: t.classes.length, labelSmoothing: config.labelSmoothing }) : undefined;
  return new DecodedImageBatches(t.images, t.labels, { batchSize: config.batchSize, seed: config.seed, transform, mixup });
}

// ---- in a Web Worker --------------------------------------------------------------------------------

/** What the page sends the worker to train: everything but the functions, which stay on each side. */
export interface TrainRequest {
  /** `createModel`'s spec and options in the worker (weights: a URL, `hf:` reference or bytes). */
  model: { spec: unknown; options?: Record<string, unknown>; weights?: string | Uint8Array; device?: 'wasm' | 'webgpu' | 'auto' };
  train: ImageDataset | DecodedImages;
  test?: ImageDataset;
  augment?: BrowserTrainOptions['augment'];
  mixup?: BrowserTrainOptions['mixup'];
  config?: Partial<TrainConfig>;
  run: string;
  /** IndexedDB database of the checkpoints (default 'visionmix'). */
  database?: string;
  stopAfterSteps?: number;
}

type WorkerMessage =
  | { type: 'event'; event: BrowserTrainEvent }
  | { type: 'done'; result: BrowserTrainResult }
  | { type: 'error'; name: string; message: string; step?: number };

interface MessagePort_ {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
}

/**
 * In a Web Worker's script: answer `trainInWorker`'s requests. `createModel` is visionmix/web's (passed
 * in, so that this entry does not bundle the inference entry twice).
 */
export function serveTrainWorker(createModel: (spec: never, options: never) => VisionModel, scope: MessagePort_ = globalThis as unknown as MessagePort_): void {
  let stop: AbortController | null = null;
  scope.addEventListener('message', async (e: MessageEvent) => {
    const msg = e.data as { type: 'train'; request: TrainRequest } | { type: 'stop' };
    if (msg.type === 'stop') return void stop?.abort();
    if (msg.type !== 'train') return;
    stop = new AbortController();
    const r = msg.request;
    try {
      const model = createModel(r.model.spec as never, { ...r.model.options, ...(r.model.device ? { device: r.model.device } : {}) } as never);
      if (r.model.weights !== undefined) await model.loadWeights(r.model.weights as never, { backboneOnly: true } as never);
      const out = await trainInBrowser({
        model,
        train: r.train,
        test: r.test,
        augment: r.augment,
        mixup: r.mixup,
        config: r.config,
        run: r.run,
        store: indexedDbStore(r.database),
        stopAfterSteps: r.stopAfterSteps,
        signal: stop.signal,
        onEvent: (event) => scope.postMessage({ type: 'event', event } satisfies WorkerMessage),
      });
      scope.postMessage({ type: 'done', result: out } satisfies WorkerMessage, [out.weights.buffer as ArrayBuffer]);
    } catch (err) {
      const x = err as VisionmixError & { step?: number };
      scope.postMessage({ type: 'error', name: x.name ?? 'Error', message: x.message ?? String(err), ...(x.step !== undefined ? { step: x.step } : {}) } satisfies WorkerMessage);
    }
  });
}

/** An error the worker reported, with its name (ConfigError, InterruptedError, …) and message. */
export class WorkerTrainError extends VisionmixError {
  constructor(
    readonly errorName: string,
    message: string,
    readonly step?: number,
  ) {
    super(`${errorName}: ${message}`);
  }
}

/**
 * On the page: train in `worker` (a module worker whose script calls `serveTrainWorker`), with its
 * progress events; `signal` asks it to stop after a checkpoint (the run then resumes with the same
 * request). The data is copied to the worker (structured clone).
 */
export function trainInWorker(worker: MessagePort_, req: TrainRequest, onEvent?: (e: BrowserTrainEvent) => void, signal?: AbortSignal): Promise<BrowserTrainResult> {
  return new Promise((resolve, reject) => {
    const onMessage = (e: MessageEvent) => {
      const m = e.data as WorkerMessage;
      if (m.type === 'event') return onEvent?.(m.event);
      worker.removeEventListener('message', onMessage);
      if (m.type === 'done') resolve(m.result);
      else reject(new WorkerTrainError(m.name, m.message, m.step));
    };
    worker.addEventListener('message', onMessage);
    signal?.addEventListener('abort', () => worker.postMessage({ type: 'stop' }), { once: true });
    worker.postMessage({ type: 'train', request: req });
  });
}
