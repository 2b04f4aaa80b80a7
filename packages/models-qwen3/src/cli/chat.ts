/**
 * `mlxn-qwen3 chat`: a conversation with the model. With `--message` it answers once and exits;
 * on a terminal it is a REPL (line editing and history, the conversation kept as context,
 * `/reset`, `/exit`); with piped input every line is one user turn. Replies stream as they are
 * generated: reasoning dimmed (or hidden), tool calls printed on their own line.
 */
import { createInterface } from 'node:readline';
import { type ChatMessage, readTextFileSync } from '@mlxn/io';
import type { ChatOptions, ChatPart } from '../lm/chat.js';
import type { Qwen3 } from '../model.js';
import { type CommandSpec, flag, type ParsedArgs, UsageError } from './args.js';
import { statsLine } from './generate.js';
import { onInterrupt } from './interrupts.js';
import { loadModel, REVISION_FLAG, resolveModelArg } from './model-folder.js';
import { style, useColor, writeOut } from './output.js';
import { asUsageError, checkSamplingOptions, SAMPLING_FLAGS, samplingOptions } from './sampling.js';

export const CHAT: CommandSpec = {
  name: 'mlxn-qwen3 chat',
  usage: '<model> [options]',
  summary:
    'Chat with the model. With --message it replies once and exits; on a terminal it is an\n' +
    'interactive session (/reset clears the conversation, /exit or Ctrl-D leaves, Ctrl-C stops a\n' +
    'reply); with piped input each line is one user message.',
  maxPositionals: 1,
  flags: {
    ...REVISION_FLAG,
    message: { kind: 'string', short: 'm', value: 'TEXT', help: 'Reply to this one message and exit.' },
    system: { kind: 'string', value: 'TEXT', help: 'The system message.' },
    tools: { kind: 'string', value: 'FILE', help: 'A JSON file with a list of tool definitions the model may call.' },
    reasoning: {
      kind: 'string',
      value: 'MODE',
      choices: ['show', 'hide'],
      help: 'Show the reasoning (dimmed on a terminal) or hide it (default show).',
    },
    'no-thinking': { kind: 'boolean', help: "Ask the model to answer without reasoning (Qwen3's enable_thinking=false)." },
    stats: { kind: 'boolean', help: 'Print token counts, speeds and peak memory to stderr after each reply.' },
    ...SAMPLING_FLAGS,
  },
  epilog: [
    'Examples:',
    '  mlxn-qwen3 chat ./Qwen3-0.6B --temperature 0.6 --top-p 0.95',
    "  mlxn-qwen3 chat ./Qwen3-0.6B -m 'What is 17 * 23?' --reasoning hide",
    "  mlxn-qwen3 chat ./Qwen3-0.6B --tools tools.json -m 'Weather in Paris?'",
  ].join('\n'),
};

function readTools(path: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(readTextFileSync(path, { maxBytes: 16 * 2 ** 20, what: 'tool definition files' }));
  } catch (e) {
    throw new UsageError(`--tools ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(value) || !value.every((t) => t !== null && typeof t === 'object')) {
    throw new UsageError(`--tools ${path}: expected a JSON list of tool definitions`);
  }
  return value;
}

export interface ReplyPrinterOptions {
  showReasoning: boolean;
  /** ANSI styles (dim reasoning); without them reasoning is delimited by <think> tags. */
  color: boolean;
  stats: boolean;
  write?: (text: string) => Promise<void>;
}

/** Prints the parts of one reply; `message()` is the assistant turn to keep in the conversation. */
export class ReplyPrinter {
  #mode: 'none' | 'reasoning' | 'text' = 'none';
  #text = '';
  #calls: { name: string; arguments: Record<string, unknown> }[] = [];
  #endsWithNewline = true;
  readonly #showReasoning: boolean;
  readonly #color: boolean;
  readonly #stats: boolean;
  readonly #out: (text: string) => Promise<void>;
  finishReason: string | null = null;

  constructor(options: ReplyPrinterOptions) {
    this.#showReasoning = options.showReasoning;
    this.#color = options.color;
    this.#stats = options.stats;
    this.#out = options.write ?? writeOut;
  }

  async #write(s: string): Promise<void> {
    if (s === '') return;
    await this.#out(s);
    this.#endsWithNewline = s.endsWith('\n');
  }

  async #newline(): Promise<void> {
    if (!this.#endsWithNewline) await this.#write('\n');
  }

  async #leaveReasoning(): Promise<void> {
    if (this.#mode !== 'reasoning') return;
    this.#mode = 'none';
    // Without colour the reasoning is delimited as the model wrote it.
    if (!this.#color) {
      await this.#newline();
      await this.#write('</think>\n');
    } else await this.#newline();
  }

  async push(part: ChatPart): Promise<void> {
    switch (part.type) {
      case 'reasoning': {
        if (!this.#showReasoning) return;
        if (this.#mode !== 'reasoning') {
          this.#mode = 'reasoning';
          if (!this.#color) await this.#write('<think>\n');
          part = { ...part, text: part.text.replace(/^\n+/, '') };
        }
        await this.#write(style.dim(part.text, this.#color));
        return;
      }
      case 'text': {
        await this.#leaveReasoning();
        // The template puts blank lines between reasoning and answer; the answer starts clean.
        const text = this.#mode === 'none' ? part.text.replace(/^\n+/, '') : part.text;
        this.#mode = 'text';
        this.#text += part.text;
        await this.#write(text);
        return;
      }
      case 'toolCall': {
        await this.#leaveReasoning();
        await this.#newline();
        const { name, arguments: args } = part.toolCall;
        this.#calls.push({ name, arguments: args });
        await this.#write(`${style.yellow(`[tool call] ${name}`, this.#color)} ${JSON.stringify(args)}\n`);
        return;
      }
      case 'invalidToolCall': {
        await this.#leaveReasoning();
        await this.#newline();
        const { raw, error } = part.invalidToolCall;
        await this.#write(`${style.yellow('[invalid tool call]', this.#color)} ${error}: ${raw.trim()}\n`);
        return;
      }
      case 'done': {
        await this.#leaveReasoning();
        await this.#newline();
        this.finishReason = part.finishReason;
        if (this.#stats) process.stderr.write(`${statsLine({ ...part, ...part.usage })}\n`);
        return;
      }
    }
  }

  /** The reply as a conversation message (Qwen3's template renders `tool_calls`). */
  message(): ChatMessage {
    const m: ChatMessage = { role: 'assistant', content: this.#text.trim() };
    if (this.#calls.length > 0) m.tool_calls = this.#calls.map((c) => ({ type: 'function', function: c }));
    return m;
  }
}

interface Session {
  model: Qwen3;
  options: ChatOptions;
  showReasoning: boolean;
  stats: boolean;
  messages: ChatMessage[];
}

/** One user turn: streams the reply and adds both messages to the conversation. */
async function turn(s: Session, text: string, signal: AbortSignal): Promise<string | null> {
  const printer = new ReplyPrinter({ showReasoning: s.showReasoning, color: useColor(process.stdout), stats: s.stats });
  const messages = [...s.messages, { role: 'user', content: text }];
  let parts: AsyncGenerator<ChatPart>;
  try {
    parts = s.model.chatStream(messages, { ...s.options, signal });
  } catch (e) {
    throw asUsageError(e);
  }
  for await (const part of parts) await printer.push(part);
  s.messages = [...messages, printer.message()];
  return printer.finishReason;
}

async function repl(s: Session, initial: ChatMessage[]): Promise<number> {
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const rl = createInterface({
    input: process.stdin,
    output: tty ? process.stdout : undefined,
    terminal: tty,
    historySize: tty ? 1000 : 0,
    prompt: '> ',
  });
  let current: AbortController | null = null;
  let interrupted = false;
  const onStop = () => {
    if (current) current.abort();
    else {
      interrupted = true;
      rl.close();
    }
  };
  // On a terminal readline turns Ctrl-C into its own event; otherwise it is a signal.
  rl.on('SIGINT', onStop);
  const stopListening = tty ? () => {} : onInterrupt(onStop);
  if (tty) {
    process.stdout.write(style.dim('Type a message; /reset clears the conversation, /exit leaves.\n', useColor(process.stdout)));
    rl.prompt();
  }
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '/exit' || line === '/quit') break;
      if (line === '/reset') {
        s.messages = [...initial];
        if (tty) process.stdout.write('(conversation cleared)\n');
      } else if (line === '/help') {
        process.stdout.write('/reset clears the conversation, /exit leaves, Ctrl-C stops a reply.\n');
      } else if (line !== '') {
        current = new AbortController();
        try {
          await turn(s, raw, current.signal);
        } finally {
          current = null;
        }
      }
      if (tty) rl.prompt();
    }
  } finally {
    stopListening();
    rl.close();
  }
  if (tty) process.stdout.write('\n');
  return interrupted && !tty ? 130 : 0;
}

export async function runChat(args: ParsedArgs): Promise<number> {
  const dir = await resolveModelArg(args.positionals[0], flag<string>(args, 'revision'));
  const options: ChatOptions = { ...samplingOptions(args) };
  if (flag(args, 'no-thinking')) options.enableThinking = false;
  const toolsFile = flag<string>(args, 'tools');
  if (toolsFile !== undefined) options.tools = readTools(toolsFile);
  checkSamplingOptions(options);
  const message = flag<string>(args, 'message');
  if (message !== undefined && message.trim() === '') throw new UsageError('--message is empty');
  const system = flag<string>(args, 'system');

  const model = await loadModel(dir);
  if (model.tokenizer === undefined || model.chatTemplate === undefined) {
    throw new Error(`${args.positionals[0]} has no tokenizer with a chat template (tokenizer.json, tokenizer_config.json)`);
  }
  const initial: ChatMessage[] = system === undefined ? [] : [{ role: 'system', content: system }];
  const session: Session = {
    model,
    options,
    showReasoning: (flag<string>(args, 'reasoning') ?? 'show') === 'show',
    stats: flag<boolean>(args, 'stats') ?? false,
    messages: [...initial],
  };
  if (message === undefined) return repl(session, initial);

  const controller = new AbortController();
  const stopListening = onInterrupt(() => controller.abort());
  try {
    const finish = await turn(session, message, controller.signal);
    return finish === 'abort' ? 130 : 0;
  } finally {
    stopListening();
  }
}
