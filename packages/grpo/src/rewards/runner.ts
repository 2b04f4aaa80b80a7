// Calls the reward functions for one generation batch the way TRL's _calculate_rewards does:
// every function sees the prompts, the completions, their token ids and every other dataset
// column (one entry per completion), sync and async functions alike; `null` means "does not apply".

import { checkOptionKeys } from '@mlxn/core/internal';
import type { ChatMessage } from '@mlxn/io';

/** What a reward function receives. Dataset columns other than `prompt` are passed under their own names. */
export interface RewardArgs<State = unknown> {
  /** One per completion: the prompt text, or the prompt messages for a conversational dataset. */
  prompts: (string | ChatMessage[])[];
  /** One per completion: the generated text. */
  completions: string[];
  /** One per completion: the generated token ids. */
  completionIds: number[][];
  /**
   * Conversational datasets only: the prompt messages followed by the assistant reply (with
   * tools: every turn, assistant turns with their `tool_calls` and the tool results).
   */
  messages?: ChatMessage[][];
  /** The trainer's state (step, epoch, ...), for rewards that change over training. */
  trainerState: State;
  /** Records an extra scalar metric for this step (TRL's log_metric). */
  logMetric: (name: string, value: number) => void;
  /** Every other dataset column, one value per completion. */
  [column: string]: unknown;
}

/** A reward: one number (or null = not applicable) per completion. */
export type RewardFunction<State = unknown> = (
  args: RewardArgs<State>,
) => readonly (number | null | undefined)[] | Promise<readonly (number | null | undefined)[]>;

/** The names the runner itself passes; a dataset column may not use them. */
export const RESERVED_REWARD_ARGS: readonly string[] = Object.freeze([
  'prompts',
  'completions',
  'completionIds',
  'messages',
  'trainerState',
  'logMetric',
]);

export class RewardFunctionError extends Error {
  override name = 'RewardFunctionError';
  constructor(
    message: string,
    readonly rewardFunction: string,
    readonly step: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RunRewardsOptions<State = unknown> {
  rewardFuncs: readonly RewardFunction<State>[];
  /** Names for metrics and errors; default: each function's own name, else `reward_<i>`. */
  rewardFuncNames?: readonly string[];
  /** The dataset records the completions came from, one per completion (repeated per generation). */
  inputs: readonly Record<string, unknown>[];
  completions: readonly string[];
  completionIds: readonly (readonly number[])[];
  /**
   * With tools: each completion's turns as messages (assistant turns with their `tool_calls`,
   * tool results), which `messages` then holds after the prompt instead of one assistant reply.
   */
  completionMessages?: readonly (readonly ChatMessage[])[] | null;
  trainerState: State;
  /** The global step, for error messages. */
  step: number;
  /** The column holding the prompt. Default 'prompt'. */
  promptColumn?: string;
  /** Where TRL's "all reward functions returned None" warning goes. Default console.warn. */
  warn?: (message: string) => void;
  /**
   * Stops waiting for reward functions: an abort rejects at once with a `RewardFunctionError`
   * naming a function that had not settled (its promise is abandoned, not cancelled).
   */
  signal?: AbortSignal;
}

export interface RewardTable {
  names: string[];
  /** [completion][function]; null where a function does not apply. */
  rewardsPerFunc: (number | null)[][];
  /** Metrics the reward functions logged, each a list of the values logged this step. */
  loggedMetrics: Record<string, number[]>;
}

/** Metric-safe, unique names for reward functions. */
export function rewardFunctionNames(funcs: readonly RewardFunction<never>[], names?: readonly string[]): string[] {
  if (names && names.length !== funcs.length) {
    throw new RangeError(`${names.length} reward function names for ${funcs.length} reward functions`);
  }
  const out = funcs.map((f, i) => names?.[i] ?? (f.name && f.name !== 'anonymous' ? f.name : `reward_${i}`));
  const seen = new Set<string>();
  for (const n of out) {
    if (seen.has(n)) throw new RangeError(`two reward functions are named "${n}": give them distinct names (rewardFuncNames)`);
    seen.add(n);
  }
  return out;
}

const isMessages = (p: unknown): p is ChatMessage[] =>
  Array.isArray(p) && p.length > 0 && typeof p[0] === 'object' && p[0] !== null && 'role' in p[0];

/**
 * Calls every reward function on one batch of completions.
 * @example
 * const table = await runRewardFunctions({ rewardFuncs: [myReward], inputs, completions, completionIds, trainerState, step });
 */
export async function runRewardFunctions<State>(options: RunRewardsOptions<State>): Promise<RewardTable> {
  checkOptionKeys(
    options,
    [
      'rewardFuncs',
      'rewardFuncNames',
      'inputs',
      'completions',
      'completionIds',
      'completionMessages',
      'trainerState',
      'step',
      'promptColumn',
      'warn',
      'signal',
    ],
    'runRewardFunctions',
  );
  const { rewardFuncs, inputs, completions, completionIds, step } = options;
  const n = completions.length;
  if (rewardFuncs.length === 0) throw new RangeError('at least one reward function is needed');
  if (inputs.length !== n || completionIds.length !== n) {
    throw new RangeError(`${inputs.length} inputs and ${completionIds.length} completion id lists for ${n} completions`);
  }
  const names = rewardFunctionNames(rewardFuncs as readonly RewardFunction<never>[], options.rewardFuncNames);
  const promptColumn = options.promptColumn ?? 'prompt';
  const prompts = inputs.map((r, i) => {
    const p = r[promptColumn];
    if (typeof p !== 'string' && !isMessages(p)) {
      throw new TypeError(`input ${i} has no "${promptColumn}" (a string or chat messages)`);
    }
    return p;
  });

  // Every other column, one value per completion (the first record decides the columns, as in TRL).
  // Column names come from the dataset file: no prototype, so a `__proto__` column is data.
  const columns = Object.create(null) as Record<string, unknown[]>;
  for (const key of Object.keys(inputs[0] ?? {})) {
    if (key === promptColumn) continue;
    if (RESERVED_REWARD_ARGS.includes(key)) {
      throw new RangeError(`the dataset column "${key}" clashes with a reward-function argument; rename the column`);
    }
    columns[key] = inputs.map((r) => r[key]);
  }
  const conversational = isMessages(prompts[0]);
  const loggedMetrics: Record<string, number[]> = {};
  const args: RewardArgs<State> = {
    ...columns,
    prompts,
    completions: [...completions],
    completionIds: completionIds.map((ids) => [...ids]),
    trainerState: options.trainerState,
    logMetric: (name, value) => {
      if (typeof name !== 'string' || !Number.isFinite(value)) {
        throw new TypeError(`logMetric needs a name and a finite number, got ${String(name)} = ${value}`);
      }
      loggedMetrics[name] ??= [];
      loggedMetrics[name].push(value);
    },
  };
  if (conversational) {
    const turns = options.completionMessages ?? null;
    args.messages = prompts.map((p, i) => [
      ...(p as ChatMessage[]),
      ...(turns ? turns[i].map((m) => ({ ...m })) : [{ role: 'assistant', content: completions[i] }]),
    ]);
  }

  const fail = (name: string, why: string, cause?: unknown) =>
    new RewardFunctionError(`reward function "${name}" ${why} at step ${step}`, name, step, { cause });

  // Call every function first so async ones run concurrently, then collect.
  const pending = rewardFuncs.map((f) => {
    try {
      return Promise.resolve(f(args));
    } catch (e) {
      return Promise.reject(e);
    }
  });
  const settled = await settleRewards(pending, names, step, options.signal);
  const rewardsPerFunc: (number | null)[][] = Array.from({ length: n }, () => new Array<number | null>(names.length));
  settled.forEach((s, j) => {
    const name = names[j];
    if (s.status === 'rejected') {
      throw fail(name, `threw: ${s.reason instanceof Error ? s.reason.message : String(s.reason)}`, s.reason);
    }
    const out = s.value;
    if (!Array.isArray(out)) throw fail(name, `returned ${typeof out}, not an array of rewards`);
    if (out.length !== n) {
      throw fail(name, `returned ${out.length} rewards for ${n} completions (one per completion is needed)`);
    }
    out.forEach((r, i) => {
      if (r === null || r === undefined) rewardsPerFunc[i][j] = null;
      else if (typeof r === 'number' && Number.isFinite(r)) rewardsPerFunc[i][j] = r;
      else throw fail(name, `returned ${String(r)} for completion ${i} (a finite number or null is needed)`);
    });
  });
  const table = { names, rewardsPerFunc, loggedMetrics };
  const unscorable = describeUnscorable(table, inputs, completions);
  if (unscorable) (options.warn ?? console.warn)(unscorable);
  return table;
}

/**
 * `Promise.allSettled` over the reward functions' results that gives up, with an error naming a
 * function still pending, when `signal` aborts, or when the process is about to exit because
 * nothing is left that could settle it (a promise that never settles would otherwise let Node
 * exit with code 0 and no message, the training silently unfinished).
 */
function settleRewards(
  pending: readonly Promise<unknown>[],
  names: readonly string[],
  step: number,
  signal: AbortSignal | undefined,
): Promise<PromiseSettledResult<unknown>[]> {
  const results: PromiseSettledResult<unknown>[] = new Array(pending.length);
  const open = new Set(pending.map((_, j) => j));
  return new Promise((resolve, reject) => {
    let onAbort: (() => void) | null = null;
    const onBeforeExit = () => {
      const [first] = open;
      const name = names[first];
      finish(() =>
        reject(
          new RewardFunctionError(
            `reward function "${name}" returned a promise that can never settle at step ${step} (the process had nothing left to wait on and was about to exit)`,
            name,
            step,
          ),
        ),
      );
    };
    const finish = (then: () => void) => {
      process.off('beforeExit', onBeforeExit);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      then();
    };
    if (signal) {
      onAbort = () => {
        // One turn later, so the functions that had already returned are not named.
        setImmediate(() => {
          if (open.size === 0) return;
          const stuck = [...open].map((j) => names[j]);
          const which = stuck.length === 1 ? `reward function "${stuck[0]}"` : `reward functions ${stuck.map((n) => `"${n}"`).join(', ')}`;
          finish(() =>
            reject(
              new RewardFunctionError(`${which} had not settled when training was aborted at step ${step}`, stuck[0], step, {
                cause: signal.reason,
              }),
            ),
          );
        });
      };
    }
    pending.forEach((p, j) => {
      p.then(
        (value) => {
          results[j] = { status: 'fulfilled', value };
        },
        (reason: unknown) => {
          results[j] = { status: 'rejected', reason };
        },
      ).then(() => {
        open.delete(j);
        if (open.size === 0) finish(() => resolve(results));
      });
    });
    if (open.size === 0) {
      finish(() => resolve(results));
      return;
    }
    process.on('beforeExit', onBeforeExit);
    if (signal && onAbort) {
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}

/** The first completion no reward function scored, described for TRL's warning; undefined when all are scored. */
function describeUnscorable(
  table: RewardTable,
  inputs: readonly Record<string, unknown>[],
  completions: readonly string[],
): string | undefined {
  const row = table.rewardsPerFunc.findIndex((r) => r.every((v) => v === null));
  if (row === -1) return undefined;
  const shown = JSON.stringify({ ...inputs[row], completion: completions[row] });
  return `All reward functions returned null for completion ${row}: ${shown.length > 2000 ? `${shown.slice(0, 2000)}…` : shown}. Make sure at least one reward function returns a reward for every completion.`;
}
