/**
 * Generation methods on `Qwen3`: `model.stream`, `model.generate`, `model.chat`,
 * `model.chatStream` and `model.batchGenerate` call the functions of generate.ts, chat.ts and
 * batch.ts with the model. They are added to the class here (declaration merging plus the
 * prototype), so model.ts stays the network and generation stays in its own files.
 */
import type { ChatMessage } from '@mlxn/io';
import { type BatchGenerateOptions, type BatchPrompt, type BatchResults, batchGenerate } from './batch.js';
import { type ChatOptions, type ChatPart, type ChatResult, chat, chatStream } from './chat.js';
import { type GenerationChunk, type GenerationResult, generate, stream } from './generate.js';
import { Qwen3 } from './model.js';
import type { GenerateOptions, Prompt } from './options.js';

/** The generation methods every `Qwen3` has (merged into the class in model.ts). */
export interface GenerationMethods {
  /**
   * Streams a generation as chunks `{ text, token, finishReason, ... }`; breaking out of the
   * loop stops it and frees its memory.
   *
   * @example
   * for await (const c of model.stream([{ role: 'user', content: 'Hi' }], { maxTokens: 64 })) process.stdout.write(c.text);
   */
  stream(prompt: Prompt, options?: GenerateOptions): AsyncGenerator<GenerationChunk, void, undefined>;
  /** Generates to the end: `{ text, tokens, finishReason, usage, ... }`. */
  generate(prompt: Prompt, options?: GenerateOptions): Promise<GenerationResult>;
  /** A chat reply split into `text`, `reasoning`, `toolCalls` and `invalidToolCalls`. */
  chat(messages: readonly ChatMessage[], options?: ChatOptions): Promise<ChatResult>;
  /** A chat reply as parts while they arrive (`reasoning`, `text`, `toolCall`, ..., `done`). */
  chatStream(messages: readonly ChatMessage[], options?: ChatOptions): AsyncGenerator<ChatPart, void, undefined>;
  /** Batched generation with continuous batching; results in prompt order. */
  batchGenerate(prompts: readonly BatchPrompt[], options?: BatchGenerateOptions): Promise<BatchResults>;
}

/**
 * Adds the generation methods to `Qwen3.prototype`. Importing the package does it; exported so
 * the module is never dropped as unused (the package is marked free of side effects).
 */
export function installGenerationMethods(target: object = Qwen3.prototype): void {
  Object.defineProperties(target, {
    stream: {
      value: function (this: Qwen3, prompt: Prompt, options?: GenerateOptions) {
        return stream(this, prompt, options, 'Qwen3.stream');
      },
      writable: true,
      configurable: true,
    },
    generate: {
      value: function (this: Qwen3, prompt: Prompt, options?: GenerateOptions) {
        return generate(this, prompt, options, 'Qwen3.generate');
      },
      writable: true,
      configurable: true,
    },
    chat: {
      value: function (this: Qwen3, messages: readonly ChatMessage[], options?: ChatOptions) {
        return chat(this, messages, options);
      },
      writable: true,
      configurable: true,
    },
    chatStream: {
      value: function (this: Qwen3, messages: readonly ChatMessage[], options?: ChatOptions) {
        return chatStream(this, messages, options);
      },
      writable: true,
      configurable: true,
    },
    batchGenerate: {
      value: function (this: Qwen3, prompts: readonly BatchPrompt[], options?: BatchGenerateOptions) {
        return batchGenerate(this, prompts, options);
      },
      writable: true,
      configurable: true,
    },
  });
}

installGenerationMethods();
