/** `visionmix export`: a model (a run, or a registry model + weights) as an ONNX file other runtimes load. */
import { ConfigError } from '../errors.js';
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { modelFromFlags } from './model_flags.js';
import { checkWritableOutput, writeTextFile } from '../io/files.js';
import type { CalibrationMethod, StaticQuantReport } from '../io/static_int8.js';
import type { CalibrationSource } from '../tasks/export.js';

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
    'transform as the image processor of ConvNeXt, ConvNeXt V2 or MobileViT; the families transformers.js knows). ' +
    '--quantization static (with --calibration) quantizes Conv, MatMul and Gemm layers with QuantizeLinear/DequantizeLinear: ' +
    'int8 per-channel weights, uint8 activations whose ranges are calibrated on --calibration-images images (min-max, a ' +
    'percentile, or entropy: the clipping closest in KL divergence); LayerNorm, Softmax, GRN, the first conv and the classifier stay float32 (--keep-fp32 changes the last two). ' +
    '--report FILE writes every quantized layer with its ranges and the output error when that layer alone is quantized.',
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
    dtype: { type: 'string', choices: ['fp32', 'fp16', 'int8'], default: 'fp32', description: 'weights: fp32, fp16 (half the file) or int8 (see --quantization)' },
    quantization: { type: 'string', choices: ['dynamic', 'static'], placeholder: 'kind', description: "int8: 'dynamic' (default: weights only, no calibration) or 'static' (calibrated activations, needs --calibration)" },
    calibration: { type: 'string', placeholder: 'data', description: 'static int8: calibration images, fashion-mnist[:PATH|:bundled] (train split) or a folder of images (or of class sub-folders)' },
    calibrationImages: { type: 'int', min: 1, default: 32, description: 'static int8: how many calibration images (spread over the set)' },
    calibrationMethod: { type: 'string', choices: ['minmax', 'percentile', 'entropy'], default: 'minmax', description: 'static int8: activation ranges from the extremes seen, from percentiles, or by KL divergence (entropy)' },
    percentile: { type: 'number', default: 99.99, placeholder: 'p', description: 'static int8 with --calibration-method percentile: the range is the [100 - p, p] percentiles' },
    keepFp32: { type: 'strings', default: ['stem', 'classifier'], placeholder: 'list', description: "static int8: layers left float32: 'stem', 'classifier', layer names or prefixes (stages.0), or 'none'" },
    report: { type: 'string', placeholder: 'file', description: 'static int8: write the per-layer report (.json, else markdown) with each layer\'s error when quantized alone' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  examples: [
    'visionmix export -m convnext_atto.d2_in1k --pretrained -o convnext_atto.onnx',
    'visionmix export --run runs/demo -o demo.onnx --dtype fp16',
    'visionmix export -m convnextv2_atto --weights w.safetensors -o m.onnx --batch 8 --outputs logits,features',
    'visionmix export -m convnext_atto.d2_in1k --pretrained --format transformers -o models/convnext_atto',
    'visionmix export --run runs/demo -o demo_int8.onnx --dtype int8 --quantization static --calibration fashion-mnist:bundled --report int8.md',
  ],
});

function parseBatch(text: string): number | 'dynamic' {
  if (text === 'dynamic') return 'dynamic';
  const n = Number(text);
  if (!(/^\d+$/.test(text) && Number.isSafeInteger(n) && n >= 1)) throw new ConfigError(`--batch must be 'dynamic' or a positive integer, got '${text}'`);
  return n;
}

/** The static-int8 flags, checked: the calibration source, or undefined for other exports. */
function staticCalibration(v: CommandArgs<typeof spec>['values']): CalibrationSource | undefined {
  if (v.quantization && v.dtype !== 'int8') throw new ConfigError(`--quantization applies to --dtype int8, not ${v.dtype}`);
  if (v.quantization !== 'static') {
    const stray = v.calibration ? '--calibration' : v.report ? '--report' : undefined;
    if (stray) throw new ConfigError(`${stray} is for --dtype int8 --quantization static`);
    return undefined;
  }
  if (!v.calibration) throw new ConfigError('--quantization static needs --calibration DATA (fashion-mnist[:PATH|:bundled] or a folder of images) to calibrate activation ranges on');
  if (!(v.percentile > 50 && v.percentile <= 100)) throw new ConfigError(`--percentile must be in (50, 100], got ${v.percentile}`);
  const keep = v.keepFp32;
  return {
    data: v.calibration,
    count: v.calibrationImages,
    method: v.calibrationMethod as CalibrationMethod,
    percentile: v.percentile,
    keepFloat: keep.length === 1 && keep[0] === 'none' ? [] : keep,
    sensitivity: v.report !== undefined,
  };
}

const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)}%`);

/** What the terminal shows of a static export: the overall error and the worst layers alone. */
function quantizationSummary(q: StaticQuantReport, report: string | undefined): string {
  const lines = [
    `  int8 static (${q.method}${q.percentile !== undefined ? ` ${q.percentile}%` : ''}, ${q.images} images): ${q.layers.length} layers quantized, ${q.float32.length} float32 (${q.float32.map((l) => l.name).join(', ') || 'none'})`,
    `  ${q.output} vs fp32 on the calibration images: relative L2 ${q.overall.relL2.toExponential(2)}, top-1 agreement ${pct(q.overall.top1Agreement)}`,
  ];
  const worst = [...q.layers].filter((l) => l.sensitivity).sort((a, b) => b.sensitivity!.relL2 - a.sensitivity!.relL2).slice(0, 5);
  if (worst.length) lines.push('  most sensitive layers (quantized alone):', ...worst.map((l) => `    ${l.name} (${l.op}): relative L2 ${l.sensitivity!.relL2.toExponential(2)}, top-1 agreement ${pct(l.sensitivity!.top1Agreement)}`));
  if (report) lines.push(`  report: ${report}`);
  return `${lines.join('\n')}\n`;
}

/** The report as markdown: the calibration, the overall error, a table of every quantized layer. */
export function quantizationMarkdown(q: StaticQuantReport): string {
  const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const f = (x: number) => x.toPrecision(4);
  return [
    '# Static int8 quantization report',
    '',
    `Calibration: ${q.method}${q.percentile !== undefined ? ` (${q.percentile}%)` : ''} on ${q.images} images. Compared output: \`${q.output}\` against float32.`,
    '',
    `Whole model: relative L2 ${f(q.overall.relL2)}, top-1 agreement ${pct(q.overall.top1Agreement)}.`,
    '',
    `Float32 layers: ${q.float32.map((l) => `\`${l.name}\` (${l.reason})`).join(', ') || 'none'}.`,
    '',
    '## Quantized layers (error with the layer alone quantized)',
    '',
    row(['layer', 'op', 'input scale', 'input zero point', 'output scale', 'relative L2 alone', 'top-1 agreement alone']),
    row(['---', '---', '---:', '---:', '---:', '---:', '---:']),
    ...q.layers.map((l) =>
      row([l.name, l.op, f(l.input.scale), l.input.zeroPoint, l.output ? f(l.output.scale) : '–', l.sensitivity ? f(l.sensitivity.relL2) : '–', l.sensitivity ? pct(l.sensitivity.top1Agreement) : '–']),
    ),
    '',
  ].join('\n');
}

export async function run({ values: v }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  if (v.format === 'transformers') {
    if (v.out.endsWith('.onnx')) throw new ConfigError(`--out must name a folder with --format transformers (it writes onnx/model.onnx, config.json and preprocessor_config.json), got ${v.out}`);
    if (v.outputs.includes('features')) throw new ConfigError("--outputs: --format transformers exports logits only (transformers.js's image-classification reads them)");
  } else if (!v.out.endsWith('.onnx')) throw new ConfigError(`--out must name a .onnx file, got ${v.out}`);
  if (v.config && !v.model) throw new ConfigError('--config needs --model');
  const batch = parseBatch(v.batch);
  const calibrationSource = staticCalibration(v);
  if (v.report) checkWritableOutput(v.report, '--report');
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
    ...(v.quantization ? { quantization: v.quantization as 'dynamic' | 'static' } : {}),
    calibrationSource,
    onWarning: (m) => io.stderr.write(`warning: ${m}\n`),
    onProgress: (e) => {
      if (e.status === 'download') io.stderr.write(`downloading ${e.repo}/${e.file}…\n`);
    },
  });
  if (r.quantization && v.report) writeTextFile(v.report, v.report.endsWith('.json') ? `${JSON.stringify(r.quantization, null, 2)}\n` : quantizationMarkdown(r.quantization));
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
  if (r.quantization) io.stdout.write(quantizationSummary(r.quantization, v.report));
  return 0;
}
