// Built-in reward functions. Each factory returns a named RewardFunction (the name is the
// metric key, `rewards/<name>/mean`).
import { checkOptionKeys } from '@mlxn/core/internal';
import { type AnswerExtraction, answersMatch, extractAnswer, stripReasoning } from './answers.js';
import { compileJsonSchema, type JsonSchema } from './jsonSchema.js';
import type { RewardArgs, RewardFunction } from './runner.js';
import { findToolCalls, type ToolSpec, toolValidator } from './toolCalls.js';

function named<F extends RewardFunction>(name: string, f: F): F {
  Object.defineProperty(f, 'name', { value: name });
  return f;
}

export interface AccuracyRewardOptions {
  /** The dataset column with the gold answer. Default 'answer'. */
  answerField?: string;
  /** Where the completion's answer is. Default 'auto' (answer tag, then \boxed, then the last number). */
  extract?: AnswerExtraction;
  /** 'auto' (default): numeric when both sides parse as numbers, else normalised strings. */
  compare?: 'auto' | 'numeric' | 'string';
  /** Relative tolerance for numeric answers. Default 1e-6. */
  tolerance?: number;
  name?: string;
}

/**
 * 1 when the completion's answer equals the gold answer, else 0; null for rows without a gold
 * answer (not applicable, as TRL's accuracy reward does when the gold cannot be parsed).
 * @example const acc = accuracyReward({ answerField: 'answer' });
 */
export function accuracyReward(options: AccuracyRewardOptions = {}): RewardFunction {
  checkOptionKeys(options, ['answerField', 'extract', 'compare', 'tolerance', 'name'], 'accuracyReward');
  const field = options.answerField ?? 'answer';
  return named(options.name ?? 'accuracy', (args: RewardArgs) => {
    const gold = args[field];
    if (!Array.isArray(gold)) throw new TypeError(`accuracy reward: the dataset has no "${field}" column`);
    return args.completions.map((c, i) => {
      const g = gold[i];
      if (g === null || g === undefined || (typeof g === 'string' && g.trim() === '')) return null;
      if (typeof g !== 'string' && typeof g !== 'number')
        throw new TypeError(`accuracy reward: "${field}" must be a string or number, got ${typeof g}`);
      const answer = extractAnswer(c, options.extract ?? 'auto');
      return answer !== null && answersMatch(answer, g, { compare: options.compare, tolerance: options.tolerance }) ? 1 : 0;
    });
  });
}

export interface FormatRewardOptions {
  /** Require one `<think>…</think>` block first. Default true. */
  think?: boolean;
  /** Require one `<answer>…</answer>` block, ending the completion. Default true. */
  answer?: boolean;
  /** The prompt already opened `<think>` (Qwen3 thinking mode), so the completion starts inside it. Default false. */
  startInReasoning?: boolean;
  name?: string;
}

const count = (text: string, tag: string) => text.split(tag).length - 1;

/**
 * 1 when the completion has the think/answer layout (`<think>…</think>` then `<answer>…</answer>`
 * and nothing after), else 0.
 * @example const fmt = formatReward(); // '<think>2+2</think><answer>4</answer>' → 1
 */
export function formatReward(options: FormatRewardOptions = {}): RewardFunction {
  checkOptionKeys(options, ['think', 'answer', 'startInReasoning', 'name'], 'formatReward');
  const think = options.think ?? true;
  const answer = options.answer ?? true;
  if (!think && !answer) throw new RangeError('formatReward: at least one of think and answer must be required');
  const start = options.startInReasoning ?? false;
  const thinkPart = think ? (start ? '[\\s\\S]*?</think>' : '\\s*<think>[\\s\\S]*?</think>') : '';
  const answerPart = answer ? '\\s*<answer>[\\s\\S]*?</answer>\\s*$' : '';
  const layout = new RegExp(`^${thinkPart}${answerPart}`);
  return named(options.name ?? 'format', (args: RewardArgs) =>
    args.completions.map((c) => {
      if (think && (count(c, '<think>') !== (start ? 0 : 1) || count(c, '</think>') !== 1)) return 0;
      if (answer && (count(c, '<answer>') !== 1 || count(c, '</answer>') !== 1)) return 0;
      return layout.test(c) ? 1 : 0;
    }),
  );
}

export interface LengthRewardOptions {
  /** The generation limit (the trainer's maxCompletionLength). */
  maxCompletionLength: number;
  /** The last this many tokens before the limit are penalised linearly. */
  softPunishCache: number;
  name?: string;
}

/**
 * TRL's soft overlong punishment (DAPO): 0 up to `maxCompletionLength − softPunishCache` tokens,
 * then falling linearly to −1 at the limit, −1 beyond it.
 * @example const len = lengthReward({ maxCompletionLength: 256, softPunishCache: 64 });
 */
export function lengthReward(options: LengthRewardOptions): RewardFunction {
  checkOptionKeys(options, ['maxCompletionLength', 'softPunishCache', 'name'], 'lengthReward');
  const { maxCompletionLength: max, softPunishCache: cache } = options;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`lengthReward: maxCompletionLength must be a positive integer, got ${max}`);
  if (!Number.isInteger(cache) || cache < 1 || cache > max) {
    throw new RangeError(`lengthReward: softPunishCache must be an integer in [1, maxCompletionLength], got ${cache}`);
  }
  return named(options.name ?? 'length', (args: RewardArgs) =>
    args.completionIds.map((ids) => {
      const n = ids.length;
      if (n <= max - cache) return 0;
      if (n <= max) return (max - cache - n) / cache;
      return -1;
    }),
  );
}

export interface ToolCallRewardOptions {
  /** Known tools: names, or definitions with a JSON-schema `parameters` (OpenAI style accepted). Default: any name. */
  tools?: readonly ToolSpec[];
  /** Score a completion without any `<tool_call>` 0 (true, default) or null = not applicable (false). */
  requireCall?: boolean;
  /** The prompt already opened `<think>`. Default false. */
  startInReasoning?: boolean;
  name?: string;
}

/**
 * 1 when the completion's Qwen3 `<tool_call>` blocks are all well-formed JSON calls of known tools
 * whose arguments satisfy the tool's parameter schema, else 0.
 * @example const tools = toolCallReward({ tools: [{ name: 'add', parameters: { type: 'object', required: ['a', 'b'] } }] });
 */
export function toolCallReward(options: ToolCallRewardOptions = {}): RewardFunction {
  checkOptionKeys(options, ['tools', 'requireCall', 'startInReasoning', 'name'], 'toolCallReward');
  const check = toolValidator(options.tools);
  const requireCall = options.requireCall ?? true;
  return named(options.name ?? 'tool_call', (args: RewardArgs) =>
    args.completions.map((c) => {
      const { calls, invalid } = findToolCalls(c, options.startInReasoning ?? false);
      if (calls.length === 0 && invalid.length === 0) return requireCall ? 0 : null;
      if (invalid.length > 0) return 0;
      return calls.every((call) => check(call).length === 0) ? 1 : 0;
    }),
  );
}

export interface JsonSchemaRewardOptions {
  schema: JsonSchema;
  /**
   * Where the JSON is: 'auto' (default: an `<answer>` block, else the last fenced code block, else
   * the whole text after any reasoning), 'whole', 'code-block', 'answer-tag', or a function.
   */
  extract?: 'auto' | 'whole' | 'code-block' | 'answer-tag' | ((completion: string) => string | null);
  name?: string;
}

function lastCodeBlock(text: string): string | null {
  const all = [...text.matchAll(/```[a-zA-Z0-9_-]*\s*\n?([\s\S]*?)```/g)];
  return all.length ? all[all.length - 1][1] : null;
}

function jsonText(completion: string, how: JsonSchemaRewardOptions['extract']): string | null {
  if (typeof how === 'function') return how(completion);
  const visible = stripReasoning(completion);
  const tag = () => {
    const m = [...visible.matchAll(/<answer>([\s\S]*?)<\/answer>/g)];
    return m.length ? m[m.length - 1][1] : null;
  };
  switch (how ?? 'auto') {
    case 'whole':
      return visible;
    case 'code-block':
      return lastCodeBlock(visible);
    case 'answer-tag':
      return tag();
    case 'auto': {
      const t = tag();
      return t !== null ? (lastCodeBlock(t) ?? t) : (lastCodeBlock(visible) ?? visible);
    }
    default:
      throw new RangeError(`jsonSchemaReward: unknown extract ${JSON.stringify(how)}`);
  }
}

/**
 * 1 when the completion holds JSON that satisfies `schema` (JSON Schema 2020-12, or the draft
 * its `$schema` names), else 0. The schema is compiled when the reward is built; one that is not
 * valid, or uses a keyword no draft defines, throws a JsonSchemaError then.
 * @example const valid = jsonSchemaReward({ schema: { type: 'object', required: ['city'] } });
 */
export function jsonSchemaReward(options: JsonSchemaRewardOptions): RewardFunction {
  checkOptionKeys(options, ['schema', 'extract', 'name'], 'jsonSchemaReward');
  const validate = compileJsonSchema(options.schema);
  return named(options.name ?? 'json_schema', (args: RewardArgs) =>
    args.completions.map((c) => {
      const text = jsonText(c, options.extract);
      if (text === null) return 0;
      let value: unknown;
      try {
        value = JSON.parse(text.trim());
      } catch {
        return 0;
      }
      return validate(value).length === 0 ? 1 : 0;
    }),
  );
}
