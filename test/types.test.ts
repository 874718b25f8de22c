/**
 * Typed options (issue 25, point 3): a misspelt or foreign run option, a config key the family does
 * not have and a config value of the wrong type are compile errors; every valid spelling compiles.
 * The `@ts-expect-error` lines are the test: the suite is compiled before it runs, and an expected
 * error that no longer occurs fails the compilation. (JavaScript callers get the same mistakes as
 * ConfigErrors at run time: test/tasks/engine.test.ts, test/models/config.test.ts.)
 * test/types_dts.test.ts compiles the same kind of calls against the emitted .d.ts files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, createModel, type ModelSpec, type RawConfig, type RunOptions, type VisionModel } from '../src/index.js';

/** Compile-time equality: `expectType<T>()(value)` compiles only when the value's type is exactly T. */
const expectType =
  <T>() =>
  <U extends T>(_value: U & ([T] extends [U] ? unknown : never)): void => {};

test('config overrides are typed per family, in snake_case and camelCase', () => {
  const typeChecks = () => {
    // Valid overrides of each family compile, in both spellings, with createModel's own options.
    createModel('convnextv2_atto', { numClasses: 10 });
    createModel('convnext_atto', { num_classes: 10, seed: 1, drop_path_rate: 0.1, lsInitValue: null });
    createModel('convnext_atto.d2_in1k', { pretrained: true, num_classes: 10, onProgress: () => {} });
    createModel('cmt_ti', { img_size: 192 });
    createModel('cmt_ti', { imgSize: 192, qkScale: null, mlpRatios: [4, 4, 4, 4] });
    createModel('mobilevit_xxs', { layer3: { dim: 64 }, transformer_drop: 0.1 });
    createModel('glnet_stl', { numSlots: 16, mixing_modes: ['glmix', 'glmix', 'glmix', 'mha'] });
    createModel({ family: 'convnext', depths: [1, 1, 2, 1], dims: [16, 32, 64, 128], num_classes: 10 });
    createModel({ family: 'glnet', embedDim: [16, 32, 48, 64] as const }, { in_chans: 1, family: 'glnet' });
    // A spec whose family is unknown when compiling (a string, a config from JSON) takes any keys,
    // checked when the model is built.
    createModel('cmt_ti' as string, { unknwonKey: 1 });
    createModel(JSON.parse('{"family":"cmt"}') as ModelSpec, JSON.parse('{"img_size":160}') as RawConfig);

    // @ts-expect-error numClasses is a number
    createModel('convnextv2_atto', { numClasses: 'ten' });
    // @ts-expect-error CMT has no such key
    createModel('cmt_ti', { unknwonKey: 1 });
    // @ts-expect-error img_size is a number
    createModel('cmt_ti', { img_size: '160' });
    // @ts-expect-error num_slots is GLNet's, not ConvNeXt's
    createModel('convnext_atto.d2_in1k', { num_slots: 4 });
    // @ts-expect-error a mixing mode GLNet does not have
    createModel({ family: 'glnet', mixing_modes: ['glmx', 'glmix', 'glmix', 'mha'] });
    // @ts-expect-error depth is GLNet's key; ConvNeXt's is depths
    createModel({ family: 'convnext', depth: [1, 1, 2, 1] });
    // @ts-expect-error in_chans is a number
    createModel({ family: 'convnext' }, { in_chans: '3' });
    // @ts-expect-error the untyped overload still types the keys every family has
    createModel('cmt_ti' as string, { numClasses: 'ten' });
  };
  assert.equal(typeof typeChecks, 'function', 'compiled (never run: the checks are the compilation)');
});

test("run options are the model's own outputs, and the result names the outputs asked for", () => {
  const typeChecks = async (x: Tensor, flags: RunOptions) => {
    const convnext = createModel('convnext_atto');
    const all = await convnext.run(x, { features: [0, 3], final: true, blocks: true });
    expectType<Tensor>()(all.logits);
    expectType<Tensor[]>()(all.features);
    expectType<Tensor>()(all.final);
    expectType<Tensor[]>()(all.blocks);
    const headless = await convnext.run(x, { features: true, logits: false });
    // @ts-expect-error no logits were computed
    void headless.logits;
    // @ts-expect-error final was not asked for
    void (await convnext.run(x)).final;
    // @ts-expect-error 'featurez' is no output of any model
    void convnext.run(x, { featurez: true });
    // @ts-expect-error also beside a valid option
    void convnext.run(x, { features: true, featurez: true });
    // @ts-expect-error slots are GLNet's, not ConvNeXt's
    void convnext.run(x, { slots: true });

    const glnet = createModel('glnet_stl');
    const maps = (await glnet.run(x, { slots: true })).slots;
    expectType<Tensor>()(maps['stages.0.blocks.0']!.assign);
    // @ts-expect-error blocks are ConvNeXt's
    void glnet.run(x, { blocks: true });
    const cmt = createModel({ family: 'cmt' });
    expectType<Tensor>()((await cmt.run(x, { stem: true, pooled: true })).pooled);
    // An output flag typed boolean may or may not come back.
    expectType<Tensor | undefined>()((await cmt.run(x, { stem: flags.stem as boolean })).stem);

    // A model whose family is unknown when compiling takes any family's output, checked when it runs.
    const some: VisionModel = createModel('glnet_stl' as string);
    void some.run(x, { slots: true, blocks: true });
    // @ts-expect-error but no misspelt one
    void some.run(x, { featurez: true });
    // Every family's model is a VisionModel.
    const models: VisionModel[] = [convnext, glnet, cmt, createModel('mobilevit_xxs')];
    void models;
  };
  assert.equal(typeof typeChecks, 'function', 'compiled (never run: the checks are the compilation)');
});
