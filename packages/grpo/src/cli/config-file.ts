/**
 * The JSON config file of `mlxn-train`: what to train (`model`, `dataset`, and for GRPO
 * `rewards`) next to the trainer's own config fields (GRPOConfig or SFTConfig, camelCase, as
 * the library takes them). Relative paths in the file are relative to the file's folder, so a
 * run directory can be moved as a whole. `model` is a folder or a Hugging Face model id
 * (`Qwen/Qwen3-0.6B`, with an optional `revision` key), taken from the Hugging Face cache or
 * downloaded into it when the run starts. Mistakes in the file are `ConfigError`s, reported like
 * usage errors (exit code 2) before any model is loaded.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isValidRevision, parseHubId, readTextFileSync } from '@mlxn/io';
import { closest } from '@mlxn/models-qwen3/cli-args';
import { GRPO_CONFIG_KEYS, type GRPOConfig, LORA_CONFIG_KEYS, parseGRPOConfig } from '../config.js';
import { parseSFTConfig, SFT_CONFIG_KEYS, type SFTConfig } from '../sft.js';

/** A mistake in the config file (exit code 2). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type TrainerKind = 'grpo' | 'sft';

/** The run a config file describes. */
export interface RunConfig<K extends TrainerKind = TrainerKind> {
  kind: K;
  /** The config file, resolved. */
  file: string;
  /** A folder (resolved), or a Hugging Face model id as written. */
  model: string;
  /** For a model id: the branch, tag or commit (`revision` in the file, or `--revision`). */
  revision?: string;
  dataset: string;
  /** GRPO: the `rewards` entries, resolved later (they may import modules). */
  rewards: unknown;
  /** GRPO: the `tools` entries (module paths), resolved later; undefined without tools. */
  tools: unknown;
  /** GRPO: the dataset column holding the prompt. */
  promptColumn: string | undefined;
  trainer: K extends 'grpo' ? GRPOConfig : SFTConfig;
}

/** Keys of the file that are not trainer config fields. */
const RUN_KEYS: Record<TrainerKind, string[]> = {
  grpo: ['model', 'revision', 'dataset', 'rewards', 'tools', 'promptColumn', '$schema'],
  sft: ['model', 'revision', 'dataset', '$schema'],
};

const TRAINER_KEYS: Record<TrainerKind, readonly string[]> = { grpo: GRPO_CONFIG_KEYS, sft: SFT_CONFIG_KEYS };

/** Unknown keys name the closest known one, as unknown flags do (`"learningRat"` → `"learningRate"`). */
function checkKeys(object: Record<string, unknown>, known: readonly string[], file: string, where: string): void {
  const unknown = Object.keys(object).filter((k) => !known.includes(k));
  if (unknown.length === 0) return;
  const named = unknown.map((key) => {
    const near = closest(key, known) ?? known.find((k) => k.toLowerCase() === key.toLowerCase().replace(/_/g, ''));
    return `"${where}${key}"${near ? ` (did you mean "${where}${near}"?)` : ''}`;
  });
  throw new ConfigError(`config file ${file}: unknown key${unknown.length > 1 ? 's' : ''} ${named.join(', ')}`);
}

/** Command-line overrides of config fields (paths relative to the current folder). */
export interface Overrides {
  /** `--model`: a folder (relative to the working directory) or a Hugging Face model id. */
  model?: string;
  revision?: string;
  outputDir?: string;
  maxSteps?: number;
  /** `true`: the newest checkpoint in outputDir; a string: that checkpoint. */
  resume?: true | string;
  /** Processes of the data-parallel job (under `mlxn-launch`); GRPO's generation batch spans them all. */
  numProcesses?: number;
}

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  if (statSync(file).isDirectory()) throw new ConfigError(`config file ${file} is a folder`);
  let value: unknown;
  try {
    value = JSON.parse(readTextFileSync(file, { maxBytes: 16 * 2 ** 20, what: 'config files' }));
  } catch (e) {
    throw new ConfigError(`config file ${file}: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(`config file ${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}

function requiredPath(raw: Record<string, unknown>, key: string, file: string, base: string): string {
  const v = raw[key];
  if (typeof v !== 'string' || v === '') throw new ConfigError(`config file ${file}: "${key}" must be a path`);
  return resolve(base, v);
}

/**
 * The model to train: `--model` (relative to the working directory) or the file's `model`
 * (relative to the file's folder). An existing folder wins; otherwise a string shaped like a
 * Hugging Face model id is one.
 */
function modelOf(raw: Record<string, unknown>, overrides: Overrides, file: string, base: string): { model: string; revision?: string } {
  const text = overrides.model ?? raw.model;
  const where = overrides.model !== undefined ? '--model' : `config file ${file}: "model"`;
  if (typeof text !== 'string' || text === '')
    throw new ConfigError(`config file ${file}: "model" must be a folder or a Hugging Face model id`);
  const revisionText = overrides.revision ?? raw.revision;
  if (revisionText !== undefined && (typeof revisionText !== 'string' || !isValidRevision(revisionText))) {
    throw new ConfigError(
      `${overrides.revision !== undefined ? '--revision' : `config file ${file}: "revision"`} must be a branch, tag or commit hash, got ${JSON.stringify(revisionText)}`,
    );
  }
  const local = resolve(overrides.model !== undefined ? process.cwd() : base, text);
  if (existsSync(local)) {
    if (!statSync(local).isDirectory()) throw new ConfigError(`${where}: ${local} is not a folder`);
    if (revisionText !== undefined)
      throw new ConfigError(`${where}: ${local} is a local folder; a revision applies to Hugging Face model ids`);
    return { model: local };
  }
  const id = parseHubId(text);
  if (id === undefined)
    throw new ConfigError(`${where}: model folder ${local} does not exist (nor is ${JSON.stringify(text)} a Hugging Face model id)`);
  if (id.revision !== undefined && revisionText !== undefined && id.revision !== revisionText) {
    throw new ConfigError(`${where}: revision ${revisionText} given as well as @${id.revision}`);
  }
  return revisionText === undefined ? { model: text } : { model: text, revision: revisionText };
}

/** Reads and validates a config file for `kind`, applying the command-line overrides. */
export function readRunConfig<K extends TrainerKind>(kind: K, path: string, overrides: Overrides = {}): RunConfig<K> {
  const file = resolve(path);
  const raw = readJson(file);
  checkKeys(raw, [...RUN_KEYS[kind], ...TRAINER_KEYS[kind]], file, '');
  if (raw.lora !== null && typeof raw.lora === 'object' && !Array.isArray(raw.lora))
    checkKeys(raw.lora as Record<string, unknown>, LORA_CONFIG_KEYS, file, 'lora.');
  const base = dirname(file);
  const { model, revision } = modelOf(raw, overrides, file, base);
  const dataset = requiredPath(raw, 'dataset', file, base);
  if (!existsSync(dataset)) throw new ConfigError(`config file ${file}: dataset ${dataset} does not exist`);
  if (kind === 'grpo' && raw.rewards === undefined)
    throw new ConfigError(`config file ${file}: "rewards" is missing (built-in names or module paths)`);
  const promptColumn = raw.promptColumn;
  if (promptColumn !== undefined && typeof promptColumn !== 'string')
    throw new ConfigError(`config file ${file}: "promptColumn" must be a column name`);

  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!RUN_KEYS[kind].includes(k)) fields[k] = v;
  for (const k of ['outputDir', 'resumeFromCheckpoint'] as const) {
    if (typeof fields[k] === 'string' && !isAbsolute(fields[k] as string)) fields[k] = resolve(base, fields[k] as string);
  }
  // The progress bar shows the last logged values, so the command line logs every step by default.
  fields.loggingSteps ??= 1;
  if (overrides.outputDir !== undefined) fields.outputDir = resolve(overrides.outputDir);
  if (overrides.maxSteps !== undefined) fields.maxSteps = overrides.maxSteps;
  if (overrides.resume !== undefined) fields.resumeFromCheckpoint = overrides.resume === true ? true : resolve(overrides.resume);

  let trainer: GRPOConfig | SFTConfig;
  try {
    trainer =
      kind === 'grpo' ? parseGRPOConfig(fields as never, { numProcesses: overrides.numProcesses ?? 1 }) : parseSFTConfig(fields as never);
  } catch (e) {
    // The library lists every problem; keep them on one line.
    const msg = (e as Error).message.replace(/\n\s*/g, '; ').replace(/:;/, ':');
    throw new ConfigError(`config file ${file}: ${msg}`);
  }
  return {
    kind,
    file,
    model,
    ...(revision === undefined ? {} : { revision }),
    dataset,
    rewards: raw.rewards,
    tools: raw.tools,
    promptColumn: promptColumn as string | undefined,
    trainer: trainer as RunConfig<K>['trainer'],
  };
}

/** The records of a JSONL file (blank lines skipped); a bad line is named by its number. */
export function readJsonl(file: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  // Regular files only: a FIFO would block the read forever.
  readTextFileSync(file, { maxBytes: 2 ** 30, what: 'JSONL files' })
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new ConfigError(`${file}:${i + 1}: ${(e as Error).message}`);
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${file}:${i + 1}: expected a JSON object`);
      out.push(v as Record<string, unknown>);
    });
  if (out.length === 0) throw new ConfigError(`${file}: the dataset is empty`);
  return out;
}
