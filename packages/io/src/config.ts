// config.json (and generation_config.json) of a model folder, parsed but not interpreted:
// model packages validate them with their own zod schemas.
import { join, resolve } from 'node:path';
import { checkOptionKeys } from '@mlxn/core/internal';
import { jsonDepth, readTextFile } from './files.js';

export interface ModelConfig {
  /** The parsed `config.json` (snake_case keys, as written). */
  config: Record<string, unknown>;
  /** The parsed `generation_config.json`, when the folder has one. */
  generationConfig?: Record<string, unknown>;
}

export interface ReadConfigOptions {
  /** The largest config file accepted, in bytes. Default 16 MiB (published configs are a few kilobytes; a per-layer quantization map a few hundred). */
  maxBytes?: number;
  /** The deepest nesting of arrays and objects accepted. Default 64 (published configs nest 3 or 4 levels). */
  maxDepth?: number;
}

/** Defaults of `ReadConfigOptions`. */
export const CONFIG_FILE_LIMITS = Object.freeze({ maxBytes: 16 * 2 ** 20, maxDepth: 64 });

async function readJson(file: string, required: true, options: ReadConfigOptions): Promise<Record<string, unknown>>;
async function readJson(file: string, required: false, options: ReadConfigOptions): Promise<Record<string, unknown> | undefined>;
async function readJson(file: string, required: boolean, options: ReadConfigOptions): Promise<Record<string, unknown> | undefined> {
  const maxBytes = options.maxBytes ?? CONFIG_FILE_LIMITS.maxBytes;
  const maxDepth = options.maxDepth ?? CONFIG_FILE_LIMITS.maxDepth;
  let text: string;
  try {
    // Only a regular file: a FIFO would leave the read, and this promise, pending forever.
    text = await readTextFile(file, { maxBytes, what: 'config files (readConfig option maxBytes)' });
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const message = (e as Error).message;
    throw new Error(`${file}: cannot read (${message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message})`);
  }
  const depth = jsonDepth(text);
  if (depth > maxDepth) throw new Error(`${file}: nested ${depth} levels deep, past the limit of ${maxDepth} (readConfig option maxDepth)`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}

const READ_CONFIG_OPTIONS: readonly string[] = ['maxBytes', 'maxDepth'] satisfies (keyof ReadConfigOptions)[];

/**
 * Reads `config.json` and, when present, `generation_config.json` from a model folder. Both must
 * be regular files within the size and depth limits of `options`.
 */
export async function readConfig(folder: string, options: ReadConfigOptions = {}): Promise<ModelConfig> {
  checkOptionKeys(options, READ_CONFIG_OPTIONS, 'readConfig');
  const dir = resolve(folder);
  const config = await readJson(join(dir, 'config.json'), true, options);
  const generationConfig = await readJson(join(dir, 'generation_config.json'), false, options);
  return generationConfig ? { config, generationConfig } : { config };
}
