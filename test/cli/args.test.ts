import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCommand, flagName, parseCommand, renderHelp } from '../../src/cli/args.js';
import { ConfigError } from '../../src/errors.js';

const train = defineCommand({
  name: 'train',
  summary: 'Train or fine-tune a model on an image folder.',
  positionals: [
    { name: 'data', description: 'training images, one folder per class', required: true },
    { name: 'val', description: 'validation images' },
  ],
  options: {
    model: { type: 'string', short: 'm', default: 'convnextv2_atto', description: 'model variant' },
    lr: { type: 'number', positive: true, default: 1e-3, description: 'peak learning rate' },
    epochs: { type: 'int', min: 1, default: 10, description: 'number of epochs' },
    batchSize: { type: 'int', short: 'b', positive: true, default: 64, description: 'images per step' },
    smoothing: { type: 'number', min: 0, max: 1, default: 0.1, description: 'label smoothing' },
    opt: { type: 'string', choices: ['adamw', 'sgd'], default: 'adamw', description: 'optimizer' },
    threads: { type: 'int', choices: [1, 2, 4, 8], description: 'intra-op threads' },
    depths: { type: 'ints', length: 4, positive: true, description: 'blocks per stage' },
    mixup: { type: 'numbers', min: 0, description: 'mixup alphas' },
    tags: { type: 'strings', description: 'run tags' },
    out: { type: 'string', required: true, placeholder: 'dir', description: 'output folder' },
    amp: { type: 'boolean', description: 'mixed precision' },
    ema: { type: 'boolean', default: true, description: 'keep an EMA of the weights' },
    seed: {
      type: 'int',
      default: 0,
      validate: (v) => (v % 2 === 0 ? undefined : 'must be even'),
      description: 'random seed',
    },
  },
});

function ok(argv: string[]) {
  const r = parseCommand(train, argv);
  assert.equal(r.help, false);
  if (r.help) throw new Error('unreachable');
  return r;
}

function fails(argv: string[], message: string | RegExp) {
  assert.throws(
    () => parseCommand(train, argv),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
      if (typeof message === 'string') assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    },
  );
}

test('defaults, types and kebab-case flags', () => {
  const { values, positionals } = ok(['data/', '--out', 'runs/a']);
  assert.deepEqual(positionals, ['data/']);
  assert.deepEqual(values, {
    model: 'convnextv2_atto',
    lr: 1e-3,
    epochs: 10,
    batchSize: 64,
    smoothing: 0.1,
    opt: 'adamw',
    threads: undefined,
    depths: undefined,
    mixup: undefined,
    tags: undefined,
    out: 'runs/a',
    amp: false,
    ema: true,
    seed: 0,
  });
  // Compile-time typing: literal union for choices, number for int, boolean for flags.
  const opt: 'adamw' | 'sgd' = values.opt;
  const bs: number = values.batchSize;
  const depths: number[] | undefined = values.depths;
  assert.ok(opt && bs && depths === undefined);
  assert.equal(flagName('batchSize'), '--batch-size');
});

test('values of every kind parse', () => {
  const { values, positionals } = ok([
    '-m', 'mobilevit_xs',
    '--lr=2.5e-4',
    '--epochs', '1e2',
    '-b', '32',
    '--opt', 'sgd',
    '--threads', '4',
    '--depths', '2, 2,6,2',
    '--mixup', '0.8', '--mixup', '1.0',
    '--tags', 'a,b',
    '--out=o',
    '--amp',
    '--no-ema',
    '--seed', '-4',
    'train/', 'val/',
  ]);
  assert.equal(values.model, 'mobilevit_xs');
  assert.equal(values.lr, 2.5e-4);
  assert.equal(values.epochs, 100);
  assert.equal(values.batchSize, 32);
  assert.equal(values.opt, 'sgd');
  assert.equal(values.threads, 4);
  assert.deepEqual(values.depths, [2, 2, 6, 2]);
  assert.deepEqual(values.mixup, [0.8, 1.0]);
  assert.deepEqual(values.tags, ['a', 'b']);
  assert.equal(values.amp, true);
  assert.equal(values.ema, false);
  assert.equal(values.seed, -4);
  assert.deepEqual(positionals, ['train/', 'val/']);
});

test('a repeated scalar option takes the last value; -- ends options', () => {
  const { values, positionals } = ok(['--out', 'a', '--lr', '0.1', '--lr', '0.2', 'x', '--', '--odd-name']);
  assert.equal(values.lr, 0.2);
  assert.deepEqual(positionals, ['x', '--odd-name']);
});

test('--help and -h short-circuit validation', () => {
  assert.deepEqual(parseCommand(train, ['--help']), { help: true });
  assert.deepEqual(parseCommand(train, ['--lr', 'oops', '-h']), { help: true });
});

test('list defaults are copied, not shared', () => {
  const cmd = defineCommand({ name: 'x', options: { sizes: { type: 'ints', default: [1, 2], description: 's' } } });
  const r = parseCommand(cmd, []);
  if (r.help) throw new Error('unreachable');
  r.values.sizes.push(3);
  assert.deepEqual(cmd.options.sizes.default, [1, 2]);
});

test('each kind of error names the option and the bad value', () => {
  const base = ['d', '--out', 'o'];
  fails([...base, '--lr', '-1'], '--lr must be > 0 (got -1)');
  fails([...base, '--lr', '0'], '--lr must be > 0 (got 0)');
  fails([...base, '--lr', 'abc'], '--lr must be a number (got "abc")');
  fails([...base, '--lr', 'NaN'], '--lr must be a number (got "NaN")');
  fails([...base, '--lr', 'Infinity'], '--lr must be a number (got "Infinity")');
  fails([...base, '--lr', '0x10'], '--lr must be a number (got "0x10")');
  fails([...base, '--lr='], '--lr must be a number (got "")');
  fails([...base, '--epochs', '2.5'], '--epochs must be an integer (got 2.5)');
  fails([...base, '--epochs', '0'], '--epochs must be >= 1 (got 0)');
  fails([...base, '--smoothing', '1.5'], '--smoothing must be <= 1 (got 1.5)');
  fails([...base, '-b', '-8'], '--batch-size must be > 0 (got -8)');
  fails([...base, '--opt', 'adam'], '--opt must be one of adamw, sgd (got "adam")');
  fails([...base, '--threads', '3'], '--threads must be one of 1, 2, 4, 8 (got 3)');
  fails([...base, '--depths', '2,2,6'], '--depths must have 4 values (got 3: 2,2,6)');
  fails([...base, '--depths', '2,0,6,2'], '--depths item 2 must be > 0 (got 0)');
  fails([...base, '--depths', '2,x,6,2'], '--depths item 2 must be a number (got "x")');
  fails([...base, '--depths', '2,,6,2'], '--depths must be a comma-separated list (got "2,,6,2")');
  fails([...base, '--mixup', '-0.5'], '--mixup must be >= 0 (got -0.5)');
  fails([...base, '--seed', '3'], '--seed must be even (got 3)');
  fails([...base, '--foo'], "unknown option --foo for 'visionmix train'");
  fails([...base, '--epoch', '3'], "unknown option --epoch for 'visionmix train' (did you mean --epochs?)");
  fails([...base, '-z'], "unknown option -z for 'visionmix train'");
  fails([...base, '--amp=yes'], /^--amp does not take a value \(got "yes"\)/);
  fails([...base, '--lr'], '--lr needs a value');
  fails([...base, '--lr', '--epochs', '3'], /^--lr needs a value \(got option --epochs\); write --lr=<value>/);
  fails(['d'], "missing required option --out for 'visionmix train'");
  fails(['--out', 'o'], "missing argument <data> for 'visionmix train'");
  fails([...base, 'v', 'extra'], `unexpected argument "extra" for 'visionmix train'`);
});

test('defineCommand rejects broken specs', () => {
  assert.throws(() => defineCommand({ name: 'x', options: { a: { type: 'int', short: 'h', description: '' } } }), /duplicate short option -h/);
  assert.throws(() => defineCommand({ name: 'x', options: { a: { type: 'int', short: 'ab', description: '' } } }), /one letter/);
  assert.throws(() => defineCommand({ name: 'x', options: { lr: { type: 'number', positive: true, default: 0, description: '' } } }), /default of --lr is invalid: --lr must be > 0 \(got 0\)/);
  assert.throws(() => defineCommand({ name: 'x', options: { a: { type: 'boolean', description: '' }, noA: { type: 'boolean', description: '' } } }), /clashes/);
  assert.throws(
    () => defineCommand({ name: 'x', options: {}, positionals: [{ name: 'a', description: '', variadic: true }, { name: 'b', description: '' }] }),
    /only the last positional may be variadic/,
  );
});

test('variadic positionals accept any number of arguments', () => {
  const cmd = defineCommand({ name: 'predict', options: {}, positionals: [{ name: 'images', description: 'files', required: true, variadic: true }] });
  const r = parseCommand(cmd, ['a.jpg', 'b.jpg', 'c.jpg']);
  assert.deepEqual(r, { help: false, values: {}, positionals: ['a.jpg', 'b.jpg', 'c.jpg'], given: new Set() });
  assert.throws(() => parseCommand(cmd, []), /missing argument <images> for 'visionmix predict'/);
});

test('`given` names exactly the options on the command line, not the defaulted ones', () => {
  const cmd = defineCommand({
    name: 'train',
    options: {
      epochs: { type: 'int', default: 10, description: 'epochs' },
      data: { type: 'string', default: 'x', description: 'data' },
      ema: { type: 'boolean', description: 'ema' },
      threads: { type: 'int', description: 'threads' },
    },
  });
  const r = parseCommand(cmd, ['--epochs', '10', '--no-ema']);
  assert.ok(!r.help);
  assert.deepEqual([...r.given].sort(), ['ema', 'epochs'], 'given even when equal to the default');
  assert.equal(r.values.data, 'x');
});

test('renderHelp lists usage, arguments, options with constraints and defaults', () => {
  const help = renderHelp(train);
  const lines = help.split('\n');
  assert.equal(lines[0], 'Usage: visionmix train [options] <data> [val]');
  assert.ok(help.includes('Train or fine-tune a model on an image folder.'));
  assert.match(help, /^ {2}<data> +training images, one folder per class$/m);
  assert.match(help, /^ {2}-m, --model <value> +model variant \(default: convnextv2_atto\)$/m);
  assert.match(help, /^ {6}--lr <number> +peak learning rate \(> 0; default: 0\.001\)$/m);
  assert.match(help, /^ {6}--smoothing <number> +label smoothing \(0\.\.1; default: 0\.1\)$/m);
  assert.match(help, /^ {2}-b, --batch-size <int> +images per step \(> 0; default: 64\)$/m);
  assert.match(help, /^ {6}--opt <adamw\|sgd> +optimizer \(default: adamw\)$/m);
  assert.match(help, /^ {6}--depths <i,i,\.\.\.> +blocks per stage \(> 0; 4 values\)$/m);
  assert.match(help, /^ {6}--out <dir> +output folder \(required\)$/m);
  assert.match(help, /--ema +keep an EMA of the weights \(default: on; --no-ema\n +turns it off\)/);
  assert.match(help, /^ {2}-h, --help +show this help$/m);
  for (const line of lines) assert.ok(line.length <= 80, `too long: ${line}`);
});
