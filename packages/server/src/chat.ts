/**
 * `POST /v1/chat/completions`: messages rendered with the model's chat template, each choice
 * generated on the shared scheduler and split by Qwen3's reply parser into `content`,
 * `reasoning_content` (the `<think>` text, as mlx-lm's server names it) and `tool_calls` (ids,
 * JSON-string arguments, `finish_reason: "tool_calls"`), whole or as server-sent events.
 * `response_format` json_schema / json_object and `tool_choice` required / a named function are
 * answered by constrained decoding (@mlxn/models-qwen3's `compileReplyConstraint`): each choice
 * gets its own token constraint, which the scheduler applies to that row's steps.
 */
import type { ServerResponse } from 'node:http';
import type { ChatMessage } from '@mlxn/io';
import {
  compileReplyConstraint,
  encodePrompt,
  type FinishReason,
  prepareConstraintVocabulary,
  promptOpensThinking,
  ReplyParser,
  type ReplyPart,
  type ResponseFormat,
  toOpenAIToolCall,
} from '@mlxn/models-qwen3';
import { ConstraintError } from '@mlxn/sampling';
import { badRequest } from './errors.js';
import {
  checkModel,
  type HandlerContext,
  logprobEntry,
  newId,
  openEventStream,
  type RequestRun,
  sendEvent,
  usageOf,
} from './handler-shared.js';
import { completionBudget, planChoices } from './options.js';
import { type ChatRequest, type ChatRequestMessage, chatRequestSchema, parseBody } from './requests.js';
import { runChoices } from './run.js';
import type { RowEvent } from './scheduler.js';

type OpenAIToolCall = { id: string; type: 'function'; function: { name: string; arguments: string } };

/** Message content as text: OpenAI's text parts are joined. */
function textOf(content: ChatRequestMessage['content']): string {
  if (content === null || content === undefined) return '';
  return typeof content === 'string' ? content : content.map((p) => p.text).join('');
}

/** OpenAI messages → the chat template's (Qwen3's template reads `tool_calls[].function`). */
function templateMessages(messages: ChatRequest['messages']): ChatMessage[] {
  return messages.map((m): ChatMessage => {
    const role = m.role === 'developer' ? 'system' : m.role;
    const out: ChatMessage = { role, content: textOf(m.content) };
    if (m.role === 'assistant') {
      if (m.reasoning_content != null) out.reasoning_content = m.reasoning_content;
      if (m.tool_calls != null && m.tool_calls.length > 0) {
        out.tool_calls = m.tool_calls.map((c) => {
          let args: unknown;
          try {
            args = JSON.parse(c.function.arguments);
          } catch {
            throw badRequest(`a tool call's arguments must be a JSON string (tool call ${c.id})`, 'messages', 'invalid_value');
          }
          return { id: c.id, type: 'function', function: { name: c.function.name, arguments: args } };
        });
      }
    }
    if (m.role === 'tool') out.tool_call_id = m.tool_call_id;
    return out;
  });
}

/** One choice's reply, assembled from the parser's parts. */
class ChoiceReply {
  content = '';
  reasoning = '';
  toolCalls: OpenAIToolCall[] = [];
  readonly parser: ReplyParser;
  constructor(startInReasoning: boolean) {
    this.parser = new ReplyParser({ startInReasoning });
  }

  /** Adds parts; returns the stream delta they make (null when they make none). */
  add(parts: readonly ReplyPart[]): Record<string, unknown> | null {
    const delta: Record<string, unknown> = {};
    for (const p of parts) {
      if (p.type === 'text') {
        this.content += p.text;
        delta.content = ((delta.content as string | undefined) ?? '') + p.text;
      } else if (p.type === 'reasoning') {
        this.reasoning += p.text;
        delta.reasoning_content = ((delta.reasoning_content as string | undefined) ?? '') + p.text;
      } else if (p.type === 'toolCall') {
        const { id, type, function: fn } = toOpenAIToolCall(p.toolCall);
        const call: OpenAIToolCall = { id, type, function: fn };
        const index = this.toolCalls.length;
        this.toolCalls.push(call);
        delta.tool_calls = [...((delta.tool_calls as unknown[] | undefined) ?? []), { index, ...call }];
      } else {
        // A tool-call block that did not parse is not dropped: it stays in the text, as generated.
        const raw = `<tool_call>${p.invalidToolCall.raw}</tool_call>`;
        this.content += raw;
        delta.content = ((delta.content as string | undefined) ?? '') + raw;
      }
    }
    return Object.keys(delta).length > 0 ? delta : null;
  }

  finishReason(reason: FinishReason): string {
    if (reason === 'stop' && this.toolCalls.length > 0) return 'tool_calls';
    return reason === 'abort' ? 'stop' : reason;
  }
}

export async function handleChat(ctx: HandlerContext, body: unknown, res: ServerResponse, run: RequestRun): Promise<void> {
  const r = parseBody(chatRequestSchema, body);
  checkModel(ctx, r.model);
  const toolChoice = r.tool_choice ?? 'auto';
  const structured =
    (r.response_format != null && r.response_format.type !== 'text') || toolChoice === 'required' || typeof toolChoice === 'object';
  if (structured && r.stop != null) {
    throw badRequest(
      'stop cannot be combined with response_format json_schema/json_object or a required tool_choice: a stop string could cut the document',
      'stop',
      'invalid_value',
    );
  }
  if (r.top_logprobs != null && r.top_logprobs > 0 && r.logprobs !== true)
    throw badRequest('top_logprobs requires logprobs: true', 'top_logprobs', 'invalid_value');
  const tools = toolChoice === 'none' || r.tools == null || r.tools.length === 0 ? undefined : r.tools;
  const kwargs = r.chat_template_kwargs ?? {};
  const enableThinking = typeof kwargs.enable_thinking === 'boolean' ? kwargs.enable_thinking : undefined;
  const templateVariables = Object.fromEntries(Object.entries(kwargs).filter(([k]) => k !== 'enable_thinking'));
  let encoded: { tokens: number[]; text?: string };
  try {
    encoded = encodePrompt(ctx.model, templateMessages(r.messages), { tools, enableThinking, templateVariables }, 'chat template');
  } catch (e) {
    throw badRequest(
      `the messages could not be rendered with the model's chat template: ${(e as Error).message}`,
      'messages',
      'invalid_value',
    );
  }
  const requested = r.max_completion_tokens ?? r.max_tokens;
  const param = r.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const maxTokens = completionBudget(requested, encoded.tokens.length, ctx.model, ctx.limits, param);
  const wantLogprobs = r.logprobs === true;
  const plans = planChoices(ctx.model, r, maxTokens, wantLogprobs);
  const startInReasoning = promptOpensThinking(encoded.text ?? '');
  if (structured) {
    // One constraint per choice (each advances with its own tokens); the scheduler frees them.
    const settings = {
      responseFormat: (r.response_format ?? undefined) as ResponseFormat | undefined,
      tools: r.tools ?? undefined,
      toolChoice,
      parallelToolCalls: r.parallel_tool_calls ?? undefined,
      startInReasoning,
      enableThinking,
    };
    try {
      // The first structured request builds the tokenizer's trie on a worker thread.
      await prepareConstraintVocabulary(ctx.model);
      for (const plan of plans) plan.tokenMask = compileReplyConstraint(ctx.model, settings);
    } catch (e) {
      for (const plan of plans) plan.tokenMask?.dispose();
      if (!(e instanceof ConstraintError)) throw e;
      const param = r.response_format != null && r.response_format.type !== 'text' ? 'response_format' : 'tool_choice';
      throw badRequest(`${param}: ${e.message}`, param, 'invalid_value');
    }
  }
  const replies = plans.map(() => new ChoiceReply(startInReasoning));
  const logprobs: Array<Array<Record<string, unknown>>> = plans.map(() => []);
  const finish: Array<string | null> = plans.map(() => null);
  const id = newId('chatcmpl');
  const created = Math.floor(Date.now() / 1000);
  const stream = r.stream === true;
  const includeUsage = r.stream_options?.include_usage === true;
  const topLogprobs = wantLogprobs ? (r.top_logprobs ?? 0) : 0;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: ctx.modelId,
    system_fingerprint: ctx.fingerprint,
    choices,
    ...extra,
  });

  if (stream) {
    openEventStream(res, ctx);
    for (let i = 0; i < plans.length; i++)
      sendEvent(res, chunk([{ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
  }
  const onEvent = (i: number, e: RowEvent) => {
    if (e.type === 'error') return;
    const reply = replies[i];
    let parts: ReplyPart[];
    if (e.type === 'token') {
      if (wantLogprobs) logprobs[i].push(logprobEntry(ctx, e));
      parts = e.text === '' ? [] : reply.parser.push(e.text);
    } else {
      parts = [...(e.text === '' ? [] : reply.parser.push(e.text)), ...reply.parser.finish()];
      finish[i] = reply.finishReason(e.finishReason);
    }
    const delta = reply.add(parts);
    if (!stream) return;
    // Log-probabilities ride on the next chunk that is sent (the parser may hold text back).
    if (delta === null && finish[i] === null) return;
    const lp = wantLogprobs && logprobs[i].length > 0 ? { content: logprobs[i].splice(0) } : null;
    sendEvent(res, chunk([{ index: i, delta: delta ?? {}, logprobs: lp, finish_reason: finish[i] }]));
  };
  await runChoices(
    ctx.scheduler,
    { prompt: encoded.tokens, plans, topLogprobs, signal: run.signal, startedAt: run.startedAt, onEvent },
    run.stats,
  );
  run.finishReasons = finish.map((f) => f ?? 'stop');
  if (run.signal.aborted) return; // the caller answers for a request that was stopped
  const usage = usageOf(run.stats);
  if (stream) {
    if (includeUsage) sendEvent(res, chunk([], { usage }));
    return;
  }
  const choices = replies.map((reply, i) => {
    const message: Record<string, unknown> = {
      role: 'assistant',
      content: reply.content === '' && reply.toolCalls.length > 0 ? null : reply.content,
    };
    if (reply.parser.sawReasoning || reply.reasoning !== '') message.reasoning_content = reply.reasoning;
    if (reply.toolCalls.length > 0) message.tool_calls = reply.toolCalls;
    return { index: i, message, logprobs: wantLogprobs ? { content: logprobs[i] } : null, finish_reason: finish[i] };
  });
  ctx.sendJson(res, 200, {
    id,
    object: 'chat.completion',
    created,
    model: ctx.modelId,
    system_fingerprint: ctx.fingerprint,
    choices,
    usage,
  });
}
