#!/usr/bin/env node
/**
 * `mlxn-qwen3`: generate, chat and convert from a model folder or hub id; download and list the
 * Hugging Face cache. Exit codes: 0 done, 1 the work
 * failed, 2 the command was called wrongly, 130 interrupted with Ctrl-C. Errors are one line
 * (`mlxn-qwen3: …`); `--verbose` adds the stack trace.
 */
import { CACHE, runCache } from './cache.js';
import { CHAT, runChat } from './chat.js';
import { CONVERT, runConvert } from './convert.js';
import { DOWNLOAD, runDownload } from './download.js';
import { GENERATE, runGenerate } from './generate.js';
import { OutputClosed } from './output.js';
import { type Command, runCommandTool } from './run-main.js';

const COMMANDS: Record<string, Command> = {
  generate: { spec: GENERATE, run: runGenerate },
  chat: { spec: CHAT, run: runChat },
  convert: { spec: CONVERT, run: runConvert },
  download: { spec: DOWNLOAD, run: runDownload },
  cache: { spec: CACHE, run: runCache },
};

const MAIN_HELP = `Usage: mlxn-qwen3 <command> [options]

Qwen3 and Qwen3-MoE on MLX from the command line (@mlxn/models-qwen3).

Commands:
  generate   Stream a continuation of a prompt
  chat       Chat with the model (interactive, or one message with --message)
  convert    Quantize, change the dtype or fuse LoRA adapters into a new model folder
  download   Download a model from the Hugging Face hub into the local cache
  cache      List the models in the local Hugging Face cache, with sizes

A model is a folder or a Hugging Face model id (Qwen/Qwen3-0.6B, optionally @revision or
--revision), taken from the local Hugging Face cache or downloaded into it.

Run 'mlxn-qwen3 <command> --help' for a command's options, 'mlxn-qwen3 --version' for the version.
`;

runCommandTool(
  {
    tool: 'mlxn-qwen3',
    help: MAIN_HELP,
    commands: COMMANDS,
    commandList: 'generate, chat, convert, download or cache',
    moduleUrl: import.meta.url,
  },
  { isQuietEnd: (e) => e instanceof OutputClosed },
);
