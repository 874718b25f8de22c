/** `visionmix analyze slots`: GLNet's slot-assignment maps for one image, as a PNG. */
import { ConfigError } from '../errors.js';
import { defineCommand, parseConfigJson } from './args.js';
import type { CliIO, CommandArgs } from './main.js';

const ANALYSES = ['slots'] as const;

export const spec = defineCommand({
  name: 'analyze',
  summary: "Analyses of a model on an image; 'slots': GLNet's slot-assignment maps as a PNG",
  description:
    'analyze slots: for each chosen GLMix block, the input, the hard assignment (each pixel coloured by its ' +
    'most likely slot) and the per-slot assignment maps (softmax over slots, the dispatch weights the paper ' +
    'plots) as a mosaic over the image. Blocks are numbered from 1 over the GLMix blocks in order, or given ' +
    'as module paths (stages.0.blocks.1); by default the last GLMix block of each stage is drawn.',
  positionals: [
    { name: 'analysis', description: "what to analyse: 'slots'", required: true },
    { name: 'image', description: 'image file (PNG, JPEG, WebP, …)', required: true },
  ],
  options: {
    run: { type: 'string', placeholder: 'dir', description: "a finished 'visionmix train' folder" },
    model: { type: 'string', short: 'm', placeholder: 'name', description: 'registry model or weight tag (glnet_stl, …), or the family glnet with --config' },
    config: { type: 'string', placeholder: 'json', description: 'model config as JSON (with --model glnet, or overrides of a registry model)' },
    weights: { type: 'string', placeholder: 'file', description: 'safetensors weights (without: random weights, for trying the tool)' },
    blocks: { type: 'strings', placeholder: 'list', description: 'GLMix blocks: numbers from 1 (2,5,10) or module paths' },
    size: { type: 'int', min: 8, description: 'input side for models without a pretrained input size' },
    tile: { type: 'int', min: 16, max: 512, default: 72, description: 'mosaic tile size in pixels' },
    out: { type: 'string', short: 'o', placeholder: 'file', description: 'PNG to write', required: true },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  examples: [
    'visionmix analyze slots --model glnet_stl --weights glnet_stl.safetensors --blocks 2,5,10 cat.jpg --out slots.png',
    'visionmix analyze slots --run runs/glnet-fmnist assets/samples/fmnist_test_0_ankle_boot.png --out boot_slots.png',
  ],
});

export async function run({ values: v, positionals }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const [analysis, image] = positionals as [string, string];
  if (!(ANALYSES as readonly string[]).includes(analysis)) throw new ConfigError(`unknown analysis '${analysis}' (available: ${ANALYSES.join(', ')})`);
  const engine = (await import('./engine.js')).nodeEngine();
  const { analyzeSlots } = await import('../tasks/analyze_slots.js');
  const { familyNames } = await import('../models/registry.js');
  const config = v.config ? parseConfigJson(v.config) : {};
  if (v.config && !v.model) throw new ConfigError('--config needs --model');
  // A family takes the config as its keys; a registry name takes it as overrides.
  const family = v.model !== undefined && familyNames().includes(v.model);
  const r = await analyzeSlots(engine, {
    image,
    out: v.out!,
    run: v.run,
    model: v.model === undefined ? undefined : family ? { ...config, family: v.model } : v.model,
    modelOverrides: family ? {} : config,
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
