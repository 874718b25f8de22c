/** `--model NAME [--config JSON]` as a model spec, the way every command reads them. */
import { ConfigError } from '../errors.js';
import type { ModelSpec, RawConfig } from '../models/registry.js';
import { parseConfigJson } from './args.js';

/**
 * A family name takes the config as its keys (`{ family, ...config }`); a registry name or weight
 * tag takes it as overrides. `--config` without `--model` is an error.
 */
export async function modelFromFlags(model: string | undefined, config: string | undefined): Promise<{ model?: ModelSpec; overrides: RawConfig }> {
  if (config !== undefined && model === undefined) throw new ConfigError('--config needs --model');
  const parsed = config ? parseConfigJson(config) : {};
  if (model === undefined) return { overrides: {} };
  const { familyNames } = await import('../models/registry.js');
  return familyNames().includes(model) ? { model: { ...parsed, family: model }, overrides: {} } : { model, overrides: parsed };
}
