/** `visionmix predict`: top-k classes for image files. */
import { ConfigError } from '../errors.js';
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';

export const spec = defineCommand({
  name: 'predict',
  summary: 'Classify image files with a trained run or a model + weights',
  positionals: [{ name: 'images', description: 'image files (PNG, JPEG, WebP, …)', required: true, variadic: true }],
  options: {
    run: { type: 'string', placeholder: 'dir', description: "a finished 'visionmix train' folder" },
    model: { type: 'string', short: 'm', placeholder: 'name', description: 'registry model (with --weights)' },
    weights: { type: 'string', placeholder: 'file', description: 'safetensors weights (timm or official names)' },
    topk: { type: 'int', min: 1, default: 3, description: 'classes to show per image' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  examples: ['visionmix predict --run runs/demo assets/samples/*.png', 'visionmix predict -m convnext_tiny --weights convnext_tiny.safetensors cat.jpg'],
});

export async function run({ values: v, positionals }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const engine = (await import('./engine.js')).nodeEngine();
  const { runClassifier, modelClassifier, classify } = await import('../tasks/classify.js');
  let clf;
  if (v.run) clf = await runClassifier(engine, v.run);
  else if (v.model && v.weights) clf = await modelClassifier(engine, v.model, v.weights);
  else throw new ConfigError('give --run DIR, or --model NAME with --weights FILE');
  const preds = await classify(clf, positionals, v.topk);
  if (v.json) io.stdout.write(JSON.stringify(preds, null, 2) + '\n');
  else
    for (const p of preds)
      io.stdout.write(`${p.path}\n${p.top.map((t) => `  ${(t.prob * 100).toFixed(1).padStart(5)}%  ${t.label}`).join('\n')}\n`);
  return 0;
}
