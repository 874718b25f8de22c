/** `visionmix convert`: a PyTorch checkpoint (or safetensors) → timm-named safetensors. */
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';
import { modelFromFlags } from './model_flags.js';

export const spec = defineCommand({
  name: 'convert',
  summary: 'Convert a PyTorch checkpoint (.pth/.pt) to safetensors with timm key names',
  description:
    "Reads IN without running any code from it (a torch.save zip or legacy file, or safetensors), picks its state dict " +
    "('model', 'state_dict', 'model_ema', … or a bare dict; --weights-key chooses) and strips DDP's 'module.'. With " +
    '--model the weights are mapped to that model\'s (timm) names — official, ml-cvnets and FCMAE-sparse names are ' +
    'understood — and must load strictly; without it the state dict is written under its own names. The output ' +
    'records the SHA-256 of IN in its metadata (source_sha256).',
  positionals: [
    { name: 'in', description: 'the checkpoint to convert', required: true },
    { name: 'out', description: 'the safetensors file to write', required: true },
  ],
  options: {
    model: { type: 'string', short: 'm', placeholder: 'name', description: "registry name or weight tag, or a family with --config (see 'visionmix models')" },
    config: { type: 'string', placeholder: 'json', description: 'model config overrides as JSON (custom sizes)' },
    weightsKey: { type: 'string', placeholder: 'key', description: 'the state dict of the checkpoint to convert (e.g. model_ema)' },
  },
  examples: [
    'visionmix convert convnext_tiny_1k_224_ema.pth convnext_tiny.safetensors --model convnext_tiny',
    'visionmix convert checkpoint-best.pth ema.safetensors --model convnextv2_atto --weights-key model_ema',
    'visionmix convert glnet_4g.pth glnet_4g.safetensors --model glnet_4g',
  ],
});

export async function run({ values: v, positionals }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const [input, output] = positionals as [string, string];
  const chosen = await modelFromFlags(v.model, v.config);
  const engine = (await import('./engine.js')).nodeEngine();
  const { convertWeights } = await import('../tasks/convert.js');
  const { describeCheckpoint } = await import('../io/pytorch_format.js');
  const r = await convertWeights(engine, {
    input,
    output,
    model: chosen.model,
    modelOverrides: typeof chosen.model === 'string' ? chosen.overrides : undefined,
    weightsKey: v.weightsKey,
    onCheckpoint: (info) => io.stderr.write(`note: ${describeCheckpoint(input, info)}\n`),
  });
  if (r.naming === 'source') io.stderr.write("note: no --model: the tensors keep the checkpoint's own names (give --model to write timm names)\n");
  io.stdout.write(`${output}: ${r.tensors} tensors (source sha256 ${r.sourceSha256})\n`);
  return 0;
}
