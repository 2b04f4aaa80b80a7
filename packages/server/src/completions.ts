/**
 * `POST /v1/completions`: a text (or token-id) prompt continued as it is, no chat template,
 * with OpenAI's legacy `logprobs` shape (`tokens`, `token_logprobs`, `top_logprobs`,
 * `text_offset`), whole or as server-sent events. `echo` puts the prompt before each choice's
 * text, and with `logprobs` also the prompt tokens' own log-probabilities (the first token's
 * are null); `max_tokens: 0` with `echo` scores the prompt without generating, as evaluation
 * harnesses ask.
 */
import type { ServerResponse } from 'node:http';
import { encodePrompt } from '@mlxn/models-qwen3';
import { badRequest } from './errors.js';
import { checkModel, type HandlerContext, newId, openEventStream, type RequestRun, sendEvent, usageOf } from './handler-shared.js';
import { completionBudget, planChoices } from './options.js';
import { promptLogprobs } from './prompt-logprobs.js';
import { completionRequestSchema, parseBody } from './requests.js';
import { runChoices } from './run.js';
import type { RowEvent } from './scheduler.js';

interface LegacyLogprobs {
  tokens: string[];
  /** null for an echoed prompt's first token, which nothing precedes. */
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null> | null;
  text_offset: number[];
}

export async function handleCompletion(ctx: HandlerContext, body: unknown, res: ServerResponse, run: RequestRun): Promise<void> {
  const r = parseBody(completionRequestSchema, body);
  checkModel(ctx, r.model);
  const echo = r.echo === true;
  if (r.max_tokens === 0 && !echo)
    throw badRequest('max_tokens 0 needs echo: true (it scores the prompt without generating)', 'max_tokens', 'invalid_value');
  if (r.suffix != null && r.suffix !== '')
    throw badRequest('suffix is not supported (Qwen3 has no fill-in-the-middle prompt)', 'suffix', 'unsupported_value');
  if (r.best_of != null && r.best_of !== (r.n ?? 1))
    throw badRequest('best_of other than n is not supported', 'best_of', 'unsupported_value');
  const prompt =
    Array.isArray(r.prompt) && (typeof r.prompt[0] === 'string' || Array.isArray(r.prompt[0]))
      ? (r.prompt[0] as string | number[])
      : (r.prompt as string | number[]);
  let tokens: number[];
  try {
    tokens = encodePrompt(ctx.model, prompt, {}, 'prompt').tokens;
  } catch (e) {
    throw badRequest((e as Error).message, 'prompt', 'invalid_value');
  }
  const maxTokens = completionBudget(r.max_tokens, tokens.length, ctx.model, ctx.limits, 'max_tokens');
  const topLogprobs = r.logprobs ?? 0;
  const wantLogprobs = r.logprobs != null;
  // max_tokens 0 (with echo): the choices only echo, nothing is generated.
  const plans = maxTokens === 0 ? [] : planChoices(ctx.model, r, maxTokens, wantLogprobs);
  const choiceCount = maxTokens === 0 ? (r.n ?? 1) : plans.length;
  const texts = Array.from({ length: choiceCount }, () => '');
  const logprobs: LegacyLogprobs[] = texts.map(() => ({
    tokens: [],
    token_logprobs: [],
    top_logprobs: topLogprobs > 0 ? [] : null,
    text_offset: [],
  }));
  const finish: Array<string | null> = texts.map(() => null);
  const id = newId('cmpl');
  const created = Math.floor(Date.now() / 1000);
  const stream = r.stream === true;
  const includeUsage = r.stream_options?.include_usage === true;
  // A stream's chunk; the whole reply too.
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    id,
    object: 'text_completion',
    created,
    model: ctx.modelId,
    system_fingerprint: ctx.fingerprint,
    choices,
    ...extra,
  });
  // Offsets count characters of the whole completion, as OpenAI's do.
  const offsets = texts.map(() => 0);

  // The echoed prompt: its text (the request's own string, or the ids decoded) and, with
  // `logprobs`, its entries, offsets counted from the start of the echo.
  let echoText = '';
  let echoLogprobs: LegacyLogprobs | null = null;
  if (echo) {
    echoText = typeof prompt === 'string' ? prompt : tokens.map((t) => ctx.tokenTexts.get(t).token).join('');
    if (wantLogprobs) {
      const scored = await promptLogprobs(ctx.model, tokens, topLogprobs, run.signal);
      if (run.signal.aborted) return;
      const pieces = tokens.map((t) => ctx.tokenTexts.get(t).token);
      const starts: number[] = [];
      let at = 0;
      for (const piece of pieces) {
        starts.push(at);
        at += piece.length;
      }
      const topOf = (pairs: Array<[number, number]>) => Object.fromEntries(pairs.map(([tid, v]) => [ctx.tokenTexts.get(tid).token, v]));
      echoLogprobs = {
        tokens: pieces,
        token_logprobs: [null, ...scored.logprobs],
        top_logprobs: scored.top === null ? null : [null, ...scored.top.map(topOf)],
        text_offset: starts,
      };
      offsets.fill(echoText.length);
    }
    texts.fill(echoText);
    logprobs.forEach((lp) => {
      if (echoLogprobs === null) return;
      lp.tokens.push(...echoLogprobs.tokens);
      lp.token_logprobs.push(...echoLogprobs.token_logprobs);
      lp.top_logprobs?.push(...(echoLogprobs.top_logprobs ?? []));
      lp.text_offset.push(...echoLogprobs.text_offset);
    });
  }

  if (stream) openEventStream(res, ctx);
  if (stream && echo) {
    for (let i = 0; i < texts.length; i++) {
      sendEvent(res, chunk([{ index: i, text: echoText, logprobs: echoLogprobs, finish_reason: maxTokens === 0 ? 'length' : null }]));
    }
  }
  const onEvent = (i: number, e: RowEvent) => {
    if (e.type === 'error') return;
    let lp: LegacyLogprobs | null = null;
    if (e.type === 'token' && wantLogprobs) {
      const t = ctx.tokenTexts.get(e.token);
      lp = { tokens: [t.token], token_logprobs: [e.logprob ?? 0], top_logprobs: null, text_offset: [offsets[i]] };
      if (topLogprobs > 0) lp.top_logprobs = [Object.fromEntries((e.top ?? []).map(([tid, v]) => [ctx.tokenTexts.get(tid).token, v]))];
      offsets[i] += t.token.length;
      const all = logprobs[i];
      all.tokens.push(...lp.tokens);
      all.token_logprobs.push(...lp.token_logprobs);
      all.top_logprobs?.push(...(lp.top_logprobs ?? []));
      all.text_offset.push(...lp.text_offset);
    }
    if (e.type === 'done') finish[i] = e.finishReason === 'abort' ? 'stop' : e.finishReason;
    texts[i] += e.text;
    if (stream && (e.text !== '' || lp !== null || finish[i] !== null))
      sendEvent(res, chunk([{ index: i, text: e.text, logprobs: lp, finish_reason: finish[i] }]));
  };
  if (maxTokens === 0) {
    run.stats.promptTokens = tokens.length;
    finish.fill('length');
  } else {
    await runChoices(
      ctx.scheduler,
      { prompt: tokens, plans, topLogprobs, signal: run.signal, startedAt: run.startedAt, onEvent },
      run.stats,
    );
  }
  run.finishReasons = finish.map((f) => f ?? 'stop');
  if (run.signal.aborted) return;
  const usage = usageOf(run.stats);
  if (stream) {
    if (includeUsage) sendEvent(res, chunk([], { usage }));
    return;
  }
  const choices = texts.map((text, i) => ({ index: i, text, logprobs: wantLogprobs ? logprobs[i] : null, finish_reason: finish[i] }));
  ctx.sendJson(res, 200, chunk(choices, { usage }));
}
