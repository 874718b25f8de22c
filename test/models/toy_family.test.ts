/**
 * A sixth family touches one file: a toy 2-stage conv net, defined and registered here (its config
 * schema, model, classifier metadata and `groupMatcher`), trains with layer-wise lr decay and
 * fine-tunes from its own run through the same jobs as the real families — nothing in train/ or
 * tasks/ knows it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Value } from '../../src/graph/graph.js';
import * as F from '../../src/graph/ops/index.js';
import { defaultEngine, readSafetensors } from '../../src/index.js';
import { MetricsLog } from '../../src/io/metrics_log.js';
import { VisionModel, type GroupMatcher, type TracedOutputs } from '../../src/models/base.js';
import { configSchema, field, type ConfigOf } from '../../src/models/config.js';
import { registerFamily } from '../../src/models/registry.js';
import { globalPool } from '../../src/nn/heads.js';
import { Conv2d, GELU, Identity, Linear, ModuleList, Sequential } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { trainJob } from '../../src/tasks/train.js';
import { layerDecayScales } from '../../src/train/layer_decay.js';
import { writeSmallFashionMnist } from '../fixtures/small_data.js';

// ---- the family's file, as it would be in src/models/toynet.ts -------------------------------------

const TOYNET_SCHEMA = configSchema('toynet', {
  in_chans: field.int({ min: 1, default: 3, doc: 'input channels' }),
  num_classes: field.int({ min: 0, default: 10, doc: 'classifier outputs' }),
  dims: field.ints({ length: 2, min: 1, default: [8, 16], doc: 'channels per stage' }),
});
type ToyNetConfig = ConfigOf<typeof TOYNET_SCHEMA>;

class ToyNet extends VisionModel {
  readonly family = 'toynet';
  readonly numClasses: number;
  readonly defaultInputSize: [number, number, number];
  readonly classifierPath = 'head';
  readonly firstConv = 'stem';
  stem: Conv2d;
  stages: ModuleList<Sequential>;
  head: Linear | Identity;

  constructor(readonly config: ToyNetConfig) {
    super();
    const [d0, d1] = config.dims as [number, number];
    this.numClasses = config.num_classes;
    this.defaultInputSize = [config.in_chans, 32, 32];
    this.stem = new Conv2d(config.in_chans, d0, 2, { stride: 2 });
    this.stages = new ModuleList([
      new Sequential(new Conv2d(d0, d0, 3, { padding: 1 }), new GELU()),
      new Sequential(new Conv2d(d0, d1, 2, { stride: 2 }), new GELU(), new Conv2d(d1, d1, 3, { padding: 1 }), new GELU()),
    ]);
    this.head = this.newClassifier(config.num_classes);
  }

  get numFeatures(): number {
    return this.config.dims[1]!;
  }
  getClassifier(): Module {
    return this.head;
  }
  protected replaceClassifier(numClasses: number): void {
    this.head = this.newClassifier(numClasses);
  }
  groupMatcher(coarse = false): GroupMatcher {
    return (key) => {
      if (key.startsWith('stem.')) return [0];
      const m = /^stages\.(\d+)\.(\d+)\./.exec(key);
      return m ? (coarse ? [1, Number(m[1])] : [1, Number(m[1]), Number(m[2])]) : null;
    };
  }
  forwardTraced(x: Value): TracedOutputs {
    const features: Value[] = [];
    x = this.stem.call(x);
    for (const stage of this.stages) features.push((x = stage.call(x)));
    return { logits: this.head.call(globalPool(x, this.globalPool)), features };
  }
}

registerFamily({ family: 'toynet', schema: TOYNET_SCHEMA, build: (c) => new ToyNet(c) });

// ---- the test ---------------------------------------------------------------------------------------

const engine = defaultEngine();
const root = mkdtempSync(join(tmpdir(), 'vm-toynet-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

test('a sixth family: layer groups from its own matcher, trained with layer decay, then fine-tuned from its run', async () => {
  const model = { family: 'toynet', dims: [8, 16] };
  const m = engine.createModel(model);
  const scales = layerDecayScales(m, 0.5);
  // stem, stage 0 conv, stage 1's two convs, then the head: 5 ids, scales 0.5^4 … 1.
  assert.equal(scales.get('stem.weight'), 0.5 ** 4);
  assert.equal(scales.get('stages.0.0.weight'), 0.5 ** 3);
  assert.equal(scales.get('stages.1.2.weight'), 0.5);
  assert.equal(scales.get('head.weight'), 1);

  const data = await writeSmallFashionMnist(join(root, 'fm'), { train: 64, test: 32 });
  const train = { epochs: 1, batchSize: 16, lr: 1e-3, inputSize: 32, warmupEpochs: 0, seed: 1 };
  const first = await trainJob(engine, { model, data, out: join(root, 'first'), train: { ...train, layerDecay: { decay: 0.7, mode: 'single' } }, threads: 1 });
  assert.equal(first.steps, 4);
  const losses = MetricsLog.read(join(root, 'first', 'metrics.jsonl')).filter((r) => r.loss !== undefined).map((r) => r.loss as number);
  assert.ok(losses.length === 4 && losses.every(Number.isFinite));

  // Fine-tune from the run's weights: backbone loaded, a fresh classifier, layer decay by group.
  const tuned = await trainJob(engine, {
    model,
    data,
    out: join(root, 'tuned'),
    train: { ...train, layerDecay: { decay: 0.7, mode: 'group' } },
    init: { weights: join(root, 'first', 'model.safetensors') },
    threads: 1,
  });
  assert.equal(tuned.steps, 4);
  const start = await readSafetensors(join(root, 'first', 'model.safetensors'));
  const end = await readSafetensors(join(root, 'tuned', 'model.safetensors'));
  assert.deepEqual([...end.keys()].sort(), [...start.keys()].sort());
  assert.notDeepEqual(end.get('stem.weight')!.data, start.get('stem.weight')!.data, 'the backbone trained on');
});
