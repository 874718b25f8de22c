// Fine-tune pretrained weights on an image folder (a sub-folder per class), from code: the job that
// `visionmix finetune` runs. Ctrl-C checkpoints and stops; run it again and it resumes exactly.
import { existsSync } from 'node:fs';
import { resumeJob, trainJob } from 'visionmix/train';

const [data = 'photos/', out = 'runs/photos-ft', weights = 'hf:timm/convnextv2_atto.fcmae_ft_in1k', size = '224'] = process.argv.slice(2);
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
const hooks = {
  signal: stop.signal,
  onEvent(e) {
    if (e.type === 'step') console.log(`step ${e.step}: loss ${e.loss.toFixed(4)}, lr ${e.lr.toExponential(2)}`);
    if (e.type === 'epoch') console.log(`epoch ${e.record.epoch}: val acc ${e.record.test_acc}, EMA ${e.record.test_acc_ema}`);
  },
};
const train = { epochs: 2, batchSize: 16, lr: 1e-4, inputSize: Number(size), emaDecay: 0.99, layerDecay: { decay: 0.9, mode: 'single' } };
const run = existsSync(`${out}/checkpoint.safetensors`)
  ? await resumeJob(out, hooks) // continues from the last checkpoint, with the run's own settings
  : await trainJob({ model: 'convnextv2_atto', init: { weights }, data, out, train }, hooks);
console.log(`finished ${run.steps} steps, val accuracy ${run.final?.accuracy}; weights: ${out}/model.safetensors`);
