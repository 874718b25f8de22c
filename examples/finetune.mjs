// Fine-tune pretrained weights on an image folder (a sub-folder per class), from code: the job that
// `visionmix finetune` runs. Ctrl-C checkpoints and stops; run it again and it resumes exactly.
import { existsSync } from 'node:fs';
import { finetuneJob, resumeJob } from 'visionmix/train';

const [data = 'photos/', out = 'runs/photos-ft', weights = 'hf:timm/convnextv2_atto.fcmae_ft_in1k', size = '224'] = process.argv.slice(2);
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
const hooks = {
  signal: stop.signal,
  onWarning: (message) => console.warn(`warning: ${message}`),
  onEvent(e) {
    if (e.type === 'step') console.log(`step ${e.step}: loss ${e.loss.toFixed(4)}, lr ${e.lr.toExponential(2)}`);
    if (e.type === 'epoch') console.log(`epoch ${e.record.epoch}: val acc ${e.record.test_acc}, EMA ${e.record.test_acc_ema}`);
  },
};
// The paper's fine-tuning recipe (AdamW, layer decay 0.9, RandAugment, Mixup/CutMix, EMA), shortened here.
const train = { epochs: 2, batchSize: 16, warmupEpochs: 0.5, inputSize: Number(size) };
const run = existsSync(`${out}/checkpoint.safetensors`)
  ? await resumeJob(out, hooks) // continues from the last checkpoint, with the run's own settings
  : await finetuneJob({ model: 'convnextv2_atto', weights, data, out, recipe: 'convnextv2-ft', train }, hooks);
console.log(`finished ${run.steps} steps, val accuracy ${run.final?.accuracy}; weights: ${out}/model.safetensors`);
