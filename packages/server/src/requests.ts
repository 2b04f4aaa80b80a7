/**
 * Request bodies of `/v1/chat/completions` and `/v1/completions`, checked with zod against
 * OpenAI's field names and ranges. Unknown fields are refused (400, naming the field) rather
 * than ignored, as OpenAI does, so a typo never silently changes a generation; fields OpenAI
 * defines that change nothing here (`user`, `metadata`, `store`, ...) are accepted.
 */
import { z } from 'zod';
import { badRequest } from './errors.js';

const stop = z.union([z.string().min(1), z.array(z.string().min(1)).max(16)]).nullish();
const logitBias = z.record(z.string().regex(/^\d+$/, 'logit_bias keys must be token ids'), z.number().min(-100).max(100)).nullish();

/** Sampling fields both endpoints share (OpenAI's, plus mlx-lm's `top_k`, `min_p`, `repetition_penalty`). */
const sampling = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  logit_bias: logitBias,
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
  stop,
  n: z.number().int().min(1).max(16).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).strict().nullish(),
  user: z.string().nullish(),
};

const textPart = z.object({ type: z.literal('text'), text: z.string() }).strict();
const content = z.union([z.string(), z.array(textPart)]).nullish();

const toolCall = z
  .object({
    id: z.string(),
    type: z.literal('function'),
    function: z.object({ name: z.string(), arguments: z.string() }).strict(),
  })
  .strict();

const message = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content, name: z.string().nullish() }).strict(),
  z.object({ role: z.literal('developer'), content, name: z.string().nullish() }).strict(),
  z.object({ role: z.literal('user'), content, name: z.string().nullish() }).strict(),
  z
    .object({
      role: z.literal('assistant'),
      content,
      name: z.string().nullish(),
      tool_calls: z.array(toolCall).nullish(),
      reasoning_content: z.string().nullish(),
      refusal: z.string().nullish(),
    })
    .strict(),
  z.object({ role: z.literal('tool'), content, tool_call_id: z.string() }).strict(),
]);

const tool = z
  .object({
    type: z.literal('function'),
    function: z
      .object({
        name: z.string().min(1).max(64),
        description: z.string().nullish(),
        parameters: z.record(z.string(), z.unknown()).nullish(),
        strict: z.boolean().nullish(),
      })
      .strict(),
  })
  .strict();

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }).strict() }).strict(),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).strict(),
  z.object({ type: z.literal('json_object') }).strict(),
  z
    .object({
      type: z.literal('json_schema'),
      json_schema: z
        .object({
          name: z.string(),
          description: z.string().nullish(),
          schema: z.record(z.string(), z.unknown()).nullish(),
          strict: z.boolean().nullish(),
        })
        .strict(),
    })
    .strict(),
]);

export const chatRequestSchema = z
  .object({
    ...sampling,
    messages: z.array(message).min(1),
    max_completion_tokens: z.number().int().min(1).nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
    tools: z.array(tool).max(128).nullish(),
    tool_choice: toolChoice.nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    response_format: responseFormat.nullish(),
    /** As vLLM and mlx-lm accept it: variables for the chat template (`enable_thinking`). */
    chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
    store: z.boolean().nullish(),
  })
  .strict();

export const completionRequestSchema = z
  .object({
    ...sampling,
    // 0 with `echo`: score the prompt, generate nothing (checked in completions.ts).
    max_tokens: z.number().int().min(0).nullish(),
    prompt: z.union([
      z.string(),
      z.array(z.number().int().min(0)).min(1),
      z.array(z.string()).length(1),
      z.array(z.array(z.number().int().min(0)).min(1)).length(1),
    ]),
    logprobs: z.number().int().min(0).max(5).nullish(),
    echo: z.boolean().nullish(),
    suffix: z.string().nullish(),
    best_of: z.number().int().min(1).nullish(),
  })
  .strict();

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;
export type ChatRequestMessage = ChatRequest['messages'][number];

/** Issue codes of a value that has the right type but fails a check (a length, a range, a pattern). */
const CHECK_CODES: ReadonlySet<string> = new Set(['too_small', 'too_big', 'invalid_format', 'not_multiple_of', 'unrecognized_keys']);

/**
 * The issue that says what is wrong. zod reports a record's bad key, and a value that no
 * branch of a union accepts, as one general issue holding the specific ones; where the value
 * has a branch's type and only that branch's checks fail (`stop` with 17 strings), that
 * branch's first problem is the one to name.
 */
function specificIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  let inner: z.core.$ZodIssue | undefined;
  if (issue.code === 'invalid_key') inner = issue.issues[0];
  else if (issue.code === 'invalid_union')
    inner = issue.errors.find((branch) => branch.length > 0 && branch.every((i) => CHECK_CODES.has(i.code)))?.[0];
  if (inner === undefined) return issue;
  const found = specificIssue(inner);
  return { ...found, path: [...issue.path, ...found.path] };
}

/** Parses a body with `schema`; the first problem becomes a 400 naming the field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = specificIssue(r.error.issues[0]);
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
    const key = issue.keys[0];
    throw badRequest(`Unrecognized request argument supplied: ${where}${key}`, `${where}${key}`, 'unknown_parameter');
  }
  const param = issue.path.join('.') || null;
  throw badRequest(`${param ?? 'body'}: ${issue.message}`, param, 'invalid_value');
}
