/** Progress bars for a training run: one bar per epoch (loss, accuracy, img/s, ETA), one per eval. */
import type { TrainerEvent } from '../train/trainer.js';
import { ProgressBar, type ProgressStream } from './progress.js';

/**
 * An event handler drawing training progress on `stream`. The epoch count and batch size come from
 * the trainer's start event (a resumed run knows them only once its checkpoint is read). `now` is
 * the clock, injected by tests.
 */
export function trainProgress(stream: ProgressStream, now?: () => number): (e: TrainerEvent) => void {
  let bar: ProgressBar | null = null;
  let barEpoch = -1;
  let spe = 0;
  let epochs = 0;
  let batchSize = 1;
  let multiScale = false;
  let lossEma = NaN;
  let accEma = NaN;
  const smooth = (prev: number, v: number) => (Number.isNaN(prev) ? v : 0.9 * prev + 0.1 * v);
  return (e) => {
    switch (e.type) {
      case 'start':
        spe = e.stepsPerEpoch;
        epochs = e.epochs;
        batchSize = e.batchSize;
        multiScale = e.multiScale === true;
        if (e.step > 0) stream.write(`resuming at step ${e.step} (epoch ${Math.min(e.epoch + 1, epochs)}/${epochs})\n`);
        break;
      case 'step': {
        lossEma = smooth(lossEma, e.loss);
        if (!Number.isNaN(e.acc)) accEma = smooth(accEma, e.acc);
        const fields = { loss: lossEma.toFixed(4), ...(Number.isNaN(accEma) ? {} : { acc: accEma.toFixed(3) }), lr: e.lr.toExponential(2) };
        // Multi-scale epochs have a varying number of steps: a new epoch closes the previous bar.
        if (bar && e.epoch !== barEpoch) {
          bar.done();
          bar = null;
        }
        if (!bar) {
          barEpoch = e.epoch;
          // The bar starts after this step, so its time is unknown: it counts in the bar like the
          // steps of this epoch done before a resume, but not in img/s and ETA. Multi-scale epochs
          // have no known step count (the batch size varies): their bar counts without a total,
          // and ends when the epoch does.
          bar = new ProgressBar({
            total: multiScale ? undefined : spe,
            label: `train ep ${e.epoch + 1}/${epochs}`,
            unit: 'step',
            rateUnit: 'img',
            rateScale: batchSize,
            stream,
            initial: multiScale ? 1 : ((e.step - 1) % spe) + 1,
            ...(now ? { now } : {}),
          });
          bar.update(bar.value, fields);
        } else {
          bar.tick(1, fields);
        }
        if (!multiScale && e.step % spe === 0) {
          bar.done();
          bar = null;
        }
        break;
      }
      case 'eval':
        if (bar) {
          bar.done();
          bar = null;
        }
        if (e.done === e.total) stream.write(`  evaluated ${e.total} test images\n`);
        break;
      case 'epoch': {
        const r = e.record;
        if (bar) {
          bar.done();
          bar = null;
        }
        const parts = [`epoch ${r.epoch}/${epochs}`, `train_loss ${Number(r.train_loss).toFixed(4)}`];
        if (r.train_acc !== undefined) parts.push(`train_acc ${Number(r.train_acc).toFixed(4)}`);
        if (r.test_acc !== undefined) parts.push(`test_acc ${Number(r.test_acc).toFixed(4)}`);
        if (r.test_loss !== undefined) parts.push(`test_loss ${Number(r.test_loss).toFixed(4)}`);
        if (r.test_acc_ema !== undefined) parts.push(`test_acc_ema ${Number(r.test_acc_ema).toFixed(4)}`);
        stream.write(parts.join('  ') + '\n');
        break;
      }
      case 'compile':
        stream.write(`compiled the train step for batches of ${e.shape} in ${e.seconds.toFixed(1)} s\n`);
        break;
      case 'checkpoint':
        break;
    }
  };
}
