/**
 * `visionmix analyze slots`: GLNet's slot-assignment maps for one image, as a PNG.
 * `visionmix analyze feature-distance`: ConvNeXt V2's per-layer feature cosine distance of one or
 * several checkpoints on a data set, as JSON and an SVG plot.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { defineCommand, parseConfigJson } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { modelFromFlags } from './model_flags.js';

const ANALYSES = ['slots', 'feature-distance'] as const;

export const spec = defineCommand({
  name: 'analyze',
  summary: "Analyses: 'slots' (GLNet's slot maps as a PNG), 'feature-distance' (per-layer feature collapse, SVG)",
  description:
    'analyze slots: for each chosen GLMix block, the input, the hard assignment (each pixel coloured by its ' +
    'most likely slot) and the per-slot assignment maps (softmax over slots, the dispatch weights the paper ' +
    'plots) as a mosaic over the image. Blocks are numbered from 1 over the GLMix blocks in order, or given ' +
    'as module paths (stages.0.blocks.1); by default the last GLMix block of each stage is drawn. ' +
    'analyze feature-distance: for every block output, the mean cosine distance between pairs of channel maps, ' +
    'averaged over --images images of --data (ConvNeXt V2 paper §3.2); --checkpoints lists weights files to ' +
    "overlay (FCMAE checkpoints: their encoder; 'random': the initialisation), --labels names them.",
  positionals: [
    { name: 'analysis', description: "what to analyse: 'slots' or 'feature-distance'", required: true, choices: ANALYSES },
    { name: 'image', description: 'slots: the image file (PNG, JPEG, WebP, …)' },
  ],
  options: {
    run: { type: 'string', placeholder: 'dir', description: "a finished 'visionmix train' folder" },
    model: { type: 'string', short: 'm', placeholder: 'name', description: 'registry model or weight tag (glnet_stl, …), or the family glnet with --config' },
    config: { type: 'string', placeholder: 'json', description: 'model config as JSON (with --model glnet, or overrides of a registry model)' },
    weights: { type: 'string', placeholder: 'file', description: 'safetensors weights (without: random weights, for trying the tool)' },
    blocks: { type: 'strings', placeholder: 'list', description: 'GLMix blocks: numbers from 1 (2,5,10) or module paths' },
    size: { type: 'int', min: 8, description: 'input side for models without a pretrained input size' },
    tile: { type: 'int', min: 16, max: 512, default: 72, description: 'mosaic tile size in pixels' },
    out: { type: 'string', short: 'o', placeholder: 'file', description: 'file to write: slots → .png, feature-distance → .svg (and .json beside it)', required: true },
    json: { type: 'boolean', description: 'print the result as JSON' },
    checkpoints: { type: 'strings', placeholder: 'list', description: "feature-distance: weights files to compare ('random' = initialisation)" },
    labels: { type: 'strings', placeholder: 'list', description: 'feature-distance: a legend label per checkpoint' },
    data: { type: 'string', placeholder: 'spec', description: 'feature-distance: data set (fashion-mnist, fashion-mnist:bundled, …)' },
    images: { type: 'int', min: 1, default: 1000, description: 'feature-distance: images to average over' },
  },
  examples: [
    'visionmix analyze slots --model glnet_stl --weights glnet_stl.safetensors --blocks 2,5,10 cat.jpg --out slots.png',
    'visionmix analyze slots --run runs/glnet-fmnist assets/samples/fmnist_test_0_ankle_boot.png --out boot_slots.png',
    "visionmix analyze feature-distance --model convnextv2 --config '{...}' --checkpoints random,fcmae.safetensors --labels init,FCMAE --data fashion-mnist --size 32 -o fd.svg",
  ],
});

export async function run({ values: v, positionals }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const [analysis, image] = positionals as [string, string | undefined];
  if (!(ANALYSES as readonly string[]).includes(analysis)) throw new ConfigError(`unknown analysis '${analysis}' (available: ${ANALYSES.join(', ')})`);
  if (analysis === 'feature-distance') return featureDistance(v, io);
  if (!image) throw new ConfigError('analyze slots needs an image file');
  // The mosaic is a PNG: another extension would name a file whose bytes are not what it says.
  if (!/\.png$/i.test(v.out)) throw new ConfigError(`--out must name a .png file for slots (the mosaic is a PNG image), got ${v.out}`);
  const engine = (await import('./engine.js')).nodeEngine();
  const { analyzeSlots } = await import('../tasks/analyze_slots.js');
  const chosen = await modelFromFlags(v.model, v.config);
  const r = await analyzeSlots(engine, {
    image,
    out: v.out!,
    run: v.run,
    model: chosen.model,
    modelOverrides: chosen.overrides,
    weights: v.weights,
    blocks: v.blocks,
    size: v.size,
    tile: v.tile,
  });
  if (v.json) io.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    const blocks = r.blocks.map((b) => `${b.number} (${b.path}, ${b.height}×${b.width}, ${b.slots} slots)`).join(', ');
    io.stdout.write(`wrote ${r.out} (${r.width}×${r.height}): GLMix blocks ${blocks}${r.prediction ? `; predicted ${r.prediction.label} ${(r.prediction.prob * 100).toFixed(1)}%` : ''}\n`);
    if (r.randomWeights) io.stderr.write('note: no --weights given: the model has random weights, so the maps show no learned grouping\n');
  }
  return 0;
}

type Values = CommandArgs<typeof spec>['values'];

/**
 * A checkpoint's legend label when --labels gives none: a run's weights are named by the run
 * (`runs/fcmae/model.safetensors` → `fcmae`, its `model_ema.safetensors` → `fcmae (model_ema)`), not
 * by a file name every run shares; other files by their name; 'random' is the initialisation.
 */
export function checkpointLabel(weights: string): string {
  if (weights === 'random') return 'random init';
  if (weights.startsWith('hf:') || /^https?:\/\//.test(weights)) return weights.replace(/^hf:/, '').replace(/#.*$/, '');
  const dir = dirname(weights);
  const file = basename(weights);
  if (!existsSync(join(dir, 'run.json'))) return file;
  const run = basename(resolve(dir));
  return file === 'model.safetensors' ? run : `${run} (${file.replace(/\.safetensors$/, '')})`;
}

async function featureDistance(v: Values, io: CliIO): Promise<number> {
  if (!v.model) throw new ConfigError('analyze feature-distance needs --model (a registry name, or a family with --config)');
  if (!v.data) throw new ConfigError('analyze feature-distance needs --data (e.g. fashion-mnist)');
  const checkpoints = v.checkpoints ?? (v.weights ? [v.weights] : undefined);
  if (!checkpoints?.length) throw new ConfigError("analyze feature-distance needs --checkpoints (weights files, or 'random')");
  if (v.labels && v.labels.length !== checkpoints.length) throw new ConfigError(`--labels has ${v.labels.length} names for ${checkpoints.length} checkpoints`);
  if (!v.out.endsWith('.svg')) throw new ConfigError(`--out must name an .svg file for feature-distance, got ${v.out}`);
  const engine = (await import('./engine.js')).nodeEngine();
  const { familyNames } = await import('../models/registry.js');
  const { loadDataSpec } = await import('../tasks/train.js');
  const { featureDistances, featureDistancePlot } = await import('../tasks/feature_distance.js');
  const { writeTextFile } = await import('../io/files.js');
  const { ProgressBar } = await import('./progress.js');
  const data = await loadDataSpec(v.data);
  const config = v.config ? parseConfigJson(v.config) : {};
  const family = familyNames().includes(v.model);
  const classes = { num_classes: data.test.classes.length, in_chans: data.test.channels };
  const size = v.size ?? Math.max(32, data.test.height);
  const bar = new ProgressBar({ total: checkpoints.length * Math.min(v.images, data.test.count), label: 'feature distance', unit: 'img', stream: io.stderr });
  let finished = 0; // images of the checkpoints already done
  const r = await featureDistances(engine, {
    model: family ? { ...classes, ...config, family: v.model } : v.model,
    overrides: family ? {} : { ...classes, ...config },
    checkpoints: checkpoints.map((w, i) => ({ label: v.labels?.[i] ?? checkpointLabel(w), weights: w })),
    data: data.test,
    images: v.images,
    inputSize: size,
    onProgress: (_label, n, total) => {
      bar.update(finished + n);
      if (n === total) finished += total;
    },
  });
  bar.done();
  writeTextFile(v.out, featureDistancePlot(r));
  const json = v.out.replace(/\.svg$/, '.json');
  writeTextFile(json, JSON.stringify(r, null, 2) + '\n');
  if (v.json) io.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    for (const c of r.curves) io.stdout.write(`${c.label.padEnd(20)} ${c.distances.map((d) => d.toFixed(3)).join(' ')}\n`);
    io.stdout.write(`wrote ${v.out} and ${json} (${r.layers} layers, ${r.images} images)\n`);
  }
  return 0;
}
