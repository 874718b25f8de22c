/**
 * Typed options (issue 25, point 3, in part): a misspelt run option and a config value of the wrong
 * type are compile errors. The `@ts-expect-error` lines are the test: the suite is compiled before
 * it runs, and an expected error that no longer occurs fails the compilation. (JavaScript callers get
 * the same mistakes as ConfigErrors at run time: test/tasks/engine.test.ts, test/models/config.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, createModel } from '../src/index.js';

test('misspelt run options and mistyped config keys do not compile', () => {
  const typeChecks = (x: Tensor) => {
    const m = createModel('convnext_atto');
    // @ts-expect-error 'featurez' is no output of any model
    void m.run(x, { featurez: true });
    void m.run(x, { features: [0, 3], final: true, logits: false });
    // @ts-expect-error numClasses is a number
    createModel('convnext_atto', { numClasses: 'ten' });
    // @ts-expect-error in_chans is a number
    createModel({ family: 'convnext' }, { in_chans: '3' });
    createModel('convnext_atto', { num_classes: 10, seed: 1, drop_path_rate: 0.1 });
  };
  assert.equal(typeof typeChecks, 'function', 'compiled (never run: the checks are the compilation)');
});
