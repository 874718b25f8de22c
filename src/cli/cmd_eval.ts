/** `visionmix eval`: accuracy and loss of a finished run (or a model + weights) on a test set. */
import { ConfigError } from '../errors.js';
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { ProgressBar } from './progress.js';

export const spec = defineCommand({
  name: 'eval',
  summary: 'Evaluate a trained run on the test split (accuracy, cross-entropy)',
  options: {
    run: { type: 'string', placeholder: 'dir', description: "a finished 'visionmix train' folder (run.json + model.safetensors)" },
    data: { type: 'string', placeholder: 'spec', description: "data set (default: the run's)" },
    batch: { type: 'int', min: 1, default: 250, description: 'evaluation batch size' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  examples: ['visionmix eval --run runs/atto', 'visionmix eval --run runs/atto --data fashion-mnist:bundled'],
});

export async function run({ values: v }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  if (!v.run) throw new ConfigError('--run DIR is required');
  const engine = (await import('./engine.js')).nodeEngine();
  const { runClassifier } = await import('../tasks/classify.js');
  const { openRunTestData } = await import('../tasks/train.js');
  const { evaluate } = await import('../train/trainer.js');
  const clf = await runClassifier(engine, v.run);
  const { test, close } = await openRunTestData(clf.run!, v.data);
  const bar = new ProgressBar({ total: test.count, label: 'eval', unit: 'img', stream: io.stderr });
  let r;
  try {
    r = await evaluate(clf.model, test, clf.inputShape[1], v.batch, (done) => bar.update(done));
  } finally {
    await close();
  }
  bar.done();
  if (v.json) io.stdout.write(JSON.stringify(r) + '\n');
  else io.stdout.write(`test accuracy ${(r.accuracy * 100).toFixed(2)}%  cross-entropy ${r.loss.toFixed(4)}  (${r.count} images)\n`);
  return 0;
}
