/**
 * `mlxn-qwen3 generate`: one prompt in, the continuation streamed to stdout. Statistics go to
 * stderr (with `--stats`) so the output can be piped. Ctrl-C stops generation (exit code 130).
 */
import type { ChatMessage } from '@mlxn/io';
import type { GenerationChunk } from '../lm/generate.js';
import type { GenerateOptions, Prompt } from '../lm/options.js';
import { type CommandSpec, flag, type ParsedArgs, UsageError } from './args.js';
import { onInterrupt } from './interrupts.js';
import { loadModel, REVISION_FLAG, resolveModelArg } from './model-folder.js';
import { readStdin, writeOut } from './output.js';
import { asUsageError, checkSamplingOptions, SAMPLING_FLAGS, samplingOptions } from './sampling.js';

export const GENERATE: CommandSpec = {
  name: 'mlxn-qwen3 generate',
  usage: '<model> [prompt] [options]',
  summary:
    'Generate a continuation of a prompt and stream it to stdout. The prompt is rendered with the\n' +
    "model's chat template as one user message unless --raw is given; '-' or no prompt reads stdin.",
  maxPositionals: 2,
  flags: {
    ...REVISION_FLAG,
    prompt: { kind: 'string', short: 'p', value: 'TEXT', help: 'The prompt (instead of the positional argument).' },
    system: { kind: 'string', value: 'TEXT', help: 'A system message before the prompt (chat template only).' },
    raw: { kind: 'boolean', help: 'Use the prompt as plain text, without the chat template.' },
    'no-thinking': { kind: 'boolean', help: "Ask the model to answer without reasoning (Qwen3's enable_thinking=false)." },
    stats: { kind: 'boolean', help: 'Print token counts, speeds and peak memory to stderr.' },
    'draft-model': {
      kind: 'string',
      value: 'MODEL',
      help: 'A smaller model with the same vocabulary that proposes tokens (speculative decoding).',
    },
    'num-draft-tokens': { kind: 'int', value: 'N', help: 'Tokens the draft model proposes per round (default 3).' },
    ...SAMPLING_FLAGS,
  },
  epilog: [
    'Examples:',
    "  mlxn-qwen3 generate Qwen/Qwen3-0.6B 'Write a haiku about autumn' --max-tokens 64",
    "  echo 'Once upon a time' | mlxn-qwen3 generate ./Qwen3-0.6B --raw --temperature 0.7 --seed 1",
    "  mlxn-qwen3 generate Qwen/Qwen3-8B 'Explain tides' --draft-model Qwen/Qwen3-0.6B --stats",
  ].join('\n'),
};

/** `prompt: 12 tokens, 340.1 tokens/s | generation: ...` */
export function statsLine(
  c: Pick<GenerationChunk, 'promptTokens' | 'completionTokens' | 'promptTokensPerSec' | 'tokensPerSec' | 'peakMemory' | 'finishReason'>,
): string {
  return (
    `prompt: ${c.promptTokens} tokens, ${c.promptTokensPerSec.toFixed(1)} tokens/s | ` +
    `generation: ${c.completionTokens} tokens, ${c.tokensPerSec.toFixed(1)} tokens/s | ` +
    `peak memory: ${(c.peakMemory / 1e6).toFixed(1)} MB | finish: ${c.finishReason}`
  );
}

export async function runGenerate(args: ParsedArgs): Promise<number> {
  const [folder, positionalPrompt] = args.positionals;
  const dir = await resolveModelArg(folder, flag<string>(args, 'revision'));
  const given = flag<string>(args, 'prompt');
  if (given !== undefined && positionalPrompt !== undefined)
    throw new UsageError('give the prompt either as an argument or with --prompt, not both');
  let text = given ?? positionalPrompt;
  if (text === undefined || text === '-') {
    if (process.stdin.isTTY) throw new UsageError("missing the prompt (give it as an argument, with --prompt, or on stdin with '-')");
    text = await readStdin();
  }
  if (text.length === 0) throw new UsageError('the prompt is empty');
  const raw = flag<boolean>(args, 'raw') ?? false;
  const system = flag<string>(args, 'system');
  if (raw && system !== undefined) throw new UsageError('--system needs the chat template; it cannot be combined with --raw');
  const options: GenerateOptions = { ...samplingOptions(args) };
  if (flag(args, 'no-thinking')) {
    if (raw) throw new UsageError('--no-thinking needs the chat template; it cannot be combined with --raw');
    options.enableThinking = false;
  }
  const draftArg = flag<string>(args, 'draft-model');
  const numDraftTokens = flag<number>(args, 'num-draft-tokens');
  if (numDraftTokens !== undefined && draftArg === undefined) throw new UsageError('--num-draft-tokens needs --draft-model');
  checkSamplingOptions(options);

  const model = await loadModel(dir);
  if (draftArg !== undefined) {
    options.draftModel = await loadModel(await resolveModelArg(draftArg, undefined));
    if (numDraftTokens !== undefined) options.numDraftTokens = numDraftTokens;
  }
  if (model.tokenizer === undefined) throw new Error(`${folder} has no tokenizer (tokenizer.json), so a text prompt cannot be encoded`);
  let prompt: Prompt = text;
  if (!raw && model.chatTemplate !== undefined) {
    const messages: ChatMessage[] = [
      ...(system === undefined ? [] : [{ role: 'system', content: system }]),
      { role: 'user', content: text },
    ];
    prompt = messages;
  } else if (system !== undefined || options.enableThinking !== undefined) {
    throw new UsageError(`${folder} has no chat template, so --system and --no-thinking cannot apply (use --raw)`);
  }

  const controller = new AbortController();
  // Repeated SIGINTs (a wrapper relaying to its group) stop the same stream, never kill it mid-line.
  const stopListening = onInterrupt(() => controller.abort());
  let last: GenerationChunk | undefined;
  let drafted = 0;
  try {
    let chunks: AsyncGenerator<GenerationChunk>;
    try {
      chunks = model.stream(prompt, { ...options, signal: controller.signal });
    } catch (e) {
      throw asUsageError(e);
    }
    for await (const c of chunks) {
      if (c.text) await writeOut(c.text);
      if (c.fromDraft === true) drafted++;
      last = c;
    }
  } finally {
    stopListening();
  }
  await writeOut('\n');
  if (flag(args, 'stats') && last)
    process.stderr.write(`${statsLine(last)}${draftArg === undefined ? '' : ` | from the draft: ${drafted} tokens`}\n`);
  return last?.finishReason === 'abort' ? 130 : 0;
}
