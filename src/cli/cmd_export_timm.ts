/**
 * `visionmix export-timm --run DIR -o OUT`: a finished run as timm's model.safetensors, config.json and
 * a train.sh for timm's train.py (tasks/timm_handoff.ts). Meant to become `visionmix export --format timm`.
 */
import { defineCommand } from './args.js';
import type { CliIO, CommandArgs } from './main.js';

export const spec = defineCommand({
  name: 'export-timm',
  summary: "Hand a run over to timm: its weights under timm's keys, timm's config.json and a train.sh for train.py",
  options: {
    run: { type: 'string', required: true, placeholder: 'dir', description: "a finished 'visionmix train' or 'finetune' folder (run.json + model.safetensors)" },
    out: { type: 'string', required: true, short: 'o', placeholder: 'dir', description: 'folder to write model.safetensors, config.json and train.sh into' },
    ema: { type: 'boolean', description: "hand over the run's EMA weights (model_ema.safetensors)" },
  },
  examples: ['visionmix export-timm --run runs/photos -o timm/photos', 'TIMM=~/pytorch-image-models DATA=photos NPROC=8 bash timm/photos/train.sh'],
});

export async function run({ values: v }: CommandArgs<typeof spec>, io: CliIO): Promise<number> {
  const engine = (await import('./engine.js')).nodeEngine();
  const { timmHandoff } = await import('../tasks/timm_handoff.js');
  const r = await timmHandoff(engine, v.run, v.out, { ema: v.ema });
  const a = r.architecture;
  const where = a.source === 'timm' ? 'timm' : `${a.source.repo} (${a.source.file}); timm has no such model`;
  io.stdout.write(`wrote ${r.files.map((f) => `${v.out}/${f}`).join(', ')}\narchitecture ${a.architecture} from ${where}\n`);
  return 0;
}
