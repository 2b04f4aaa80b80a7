#!/usr/bin/env node
/**
 * `mlxn-train`: GRPO and SFT fine-tuning from a JSON config file. Exit codes: 0 done, 1 the run
 * failed, 2 the command or the config file is wrong, 130 interrupted with Ctrl-C (a checkpoint
 * saved unless Ctrl-C was pressed twice). Errors are one line (`mlxn-train: …`); `--verbose`
 * adds the stack trace.
 */
import { type Command, runCommandTool } from '@mlxn/models-qwen3/cli-args';
import { ConfigError } from './config-file.js';
import { GRPO, runTraining, SFT } from './train.js';

/** A command's `argv` is what followed the command word, as typed (for the command that resumes the run). */
const COMMANDS: Record<string, Command> = {
  grpo: { spec: GRPO, run: (a, argv) => runTraining('grpo', a, argv) },
  sft: { spec: SFT, run: (a, argv) => runTraining('sft', a, argv) },
};

const MAIN_HELP = `Usage: mlxn-train <command> <config.json> [options]

Fine-tune Qwen3 models on MLX from the command line (@mlxn/grpo).

Commands:
  grpo   Reinforcement learning with GRPO and reward functions
  sft    Supervised fine-tuning

Run 'mlxn-train <command> --help' for the options and the config file, 'mlxn-train --version'
for the version.
`;

/**
 * `--resume` takes an optional value, which parseArgs cannot express: a bare `--resume` becomes
 * `--resume=` (empty: the newest checkpoint); a checkpoint is given as `--resume=PATH`.
 */
function normalizeResume(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((a, i) => (a === '--resume' && (end === -1 || i < end) ? '--resume=' : a));
}

runCommandTool(
  {
    tool: 'mlxn-train',
    help: MAIN_HELP,
    commands: COMMANDS,
    commandList: 'grpo or sft',
    moduleUrl: import.meta.url,
    prepareArgs: normalizeResume,
  },
  { isUsageError: (e) => e instanceof ConfigError },
);
