// Test fixtures for the trainer tests: the canonical tiny dense Qwen3 (vocabulary 512, hidden 64,
// two layers; tooling/fixtures/qwen3/dense) given the real Qwen3 tokenizer files, so prompts are
// real token ids (digits and '+', '=' are below 512) and completions decode to text.
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Qwen3 } from '@mlxn/models-qwen3';
import { qwen3TokenizerDir, tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { GRPOTrainer, type GRPOTrainerOptions } from '../src/index.js';

const folders: string[] = [];

/**
 * A fresh temporary folder, removed by `cleanup()`. A child process that its test kills never
 * gets to `cleanup()`: its parent names a folder of its own in `MLXN_TEST_TMP` and removes that.
 */
export function tempDir(prefix = 'mlxn-grpo-test-'): string {
  const dir = mkdtempSync(join(process.env.MLXN_TEST_TMP || tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

let modelDir: string | null = null;

/** The tiny dense fixture with the Qwen3 tokenizer, as a model folder. */
function fixtureFolder(): string {
  if (modelDir !== null && existsSync(modelDir)) return modelDir;
  const dir = tempDir('mlxn-grpo-model-');
  cpSync(tinyQwen3Path('dense'), dir, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(qwen3TokenizerDir(), f), join(dir, f));
  modelDir = dir;
  return dir;
}

/**
 * A fresh copy of the tiny model (each test trains its own). Its 512-row embedding keeps the
 * first ids of the real tokenizer, which is why it loads with `truncatedVocab`.
 */
export async function tinyModel(): Promise<Qwen3> {
  return Qwen3.load(fixtureFolder(), { truncatedVocab: true });
}

/** Prompts whose tokens all fit the fixture's 512-token vocabulary. */
export function arithmeticRecords(n: number): { prompt: string; answer: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const a = i % 10;
    const b = (i * 3 + 1) % 10;
    return { prompt: `${a}+${b}=`, answer: String(a + b) };
  });
}

/** A graded reward that needs no answer: the share of completion tokens below 128. */
export const lowTokenShare = ({ completionIds }: { completionIds: number[][] }) =>
  completionIds.map((ids) => (ids.length === 0 ? 0 : ids.filter((t) => t < 128).length / ids.length));

/**
 * A GRPOTrainer on a fresh tiny model, rewarded by `lowTokenShare` on 16 arithmetic prompts,
 * with settings that train fast in float32 for two steps; `config` and `options` override them.
 */
export async function tinyTrainer(config: Record<string, unknown> = {}, options: Partial<GRPOTrainerOptions> = {}) {
  const model = await tinyModel();
  const trainer = new GRPOTrainer({
    model,
    rewardFuncs: [lowTokenShare],
    trainDataset: arithmeticRecords(16),
    config: {
      numGenerations: 4,
      perDeviceTrainBatchSize: 8,
      maxCompletionLength: 6,
      learningRate: 1e-2,
      lrSchedulerType: 'constant',
      maxSteps: 2,
      loggingSteps: 1,
      saveSteps: 1000,
      outputDir: tempDir(),
      bf16: false,
      gradientCheckpointing: false,
      seed: 1,
      ...config,
    },
    ...options,
  });
  return { model, trainer };
}

export function cleanup(): void {
  for (const d of folders.splice(0)) rmSync(d, { recursive: true, force: true });
  modelDir = null;
}
