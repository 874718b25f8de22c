/**
 * `visionmix features`: embeddings (the pooled features the classifier reads) or chosen stage maps
 * of images or folders of images, with the weights' preprocessing, written to safetensors (and .npy).
 */
import { ConfigError } from '../errors.js';
import { defineCommand, parseConfigJson } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { ProgressBar } from './progress.js';

export const spec = defineCommand({
  name: 'features',
  summary: 'Write image embeddings or stage feature maps to safetensors / .npy',
  description:
    'The default output is the pooled embedding the classifier reads (ConvNeXt: global average pool + LayerNorm), ' +
    "[N, C] as tensor 'pooled'; --stages 0,3 writes those stage maps instead ('stage.0', …, NCHW). The image list " +
    "is stored in the file's metadata ('files', in row order). Images that cannot be read are reported and skipped (exit status 1 at the end).",
  positionals: [{ name: 'images', description: 'image files and/or folders of images', required: true, variadic: true }],
  options: {
    run: { type: 'string', placeholder: 'dir', description: "a finished 'visionmix train' folder: its model, weights and preprocessing" },
    model: { type: 'string', short: 'm', placeholder: 'name', description: 'registry model or weight tag (sets the preprocessing), or a family with --config and --weights' },
    config: { type: 'string', placeholder: 'json', description: 'model config as JSON (with a family: its keys; with a registry name: overrides)' },
    size: { type: 'int', min: 8, description: "input side for a family's custom config (default: the model's; ImageNet mean/std, 0.875 centre crop)" },
    weights: { type: 'string', placeholder: 'file|hf:repo|run', description: "weights: a safetensors or PyTorch file, hf:org/repo, or a training run's folder (its backbone)" },
    pretrained: { type: 'boolean', description: "the weight tag's hub weights (cached)" },
    stages: { type: 'ints', min: 0, placeholder: 'i,j', description: 'stage maps to write instead of the pooled embedding' },
    out: { type: 'string', short: 'o', required: true, placeholder: 'file', description: 'output .safetensors file' },
    npy: { type: 'boolean', description: 'also write one .npy per tensor beside it' },
    batch: { type: 'int', min: 1, default: 32, description: 'images per forward pass' },
    threads: { type: 'int', min: 1, description: 'ONNX Runtime threads (default: all cores)' },
    workers: { type: 'int', min: 1, default: 2, description: 'decode + transform worker threads' },
    json: { type: 'boolean', description: 'print a JSON summary' },
  },
  examples: [
    'visionmix features -m convnext_atto.d2_in1k --pretrained photos/ -o emb.safetensors --npy',
    'visionmix features -m convnextv2_tiny --weights w.safetensors --stages 1,3 a.jpg b.jpg -o maps.safetensors',
    'visionmix features --run runs/fmnist assets/samples/ -o emb.safetensors',
    'visionmix features -m convnextv2 --config \'{"depths":[1,1,1,1],"dims":[8,16,32,64]}\' --weights w.safetensors --size 64 photos/ -o emb.safetensors',
  ],
});

export async function run({ values: v, positionals }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  if (v.weights && v.pretrained) throw new ConfigError('give --weights or --pretrained, not both');
  if (!v.run && !v.model) throw new ConfigError('give --run DIR, or --model NAME with --weights FILE|hf:REPO or --pretrained');
  if (v.config && !v.model) throw new ConfigError('--config needs --model');
  if (!v.out.endsWith('.safetensors')) throw new ConfigError(`--out must name a .safetensors file, got ${v.out}`);
  const { checkWritableOutput } = await import('../io/files.js');
  // Before any image is read: a result that cannot be written would waste the whole job.
  checkWritableOutput(v.out, '--out');
  const engine = (await import('./engine.js')).nodeEngine();
  const { listImageFiles } = await import('../io/image_files.js');
  const { resolveInitWeights } = await import('../tasks/finetune.js');
  // A run folder (as finetune takes it): its final weights, or an FCMAE run's encoder; the
  // run's classifier is not needed for features, so only the backbone is loaded.
  const weights = v.weights && !v.weights.startsWith('hf:') ? resolveInitWeights(v.model ?? '', { weights: v.weights }) : v.weights;
  const fromRun = weights !== v.weights;
  const { writeSafetensors } = await import('../io/safetensors.js');
  const { writeNpy } = await import('../io/npy.js');
  const { extractFeatures } = await import('../tasks/features.js');
  const images = listImageFiles(positionals);
  const bar = new ProgressBar({ total: images.length, label: 'features', unit: 'img', stream: io.stderr });
  const r = await extractFeatures(engine, {
    model: v.model,
    run: v.run,
    config: v.config ? parseConfigJson(v.config) : undefined,
    size: v.size,
    weights,
    ...(fromRun ? { backboneOnly: true } : {}),
    pretrained: v.pretrained,
    images,
    stages: v.stages,
    batch: v.batch,
    threads: v.threads,
    workers: v.workers,
    onProgress: (done) => bar.update(done),
  });
  bar.done();
  for (const f of r.failed) io.stderr.write(`skipped ${f.path}: ${f.error}\n`);
  await writeSafetensors(v.out, r.tensors, { files: JSON.stringify(r.files), model: v.model ?? `run:${v.run}` });
  const written = [v.out];
  if (v.npy)
    for (const [name, t] of r.tensors) {
      const path = v.out.replace(/\.safetensors$/, `.${name}.npy`);
      writeNpy(path, t);
      written.push(path);
    }
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const summary = {
    images: r.files.length,
    failed: r.failed.length,
    tensors: Object.fromEntries([...r.tensors].map(([k, t]) => [k, t.shape])),
    written,
    // decode and transform: worker time summed over the workers; waiting: the model's wait for images.
    seconds: { decode: +s(r.timing.decodeMs), transform: +s(r.timing.transformMs), model: +s(r.timing.modelMs), waiting: +s(r.timing.waitMs), wall: +s(r.timing.wallMs) },
    imagesPerSecond: +(r.files.length / (r.timing.wallMs / 1000)).toFixed(1),
  };
  if (v.json) io.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else
    io.stdout.write(
      `${summary.images} images → ${written.join(', ')} (${Object.entries(summary.tensors).map(([k, sh]) => `${k} [${sh}]`).join(', ')})\n` +
        `${summary.imagesPerSecond} img/s; ${v.workers} workers: decode ${summary.seconds.decode}s, transform ${summary.seconds.transform}s; ` +
          `model ${summary.seconds.model}s (waited ${summary.seconds.waiting}s for images); wall ${summary.seconds.wall}s\n`,
    );
  return r.failed.length ? 1 : 0;
}
