/**
 * The demo page's script (bundled by esbuild with `npm run web`): pick or drop an image → top 5 for a
 * model and weights (hub tag, URL or a local file), the stage feature maps, GLNet's slot-assignment
 * picture (the same rendering as `visionmix analyze slots`) and a timing line.
 */
import { createEngine, createModel, loadImage, loadWeights, createTransform, pretrainedTags, setJpegWasm, type Engine, type EvalTransformConfig, type VisionModel } from '../../src/web.js';
import { transformConfigFromPretrained } from '../../src/tasks/transform.js';
import { inputToRgb, renderSlotMaps, type RgbImage, type SlotMapPanel } from '../../src/analysis/slot_maps.js';
import { classLabels, topK } from '../../src/tasks/classify_image.js';
import type { Tensor } from '../../src/tensor.js';
import { classFolders, droppedFiles, prepareImages, trainInWorker, type BrowserTrainEvent, type PickedFile, type TrainRequest } from '../../src/web_train.js';
import type { ImageDataset } from '../../src/data/transforms.js';

setJpegWasm('/wasm/jpeg-turbo.wasm');
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// Small models first: the page runs on the CPU unless WebGPU is chosen.
const small = (t: string) => (/atto|femto|pico|nano|xxs|_ti\b|_xs/.test(t) ? 0 : 1);
const names = pretrainedTags()
  .map((t) => t.tag)
  .sort((a, b) => small(a) - small(b) || a.localeCompare(b));
for (const n of names) $('model').append(new Option(n, n));

const samples: string[] = await (await fetch('/samples.json')).json();
for (const s of samples) {
  const b = document.createElement('button');
  b.textContent = s.replace(/\.\w+$/, '');
  b.onclick = () => void run(`/samples/${s}`, s);
  $('samples').append(b, ' ');
}

const engines = new Map<string, Engine>();
/** The model in use; a fine-tuned one brings its class names and the transform it was trained with. */
let current: { key: string; model: VisionModel; labels?: readonly string[]; transform?: EvalTransformConfig } | null = null;

/** The model and weights chosen in the form; `key` changes when any of them does. */
function selection() {
  const device = ($('device') as HTMLSelectElement).value as 'wasm' | 'webgpu' | 'auto';
  const config = ($('config') as HTMLInputElement).value.trim();
  const name = ($('model') as HTMLSelectElement).value;
  const src = (document.querySelector('input[name=wsrc]:checked') as HTMLInputElement).value;
  const file = ($('wfile') as HTMLInputElement).files?.[0];
  const url = ($('wurl') as HTMLInputElement).value.trim();
  const key = JSON.stringify([device, config || name, src, src === 'file' ? `${file?.name}:${file?.size}:${file?.lastModified}` : src === 'url' ? url : '']);
  return { device, config, name, src, file, url, key };
}

function engineFor(device: string): Engine {
  let engine = engines.get(device);
  if (!engine) engines.set(device, (engine = createEngine({ device: device as 'wasm' | 'webgpu' | 'auto' })));
  return engine;
}

/** The model of the form's selection (a fine-tuned one stays until the selection changes). */
async function getModel(): Promise<VisionModel> {
  const { device, config, name, src, file, url, key } = selection();
  if (current?.key === key) return current.model;
  const spec = config ? JSON.parse(config) : name;
  const model = createModel(spec, { engine: engineFor(device), pretrained: src === 'hub' && !config });
  if (src === 'file') {
    if (!file) throw new Error('choose a .safetensors file');
    await loadWeights(model, file, { strict: false });
  } else if (src === 'url') await loadWeights(model, url);
  await model.ready();
  model.eval();
  current = { key, model };
  return model;
}

function draw(canvas: HTMLCanvasElement, img: RgbImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let p = 0; p < img.width * img.height; p++) {
    rgba[4 * p] = img.data[3 * p]!;
    rgba[4 * p + 1] = img.data[3 * p + 1]!;
    rgba[4 * p + 2] = img.data[3 * p + 2]!;
    rgba[4 * p + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
}

/** A stage's [1, C, h, w] map as a grey image: mean over channels, min–max scaled. */
function stageImage(t: Tensor): RgbImage {
  const [, c, h, w] = t.shape as [number, number, number, number];
  const d = t.data as Float32Array;
  const m = new Float32Array(h * w);
  for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) m[p]! += d[ch * h * w + p]! / c;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of m) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const data = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) data.fill(Math.round((255 * (m[p]! - lo)) / (hi - lo || 1)), 3 * p, 3 * p + 3);
  return { width: w, height: h, data };
}

async function run(source: string | File | HTMLCanvasElement, name: string): Promise<void> {
  $('error').textContent = '';
  $('top5').textContent = 'working…';
  try {
    const t0 = performance.now();
    const model = await getModel();
    const tf = createTransform(current?.transform ?? (model.pretrainedConfig ? transformConfigFromPretrained(model.pretrainedConfig) : { inputSize: [3, 224, 224], cropPct: 0.875, interpolation: 'bicubic', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }));
    const img = await loadImage(source);
    const x = await tf(img);
    const t1 = performance.now();
    const glnet = model.outputNames.includes('slots');
    // First run compiles the graph; the second is the per-image time.
    const opts = { features: true, ...(glnet ? { slots: true } : {}) };
    await model.run(x, opts);
    const t2 = performance.now();
    const out = await model.run(x, opts);
    const t3 = performance.now();
    const top = topK(out.logits.data as Float32Array, 5, current?.labels ?? classLabels(model.numClasses));
    const [, , h, w] = x.shape as number[];
    draw($('preview'), inputToRgb(x.data as Float32Array, 3, h!, w!, tf.config.mean, tf.config.std));
    $('top5').replaceChildren(
      ...top.map((c) => {
        const li = document.createElement('li');
        li.className = 'prediction';
        li.textContent = `${c.label} — ${(100 * c.score).toFixed(1)}%`;
        const bar = document.createElement('span');
        bar.className = 'bar';
        bar.style.width = `${Math.round(150 * c.score)}px`;
        li.append(bar);
        return li;
      }),
    );
    $('stages').replaceChildren(
      ...(out.features as Tensor[]).map((f, i) => {
        const c = document.createElement('canvas');
        c.title = `stage ${i}: [${f.shape.join(', ')}]`;
        draw(c, stageImage(f));
        return c;
      }),
    );
    const slots = out.slots as Record<string, { assign: Tensor }> | undefined;
    $('slotsTitle').hidden = $('slots').hidden = !slots;
    if (slots) {
      const panels: SlotMapPanel[] = Object.entries(slots)
        .slice(0, 2)
        .map(([path, s]) => {
          const [, n, mh, mw] = s.assign.shape as number[];
          return { title: `${path} · ${mh}×${mw} · ${n} slots`, assign: s.assign.data as Float32Array, slots: n!, height: mh!, width: mw! };
        });
      draw($('slots'), renderSlotMaps(inputToRgb(x.data as Float32Array, 3, h!, w!, tf.config.mean, tf.config.std), panels, { heading: `${model.name || model.family} · ${name}` }));
    }
    const runtime = engines.get(($('device') as HTMLSelectElement).value)!.runtime as unknown as { device(): Promise<string> };
    const device = await runtime.device();
    $('timing').textContent =
      `${name}: load+decode ${(t1 - t0).toFixed(0)} ms · first run (compile + run) ${(t2 - t1).toFixed(0)} ms · ` +
      `per image ${(t3 - t2).toFixed(0)} ms · ${device}, ${crossOriginIsolated ? 'cross-origin isolated' : 'not isolated: 1 thread'}`;
  } catch (err) {
    $('top5').textContent = '';
    $('error').textContent = String((err as Error).message ?? err);
  }
}

// The webcam: a frame is drawn on a canvas and classified like any image (its pixels as the browser
// gives them: see loadImage's note on canvases).
$('camera').addEventListener('click', async () => {
  try {
    const video = $<HTMLVideoElement>('video');
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    video.hidden = false;
    await video.play();
    ($('snap') as HTMLButtonElement).disabled = false;
  } catch (err) {
    $('error').textContent = `webcam: ${(err as Error).message}`;
  }
});
$('snap').addEventListener('click', () => {
  const video = $<HTMLVideoElement>('video');
  const frame = document.createElement('canvas');
  [frame.width, frame.height] = [video.videoWidth, video.videoHeight];
  frame.getContext('2d')!.drawImage(video, 0, 0);
  void run(frame, 'webcam frame');
});

$('image').addEventListener('change', () => {
  const f = ($('image') as HTMLInputElement).files?.[0];
  if (f) void run(f, f.name);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void run(f, f.name);
});
// ---- fine-tuning on the user's class folders -------------------------------------------------------

let picked: { items: { image: PickedFile; label: number }[]; classes: string[] } | null = null;

function pick(files: Iterable<PickedFile>): void {
  $('error').textContent = '';
  try {
    picked = classFolders(files);
    $('ftdata').textContent = `${picked.items.length} images in ${picked.classes.length} classes (${picked.classes.join(', ')})`;
    ($('fttrain') as HTMLButtonElement).disabled = false;
  } catch (err) {
    picked = null;
    $('error').textContent = String((err as Error).message ?? err);
  }
}

$('ftfolder').addEventListener('change', () => pick(Array.from(($('ftfolder') as HTMLInputElement).files ?? [])));
// A folder dropped on the panel: its class sub-folders, as the folder picker gives them.
const ft = $('ft');
ft.addEventListener('dragover', (e) => e.preventDefault());
ft.addEventListener('drop', (e) => {
  e.preventDefault();
  if (e.dataTransfer) void droppedFiles(e.dataTransfer).then(pick, (err: unknown) => ($('error').textContent = String((err as Error).message ?? err)));
});
$('ftsamples').addEventListener('click', async () => {
  const paths: string[] = await (await fetch('/ftsamples.json')).json();
  const files = await Promise.all(
    paths.map(async (p) => Object.assign(await (await fetch(`/ftsamples/${p}`)).blob(), { name: p.split('/').pop()!, webkitRelativePath: `fashion-mnist/${p}` })),
  );
  pick(files);
});

/** Every fifth image of each class held out (the same split every time). */
function split<T extends { label: number }>(items: T[]): { train: T[]; test: T[] } {
  const seen = new Map<number, number>();
  const train: T[] = [];
  const test: T[] = [];
  for (const it of items) {
    const n = seen.get(it.label) ?? 0;
    seen.set(it.label, n + 1);
    (n % 5 === 4 ? test : train).push(it);
  }
  return { train, test };
}

/** The curve: the loss of every step (left axis) and the held-out accuracy after each epoch (right axis, %). */
function drawCurve(losses: number[], accs: { step: number; acc: number }[], total: number): void {
  const c = $('ftcurve') as HTMLCanvasElement;
  const g = c.getContext('2d')!;
  const [w, h, pad] = [c.width, c.height, 34];
  g.clearRect(0, 0, w, h);
  g.strokeStyle = '#999';
  g.strokeRect(pad, 8, w - 2 * pad, h - pad - 8);
  const maxLoss = Math.max(...losses, 1e-6);
  const x = (step: number) => pad + ((w - 2 * pad) * step) / Math.max(total, 1);
  const yLoss = (l: number) => h - pad - ((h - pad - 8) * l) / maxLoss;
  const yAcc = (a: number) => h - pad - (h - pad - 8) * a;
  g.font = '11px system-ui';
  g.fillStyle = '#36c';
  g.fillText(`loss (0–${maxLoss.toFixed(2)})`, pad, h - 8);
  g.fillStyle = '#2a5';
  g.fillText('held-out accuracy (0–100%)', w - pad - 150, h - 8);
  g.strokeStyle = '#36c';
  g.beginPath();
  losses.forEach((l, i) => (i ? g.lineTo(x(i + 1), yLoss(l)) : g.moveTo(x(i + 1), yLoss(l))));
  g.stroke();
  g.fillStyle = '#2a5';
  for (const a of accs) g.fillRect(x(a.step) - 3, yAcc(a.acc) - 3, 6, 6);
}

let stopper: AbortController | null = null;
$('ftstop').addEventListener('click', () => stopper?.abort());
$('fttrain').addEventListener('click', async () => {
  if (!picked) return;
  const num = (id: string) => Number(($(id) as HTMLInputElement).value);
  const [trainBtn, stopBtn] = [$('fttrain') as HTMLButtonElement, $('ftstop') as HTMLButtonElement];
  trainBtn.disabled = true;
  stopBtn.disabled = false;
  $('error').textContent = '';
  stopper = new AbortController();
  try {
    const size = num('ftsize');
    const { train, test } = split(picked.items);
    $('ftstatus').textContent = `decoding ${picked.items.length} images…`;
    const [trainSet, testSet]: ImageDataset[] = [await prepareImages(train, picked.classes, size), await prepareImages(test, picked.classes, size)];
    // The start: the model and weights chosen above, with a new classifier for these classes.
    const sel = selection();
    const { config, src, file, url } = sel;
    const spec = config ? JSON.parse(config) : sel.name;
    const weights = src === 'file' && file ? new Uint8Array(await file.arrayBuffer()) : src === 'url' && url ? url : undefined;
    const request: TrainRequest = {
      model: { spec, options: { num_classes: picked.classes.length, ...(src === 'hub' && !config ? { pretrained: true } : {}) }, ...(weights ? { weights } : {}) },
      train: trainSet,
      test: testSet,
      config: { epochs: num('ftepochs'), batchSize: Math.min(num('ftbatch'), trainSet.count), lr: Number(($('ftlr') as HTMLInputElement).value), cropPad: Math.round(size / 16), warmupEpochs: 1, freezeBackbone: ($('ftfreeze') as HTMLInputElement).checked },
      run: `demo-${Date.now()}`,
    };
    const worker = new Worker('/app/train_worker.js', { type: 'module' });
    const losses: number[] = [];
    const accs: { step: number; acc: number }[] = [];
    let total = 1;
    let t0 = performance.now();
    const onEvent = (e: BrowserTrainEvent) => {
      if (e.type === 'start') [total, t0] = [e.totalSteps, performance.now()];
      else if (e.type === 'compile') $('ftstatus').textContent = `compiled the train step (${e.seconds.toFixed(1)} s)`;
      else if (e.type === 'micro-batches') $('ftstatus').textContent = `batches of ${e.batchSize} run as micro-batches of ${e.size} (the memory allows no more)`;
      else if (e.type === 'step') {
        losses.push(e.loss);
        const eta = ((performance.now() - t0) / losses.length) * (total - e.step);
        $('ftstatus').textContent = `step ${e.step}/${total} · loss ${e.loss.toFixed(4)} · ${e.imgPerSec.toFixed(1)} img/s · ETA ${(eta / 1000).toFixed(0)} s`;
      } else if (e.type === 'epoch' && typeof e.record.test_acc === 'number') accs.push({ step: Number(e.record.step), acc: e.record.test_acc });
      drawCurve(losses, accs, total);
    };
    let r;
    try {
      r = await trainInWorker(worker, request, onEvent, stopper.signal);
    } finally {
      worker.terminate();
    }
    // Classify with the new head from now on: the trained weights in a model of this page.
    const model = createModel(spec, { engine: engineFor(sel.device), num_classes: picked.classes.length });
    await loadWeights(model, r.weights);
    model.eval();
    const [mean, std] = [trainSet.mean as [number, number, number], trainSet.std as [number, number, number]];
    current = { key: sel.key, model, labels: picked.classes, transform: { inputSize: [3, size, size], cropPct: 1, interpolation: 'bicubic', mean, std } };
    const acc = accs.length ? accs[accs.length - 1]!.acc : NaN;
    $('ftstatus').textContent = `done: ${r.steps} steps · held-out accuracy ${(100 * acc).toFixed(1)}% on ${testSet.count} images · the page now classifies with this model (${picked.classes.length} classes)`;
  } catch (err) {
    $('error').textContent = String((err as Error).message ?? err);
  } finally {
    trainBtn.disabled = false;
    stopBtn.disabled = true;
  }
});

(window as unknown as { demoReady: boolean }).demoReady = true;
