/** `visionmix export`: a model (a run, or a registry model + weights) as an ONNX file other runtimes load. */
import { ConfigError } from '../errors.js';
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { modelFromFlags } from './model_flags.js';

export const spec = defineCommand({
  name: 'export',
  summary: 'Write a model as an ONNX file (opset 17, dynamic batch, metadata) or a folder transformers.js loads',
  description:
    'The file takes pixel_values [batch, C, H, W] (float32, normalised as the metadata says) and gives logits ' +
    '(and features.<stage> with --outputs logits,features). Its metadata_props record the model name and config, the ' +
    'eval transform (input_size, crop_pct, interpolation, mean, std), the class labels and the sha256 of the weights ' +
    'file. Weights over 2 GB go to <file>.data beside it (ONNX external data). --dtype fp16 stores the weights in half ' +
    'precision (half the file); they are cast back to float32 when loaded, so compute stays float32. --dtype int8 ' +
    'quantizes dynamically: the weights of MatMuls (Linear layers) become per-channel symmetric int8 and the ' +
    'activations are quantized to uint8 at run time (integer GEMMs); convolutions, the first conv and the classifier stay float32. ' +
    "--format transformers writes a folder that transformers.js loads offline with pipeline('image-classification', folder): " +
    'onnx/model.onnx, config.json (the Hugging Face config with the class labels) and preprocessor_config.json (the eval ' +
    'transform as the image processor of ConvNeXt, ConvNeXt V2 or MobileViT; the families transformers.js knows).',
  options: {
    run: { type: 'string', placeholder: 'dir', description: "a finished 'visionmix train' folder (model, weights, classes, transform)" },
    model: { type: 'string', short: 'm', placeholder: 'name', description: 'registry model or weight tag, or a family with --config' },
    config: { type: 'string', placeholder: 'json', description: 'model config as JSON (with a family, or overrides of a registry model)' },
    weights: { type: 'string', placeholder: 'file|hf:repo', description: 'safetensors file (timm or official names) or hf:org/name (without weights: random ones)' },
    pretrained: { type: 'boolean', description: "the weight tag's hub weights (cached)" },
    out: { type: 'string', short: 'o', required: true, placeholder: 'file|dir', description: '.onnx file to write (--format transformers: the folder)' },
    format: { type: 'string', choices: ['onnx', 'transformers'], default: 'onnx', description: 'onnx: one .onnx file; transformers: a folder transformers.js loads' },
    size: { type: 'int', min: 8, description: "square input side (default: the weights' or the run's input size)" },
    batch: { type: 'string', default: 'dynamic', placeholder: 'N|dynamic', description: "batch dimension: 'dynamic' (symbolic) or a fixed size" },
    outputs: { type: 'strings', choices: ['logits', 'features'], default: ['logits'], placeholder: 'list', description: 'outputs: logits and/or features (one map per stage)' },
    dtype: { type: 'string', choices: ['fp32', 'fp16', 'int8'], default: 'fp32', description: 'weights: fp32, fp16 (half the file) or int8 (dynamic quantization)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  examples: [
    'visionmix export -m convnext_atto.d2_in1k --pretrained -o convnext_atto.onnx',
    'visionmix export --run runs/demo -o demo.onnx --dtype fp16',
    'visionmix export -m convnextv2_atto --weights w.safetensors -o m.onnx --batch 8 --outputs logits,features',
    'visionmix export -m convnext_atto.d2_in1k --pretrained --format transformers -o models/convnext_atto',
  ],
});

function parseBatch(text: string): number | 'dynamic' {
  if (text === 'dynamic') return 'dynamic';
  const n = Number(text);
  if (!(/^\d+$/.test(text) && Number.isSafeInteger(n) && n >= 1)) throw new ConfigError(`--batch must be 'dynamic' or a positive integer, got '${text}'`);
  return n;
}

export async function run({ values: v }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  if (v.format === 'transformers') {
    if (v.out.endsWith('.onnx')) throw new ConfigError(`--out must name a folder with --format transformers (it writes onnx/model.onnx, config.json and preprocessor_config.json), got ${v.out}`);
    if (v.outputs.includes('features')) throw new ConfigError("--outputs: --format transformers exports logits only (transformers.js's image-classification reads them)");
  } else if (!v.out.endsWith('.onnx')) throw new ConfigError(`--out must name a .onnx file, got ${v.out}`);
  if (v.config && !v.model) throw new ConfigError('--config needs --model');
  const batch = parseBatch(v.batch);
  const engine = (await import('./engine.js')).nodeEngine();
  const { exportJob } = await import('../tasks/export.js');
  const chosen = await modelFromFlags(v.model, v.config);
  if (v.model && !v.run && !v.weights && !v.pretrained) io.stderr.write(`note: no --weights or --pretrained: exporting ${v.model} with random weights\n`);
  const r = await exportJob(engine, {
    run: v.run,
    model: chosen.model,
    overrides: chosen.overrides,
    weights: v.weights,
    pretrained: v.pretrained,
    path: v.out,
    format: v.format as 'onnx' | 'transformers',
    size: v.size,
    batch,
    outputs: v.outputs as ('logits' | 'features')[],
    dtype: v.dtype === 'fp16' ? 'float16' : v.dtype === 'int8' ? 'int8' : 'float32',
    onWarning: (m) => io.stderr.write(`warning: ${m}\n`),
    onProgress: (e) => {
      if (e.status === 'download') io.stderr.write(`downloading ${e.repo}/${e.file}…\n`);
    },
  });
  if (v.json) {
    io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  const sig = (vs: typeof r.inputs) => vs.map((x) => `${x.name} [${x.dims.join(', ')}]`).join(', ');
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const t = r.transformers;
  io.stdout.write(
    `${r.model} (${r.weights}) → ${t ? `${t.dir}/ (${t.files.join(', ')}; ${t.architecture}, ${t.imageProcessor})` : r.path}${r.dataPath ? ` + ${r.dataPath}` : ''}\n` +
      `  ${mb(r.modelBytes + r.dataBytes)}, weights ${r.dtype}, opset 17, batch ${r.batch}\n` +
      `  inputs:  ${sig(r.inputs)}\n  outputs: ${sig(r.outputs)}\n`,
  );
  return 0;
}
