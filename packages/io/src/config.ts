// config.json (and generation_config.json) of a model folder, parsed but not interpreted:
// model packages validate them with their own zod schemas.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface ModelConfig {
  /** The parsed `config.json` (snake_case keys, as written). */
  config: Record<string, unknown>;
  /** The parsed `generation_config.json`, when the folder has one. */
  generationConfig?: Record<string, unknown>;
}

async function readJson(file: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}

/** Reads `config.json` and, when present, `generation_config.json` from a model folder. */
export async function readConfig(folder: string): Promise<ModelConfig> {
  const dir = resolve(folder);
  const config = (await readJson(join(dir, 'config.json'), true))!;
  const generationConfig = await readJson(join(dir, 'generation_config.json'), false);
  return generationConfig ? { config, generationConfig } : { config };
}
