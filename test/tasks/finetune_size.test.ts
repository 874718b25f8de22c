/**
 * Fine-tuning's input size (issue 21.5): the weights' own size unless --size is given, and a warning
 * when --size is far from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finetuneInputSize } from '../../src/tasks/finetune.js';

test("without --size a weight tag's pretrained size is used; a registry name takes its default tag's", () => {
  assert.deepEqual(finetuneInputSize('convnextv2_atto.fcmae_ft_in1k', undefined, 32, false), {
    size: 224,
    weightsSize: 224,
    from: 'weight tag convnextv2_atto.fcmae_ft_in1k',
  });
  assert.equal(finetuneInputSize('mobilevit_xxs', 'w.pth', 32, false).size, 256);
  // A family with a custom config has no weights' size: the train default stays.
  assert.deepEqual(finetuneInputSize('convnextv2', 'w.pth', 32, false), { size: 32 });
});

test('--size wins; far from the weights (over 2× either way) it is warned about', () => {
  const far = finetuneInputSize('convnextv2_atto.fcmae_ft_in1k', undefined, 32, true);
  assert.equal(far.size, 32);
  assert.match(far.warning ?? '', /--size 32 is far from the 224×224 the weights were trained at \(weight tag convnextv2_atto\.fcmae_ft_in1k\)/);
  assert.equal(finetuneInputSize('convnextv2_atto.fcmae_ft_in1k', undefined, 160, true).warning, undefined);
  assert.match(finetuneInputSize('convnextv2_atto.fcmae_ft_in1k', undefined, 512, true).warning ?? '', /--size 512 is far/);
});
