// Pulling a final answer out of a completion and comparing it with a gold answer.
import { checkOptionKeys } from '@mlxn/core/internal';

/** Where the final answer sits in a completion. */
export type AnswerExtraction = 'auto' | 'answer-tag' | 'boxed' | 'last-number' | 'whole' | ((completion: string) => string | null);

const NUMBER = /[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?/g;

/** The text of the last `<answer>…</answer>` block, or null. */
function answerTag(text: string): string | null {
  const all = [...text.matchAll(/<answer>([\s\S]*?)<\/answer>/g)];
  return all.length ? all[all.length - 1][1].trim() : null;
}

/** The contents of the last `\boxed{…}` (braces balanced), or null. */
function boxed(text: string): string | null {
  const start = text.lastIndexOf('\\boxed{');
  if (start === -1) return null;
  let depth = 0;
  for (let i = start + '\\boxed'.length; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(start + '\\boxed{'.length, i).trim();
  }
  return null;
}

/** The last number written in the text (thousands separators allowed), as written, or null. */
function lastNumber(text: string): string | null {
  const all = text.match(NUMBER);
  return all ? all[all.length - 1] : null;
}

/** Drops a `<think>…</think>` block so reasoning does not count as the answer. */
export function stripReasoning(text: string): string {
  const close = text.lastIndexOf('</think>');
  return close === -1 ? text : text.slice(close + '</think>'.length);
}

/** The answer a completion gives; 'auto' tries the answer tag, then \boxed, then the last number. */
export function extractAnswer(completion: string, how: AnswerExtraction = 'auto'): string | null {
  if (typeof how === 'function') return how(completion);
  const visible = stripReasoning(completion);
  switch (how) {
    case 'answer-tag':
      return answerTag(visible);
    case 'boxed':
      return boxed(visible);
    case 'last-number':
      return lastNumber(visible);
    case 'whole':
      return visible.trim();
    case 'auto':
      return answerTag(visible) ?? boxed(visible) ?? lastNumber(visible);
    default:
      throw new RangeError(`unknown answer extraction ${JSON.stringify(how)}`);
  }
}

/** A number from an answer string: "1,234", "-3.5", "$12", "50%", "3/4"; null if it is not one number. */
export function parseNumber(text: string): number | null {
  const t = text.trim().replace(/^\$/, '').replace(/%$/, '').replace(/\.$/, '').trim();
  const frac = /^([-+]?\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(t);
  if (frac) {
    const d = Number(frac[2]);
    return d === 0 ? null : Number(frac[1]) / d;
  }
  if (!/^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?$/.test(t) || !/\d/.test(t)) return null;
  const v = Number(t.replace(/,/g, ''));
  return Number.isFinite(v) ? v : null;
}

/** Case-, space- and trailing-period-insensitive form for string comparison. */
function normaliseAnswer(text: string): string {
  return text.trim().replace(/\s+/g, ' ').replace(/\.$/, '').toLowerCase();
}

/**
 * Whether `answer` matches `gold`: numerically (relative tolerance) when both parse as numbers,
 * else as normalised strings.
 */
export function answersMatch(
  answer: string,
  gold: string | number,
  options: { compare?: 'auto' | 'numeric' | 'string'; tolerance?: number } = {},
): boolean {
  checkOptionKeys(options, ['compare', 'tolerance'], 'answersMatch');
  const compare = options.compare ?? 'auto';
  const goldText = String(gold);
  if (compare !== 'string') {
    const a = parseNumber(answer);
    const g = typeof gold === 'number' ? gold : parseNumber(goldText);
    if (a !== null && g !== null) {
      const tol = options.tolerance ?? 1e-6;
      return Math.abs(a - g) <= tol * Math.max(1, Math.abs(g));
    }
    if (compare === 'numeric') return false;
  }
  return normaliseAnswer(answer) === normaliseAnswer(goldText);
}
