/** `visionmix predict`: top-k classes for image files, printed batch by batch as they are done. */
import { ConfigError } from '../errors.js';
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';

export const spec = defineCommand({
  name: 'predict',
  summary: 'Classify image files with a trained run or a model + weights',
  description:
    'Images are classified --batch at a time and each batch is printed when it is done. An image that cannot be read ' +
    'is reported (on stderr, and with an "error" field in --json output) and the others are still classified; ' +
    'the exit status is then 1.',
  positionals: [{ name: 'images', description: 'image files (PNG, JPEG, WebP, …) and/or folders of images', required: true, variadic: true }],
  options: {
    run: { type: 'string', placeholder: 'dir', description: "a finished 'visionmix train' folder" },
    model: { type: 'string', short: 'm', placeholder: 'name', description: 'registry model or weight tag (with --weights or --pretrained)' },
    weights: { type: 'string', placeholder: 'file|hf:repo', description: 'safetensors file (timm or official names) or a hub repository hf:org/name' },
    pretrained: { type: 'boolean', description: "the weight tag's hub weights (cached; e.g. -m convnext_atto.d2_in1k --pretrained)" },
    topk: { type: 'int', min: 1, default: 5, description: 'classes to show per image' },
    batch: { type: 'int', min: 1, max: 1024, default: 16, short: 'b', description: 'images per forward pass (memory grows with it)' },
    json: { type: 'boolean', description: 'print a JSON array (written as results arrive)' },
  },
  examples: [
    'visionmix predict --run runs/demo assets/samples/*.png',
    'visionmix predict -m convnext_atto --weights hf:timm/convnext_atto.d2_in1k photos/',
    'visionmix predict -m convnext_tiny.fb_in1k --pretrained cat.jpg',
  ],
});

export async function run({ values: v, positionals }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const engine = (await import('./engine.js')).nodeEngine();
  const { runClassifier, modelClassifier, classifyBatches } = await import('../tasks/classify.js');
  let clf;
  const { listImageFiles } = await import('../io/image_files.js');
  if (v.weights && v.pretrained) throw new ConfigError('give --weights or --pretrained, not both');
  if (v.run) clf = await runClassifier(engine, v.run);
  else if (v.model && (v.weights || v.pretrained)) {
    const weights = v.weights ?? (await hubWeightsOf(v.model));
    clf = await modelClassifier(engine, v.model, weights, (e) => {
      if (e.status === 'download') io.stderr.write(`downloading ${e.repo}/${e.file}…\n`);
    });
  } else throw new ConfigError('give --run DIR, or --model NAME with --weights FILE|hf:REPO or --pretrained');
  const images = listImageFiles(positionals);
  let failed = 0;
  let first = true;
  if (v.json) io.stdout.write('[');
  for await (const r of classifyBatches(clf, images, { topk: v.topk, batch: v.batch })) {
    if ('error' in r) {
      failed++;
      io.stderr.write(`error: ${r.error}\n`);
    }
    if (v.json) {
      io.stdout.write(`${first ? '\n' : ',\n'}${JSON.stringify(r)}`);
      first = false;
    } else if (!('error' in r)) {
      io.stdout.write(`${r.path}\n${r.top.map((t) => `  ${(t.prob * 100).toFixed(1).padStart(5)}%  ${t.label}`).join('\n')}\n`);
    }
  }
  if (v.json) io.stdout.write(first ? ']\n' : '\n]\n');
  if (failed > 0) {
    io.stderr.write(`${failed} of ${images.length} images could not be classified\n`);
    return 1;
  }
  return 0;
}

/** hf:<hub id> of a model name's default weights or a weight tag's. */
async function hubWeightsOf(model: string): Promise<string> {
  const { pretrainedConfig, getModelEntry } = await import('../models/registry.js');
  const tag = pretrainedConfig(model);
  if (!tag) getModelEntry(model); // an unknown name gets the registry's 'unknown model' error
  if (!tag?.hubId) throw new ConfigError(`--pretrained: '${model}' has no weights on the hub; give --weights FILE`);
  return `hf:${tag.hubId}`;
}
