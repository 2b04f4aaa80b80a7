/**
 * `mlxn-train grpo` and `mlxn-train sft`: a config file in, a training run out — a progress bar
 * on stderr, checkpoints and metrics in `outputDir`.
 *
 * Ctrl-C aborts the trainer's AbortSignal, which the trainers honour between two steps (the
 * loop's state is then whole), and a checkpoint is saved there, so `--resume` continues exactly
 * where the run stopped; the command to continue is printed in full. A second Ctrl-C exits at
 * once without saving; SIGINTs that arrive together (a wrapper relaying the signal to the process
 * group it is in) are one Ctrl-C (see `onInterrupt`).
 *
 * Under `mlxn-launch -n N` every rank runs this command and they train data-parallel: rank 0
 * recovers the output folder and writes checkpoints and metrics, and only rank 0 talks on
 * stderr (errors excepted). Ctrl-C reaches every rank; the ranks agree on the step to stop
 * after and save one checkpoint together.
 */
import { basename, dirname, isAbsolute } from 'node:path';
import * as mx from '@mlxn/core';
import { ensureHubSnapshot, parseHubId } from '@mlxn/io';
import { Qwen3 } from '@mlxn/models-qwen3';
import {
  type CommandSpec,
  downloadProgressBar,
  flag,
  onInterrupt,
  type ParsedArgs,
  REVISION_FLAG,
  UsageError,
} from '@mlxn/models-qwen3/cli-args';
import { latestCheckpoint, resolveCheckpoint } from '../checkpoint.js';
import type { GRPOConfig } from '../config.js';
import { PeerStopError } from '../data-parallel.js';
import { PromptDataset } from '../dataset.js';
import type { LogRecord } from '../metrics.js';
import { RewardFunctionError } from '../rewards/index.js';
import { type SFTConfig, type SFTRecord, SFTTrainer } from '../sft.js';
import { GRPOTrainer } from '../trainer.js';
import { ConfigError, type Overrides, readJsonl, readRunConfig, type TrainerKind } from './config-file.js';
import { resumeCommand } from './resume-command.js';
import { BUILTIN_REWARD_NAMES, resolveRewards } from './rewards.js';
import { resolveTools } from './tools.js';

const RUN_FLAGS: CommandSpec['flags'] = {
  model: {
    kind: 'string',
    value: 'MODEL',
    help: "A folder or a Hugging Face model id such as Qwen/Qwen3-0.6B (overrides the config's model).",
  },
  ...REVISION_FLAG,
  resume: {
    kind: 'string',
    value: '[=CHECKPOINT]',
    help: "Continue from the newest checkpoint in outputDir (a new run when it has none), or from --resume=CHECKPOINT (with '=').",
  },
  'output-dir': {
    kind: 'string',
    short: 'o',
    value: 'FOLDER',
    help: "Where checkpoints and metrics go (overrides the config's outputDir).",
  },
  'max-steps': { kind: 'int', value: 'N', help: "Stop after N optimizer steps (overrides the config's maxSteps)." },
  'no-progress': { kind: 'boolean', help: 'Do not draw the progress bar.' },
};

const CONFIG_NOTES = [
  "Relative paths in the config file are relative to its folder. Other keys are the trainer's",
  'config fields in camelCase (as in the library); the command line logs every step unless',
  'loggingSteps is set. Ctrl-C stops after the current step and saves a checkpoint (exit code 130);',
  'a second Ctrl-C stops at once without saving.',
].join('\n');

export const GRPO: CommandSpec = {
  name: 'mlxn-train grpo',
  usage: '<config.json> [options]',
  summary: 'Fine-tune a Qwen3 model folder with GRPO (TRL semantics) as a JSON config file describes.',
  maxPositionals: 1,
  flags: RUN_FLAGS,
  epilog: [
    'Config file:',
    '  {',
    '    "model": "Qwen/Qwen3-0.6B",           a folder, or a Hugging Face model id (downloaded if needed)',
    '    "dataset": "./train.jsonl",           one JSON record per line with a "prompt"',
    '    "rewards": ["accuracy", "./rewards.mjs", { "builtin": "format", "options": {} }],',
    '    "numGenerations": 8, "maxCompletionLength": 256, "learningRate": 1e-6,',
    '    "maxSteps": 100, "saveSteps": 20, "outputDir": "./runs/grpo"',
    '  }',
    `Built-in rewards: ${BUILTIN_REWARD_NAMES.join(', ')}. A module path (.js, .mjs or .ts) adds every`,
    'function it exports; { "module": path, "export": name } picks some.',
    '"tools": ["./tools.mjs"] (chat datasets): every exported { name, handler, description?, parameters? }',
    'object (or a default-exported list of them) is a tool the model may call; { "module", "export" } picks some.',
    CONFIG_NOTES,
    '',
    'Examples:',
    '  mlxn-train grpo grpo.json',
    '  mlxn-train grpo grpo.json --resume',
    '  mlxn-train grpo grpo.json --resume=runs/grpo/checkpoint-40 --max-steps 200',
  ].join('\n'),
};

export const SFT: CommandSpec = {
  name: 'mlxn-train sft',
  usage: '<config.json> [options]',
  summary: 'Supervised fine-tuning of a Qwen3 model folder as a JSON config file describes.',
  maxPositionals: 1,
  flags: RUN_FLAGS,
  epilog: [
    'Config file:',
    '  {',
    '    "model": "./Qwen3-0.6B",',
    '    "dataset": "./train.jsonl",     records { "prompt", "completion" }, { "messages" } or { "text" }',
    '    "maxLength": 512, "learningRate": 2e-5, "numTrainEpochs": 1, "outputDir": "./runs/sft",',
    '    "lora": { "rank": 8, "alpha": 16 }',
    '  }',
    CONFIG_NOTES,
    '',
    'Examples:',
    '  mlxn-train sft sft.json --max-steps 500',
    '  mlxn-train sft sft.json --resume',
  ].join('\n'),
};

/** The reason the run's signal was aborted with (Ctrl-C). */
class StopRequest extends Error {
  constructor() {
    super('stopped between two steps');
  }
}

/** Adds tokens/s to what the progress bar shows, right after the loss (a narrow terminal clips the end). */
function withSpeed(info: Record<string, number | string>, record: LogRecord | null): Record<string, number | string> {
  const tps = record?.tokens_per_sec;
  if (typeof tps !== 'number' || !Number.isFinite(tps)) return info;
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(info)) {
    out[k] = v;
    if (k === 'loss') out['tok/s'] = Math.round(tps);
  }
  out['tok/s'] ??= Math.round(tps);
  return out;
}

class CliGRPOTrainer extends GRPOTrainer {
  protected override progressInfo(record: LogRecord | null): Record<string, number | string> {
    return withSpeed(super.progressInfo(record), record);
  }
}

class CliSFTTrainer extends SFTTrainer {
  protected override progressInfo(record: LogRecord | null): Record<string, number | string> {
    return withSpeed(super.progressInfo(record), record);
  }
}

function overridesOf(args: ParsedArgs): Overrides {
  const o: Overrides = {};
  const model = flag<string>(args, 'model');
  if (model !== undefined) o.model = model;
  const revision = flag<string>(args, 'revision');
  if (revision !== undefined) o.revision = revision;
  const out = flag<string>(args, 'output-dir');
  if (out !== undefined) o.outputDir = out;
  const maxSteps = flag<number>(args, 'max-steps');
  if (maxSteps !== undefined) {
    if (maxSteps < 1) throw new UsageError(`--max-steps must be at least 1, got ${maxSteps}`);
    o.maxSteps = maxSteps;
  }
  const resume = flag<string>(args, 'resume');
  // A bare --resume arrives as '' (see main.ts): the newest checkpoint.
  if (resume !== undefined) o.resume = resume === '' ? true : resume;
  return o;
}

const sayOnStderr = (s: string) => process.stderr.write(`${s}\n`);

/** The model's folder; a Hugging Face model id not in the cache is downloaded, with progress. */
async function modelFolder(model: string, revision: string | undefined): Promise<string> {
  const id = isAbsolute(model) ? undefined : parseHubId(model);
  if (id === undefined) return model; // a folder (config-file.ts resolved it)
  const bar = downloadProgressBar(id.repo);
  try {
    return await ensureHubSnapshot(model, { revision, onProgress: (e) => bar.update(e) });
  } finally {
    bar.end();
  }
}

/** `argv`: the words after the command, as typed, for the command that continues the run. */
export async function runTraining(kind: TrainerKind, args: ParsedArgs, argv: readonly string[]): Promise<number> {
  const path = args.positionals[0];
  if (path === undefined) throw new UsageError('missing the config file');
  // A job started by mlxn-launch (size 1 when started alone).
  const world = mx.distributed.init();
  const say = world.rank === 0 ? sayOnStderr : () => {};
  const run = readRunConfig(kind, path, { ...overridesOf(args), numProcesses: world.size });
  const c = run.trainer;
  // `--resume` means "continue if there is anything to continue": the first run of a script that
  // always passes it starts fresh instead of failing (the library's `true` stays strict, as TRL's).
  if (c.resumeFromCheckpoint === true && c.outputDir && latestCheckpoint(c.outputDir) === null) {
    say(`No checkpoint in ${c.outputDir} to resume from: starting a new run`);
    c.resumeFromCheckpoint = null;
  }
  const continueWith = resumeCommand('mlxn-train', kind, argv);
  // A checkpoint that cannot be resumed from is the caller's mistake; find out before loading.
  // In a job, rank 0 looks first (it may put back what an interrupted save left), then the others.
  let resumeFrom: string | null = null;
  let resumeError: unknown = null;
  const findResume = () => {
    try {
      resumeFrom = resolveCheckpoint(c.resumeFromCheckpoint, c.outputDir);
    } catch (e) {
      resumeError = new UsageError((e as Error).message);
    }
  };
  if (world.rank === 0) findResume();
  if (world.size > 1) {
    const failed = (mx.distributed.allSum(mx.array([resumeError === null ? 0 : 1]), world).tolist() as number[])[0];
    if (resumeError === null && failed > 0)
      throw new UsageError('rank 0 could not find the checkpoint to resume from (its error says why)');
    if (world.rank > 0) findResume();
  }
  if (resumeError !== null) throw resumeError;
  const rewards =
    kind === 'grpo'
      ? await resolveRewards(run.rewards, dirname(run.file), { maxCompletionLength: (c as GRPOConfig).maxCompletionLength })
      : [];
  const tools = kind === 'grpo' && run.tools !== undefined ? await resolveTools(run.tools, dirname(run.file)) : [];
  const dataset = kind === 'grpo' ? loadPrompts(run.dataset, run.promptColumn) : readJsonl(run.dataset);

  const model = await Qwen3.load(await modelFolder(run.model, run.revision));
  const progress = flag(args, 'no-progress') ? false : { stream: process.stderr };
  const trainer =
    kind === 'grpo'
      ? new CliGRPOTrainer({
          model,
          rewardFuncs: rewards,
          trainDataset: dataset as PromptDataset,
          config: c as GRPOConfig,
          progress,
          tools,
        })
      : new CliSFTTrainer({ model, trainDataset: dataset as SFTRecord[], config: c as SFTConfig, progress });
  const stop = new AbortController();

  const stopListening = onInterrupt((presses) => {
    if (presses === 1) {
      say('\nStopping after the current step to save a checkpoint (Ctrl-C again to quit now without saving)');
      stop.abort(new StopRequest());
      return;
    }
    const latest = latestCheckpoint(c.outputDir);
    say(`\nStopped without saving${latest ? `; the newest checkpoint is ${latest}. Continue with: ${continueWith}` : ''}`);
    process.exit(130);
  });
  if (resumeFrom !== null) say(`Resuming from ${resumeFrom}`);
  try {
    const result = await trainer.train({ signal: stop.signal });
    const latest = latestCheckpoint(c.outputDir);
    const lastLoss = [...trainer.logHistory].reverse().find((r) => typeof r.loss === 'number')?.loss;
    say(
      `Trained ${result.globalStep} steps${lastLoss != null ? ` (last loss ${lastLoss.toPrecision(4)})` : ''}` +
        `${result.skippedSteps ? `, ${result.skippedSteps} skipped` : ''}; ${latest ? `checkpoint ${latest}` : 'no checkpoint'}, metrics in ${c.outputDir}`,
    );
    return 0;
  } catch (e) {
    // A stop while a reward function was still pending rejects with an error that has the stop
    // as its cause; that step was not counted, so the state is whole as after any stop.
    // In a job, a rank whose own Ctrl-C had not arrived yet stops with the others (PeerStopError).
    const stopped =
      (stop.signal.aborted &&
        stop.signal.reason instanceof StopRequest &&
        (e === stop.signal.reason || (e instanceof RewardFunctionError && e.cause === stop.signal.reason))) ||
      e instanceof PeerStopError;
    if (!stopped) throw e;
    if (trainer.state.globalStep === 0) {
      say('Interrupted before the first step: nothing to save');
      return 130;
    }
    // The loop stopped at a step boundary: its state is whole and can be saved as is.
    const latest = latestCheckpoint(c.outputDir);
    let saved: string;
    try {
      saved = latest !== null && basename(latest) === `checkpoint-${trainer.state.globalStep}` ? latest : await trainer.saveCheckpoint();
    } catch (saveError) {
      // Stopped in the middle of a step that had used some micro-batches: not checkpointable.
      say(
        `Stopped without saving (${(saveError as Error).message})${latest ? `; the newest checkpoint is ${latest}. Continue with: ${continueWith}` : ''}`,
      );
      return 130;
    }
    say(`Interrupted after step ${trainer.state.globalStep}: saved ${saved}. Continue with: ${continueWith}`);
    return 130;
  } finally {
    stopListening();
  }
}

function loadPrompts(file: string, promptColumn: string | undefined): PromptDataset {
  try {
    return PromptDataset.fromRecords(readJsonl(file), { source: file, ...(promptColumn ? { promptColumn } : {}) });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError((e as Error).message);
  }
}
