// The scheduler decodes one step ahead: step n+1 is built from step n's lazy tokens before step n
// is read, unless a constrained row needs step n's token for its next mask. These tests pin both
// halves: that the look-ahead really happens (and stops for constraints), and that what a row's
// processors see is still its exact history.
import * as mx from '@mlxn/core';
import { useEvalThread } from '@mlxn/core/internal';
import { resolveGenerateOptions, type TokenMaskHook } from '@mlxn/models-qwen3';
import type { LogitsProcessor } from '@mlxn/sampling';
import { describe, expect, it } from 'vitest';
import { type RowEvent, Scheduler } from '../src/index.js';
import { tinyModel } from './helpers.js';

const model = tinyModel();
const vocab = model.config.vocabSize;
const encode = (text: string) => model.tokenizer!.encode(text, { addSpecialTokens: false });

/** Forces the next token to a function of the whole history: any token missing from it changes the output. */
const historyHash: LogitsProcessor = (tokens, logits) => {
  const history = tokens instanceof mx.Array ? tokens : mx.array([...tokens], 'int32');
  const pick = mx.remainder(mx.add(mx.multiply(mx.sum(history), 31), history.shape[0]), vocab);
  return mx.add(logits, mx.multiply(mx.equal(mx.arange(vocab), pick), 1e4));
};

/** Runs rows on one scheduler at once; each row's tokens in order. */
async function runRows(
  rows: Array<{ prompt: number[]; options: Record<string, unknown>; hook?: TokenMaskHook; onToken?: () => void }>,
): Promise<number[][]> {
  const scheduler = new Scheduler(model, { prefixCache: false });
  const tokens = rows.map(() => [] as number[]);
  try {
    await Promise.all(
      rows.map(
        (row, i) =>
          new Promise<void>((resolve, reject) => {
            const plan = resolveGenerateOptions(row.options, vocab, 'test');
            if (row.hook) plan.tokenMask = row.hook;
            const onEvent = (e: RowEvent) => {
              if (e.type === 'token') {
                tokens[i].push(e.token);
                row.onToken?.();
              } else if (e.type === 'error') reject(e.error);
              else resolve();
            };
            scheduler.submit([{ prompt: row.prompt, plan, topLogprobs: 0, onEvent }]);
          }),
      ),
    );
  } finally {
    await scheduler.close();
  }
  return tokens;
}

describe('decoding one step ahead', () => {
  it("gives each row's processors its exact history, as generate does", async () => {
    const prompts = ['The sea is', 'Once upon a time', 'Numbers: 1 2 3'].map(encode);
    const options = { maxTokens: 12, logitsProcessors: [historyHash] };
    const together = await runRows(prompts.map((prompt) => ({ prompt, options })));
    for (const [i, prompt] of prompts.entries()) {
      const solo = await model.generate(prompt, options);
      expect(together[i]).toEqual(solo.tokens);
    }
  });

  it('builds step n+1 before reading step n, and not while a row is constrained', async () => {
    const prompt = encode('Hello there');
    // For each step built: how many tokens the row had received by then.
    const seenAtBuild = { free: [] as number[], constrained: [] as number[] };
    const received = { free: 0, constrained: 0 };
    const recorder =
      (kind: 'free' | 'constrained'): LogitsProcessor =>
      (_history, logits) => {
        seenAtBuild[kind].push(received[kind]);
        return logits;
      };
    await runRows([{ prompt, options: { maxTokens: 6, logitsProcessors: [recorder('free')] }, onToken: () => received.free++ }]);
    // Step 1 (the prompt's last token) and step 2 are both built before token 1 arrives.
    expect(seenAtBuild.free).toEqual([0, 0, 1, 2, 3, 4, 5]);

    const hook: TokenMaskHook = { mask: () => null, accept: () => {}, dispose: () => {} };
    await runRows([
      { prompt, options: { maxTokens: 6, logitsProcessors: [recorder('constrained')] }, hook, onToken: () => received.constrained++ },
    ]);
    expect(seenAtBuild.constrained).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('lets a row join behind the step in flight: the running row stays one step ahead, and both get their exact histories', async () => {
    const scheduler = new Scheduler(model, { prefixCache: false });
    const seenAtBuild: number[] = [];
    let received = 0;
    const recorder: LogitsProcessor = (history, logits) => {
      seenAtBuild.push(received);
      return historyHash(history, logits);
    };
    const [first, second] = [encode('The sea is'), encode('Once upon a time there was')];
    const options = { maxTokens: 10, logitsProcessors: [historyHash] };
    const tokens: number[][] = [[], []];
    try {
      await new Promise<void>((resolve, reject) => {
        let done = 0;
        const submit = (i: number, prompt: number[], opts: Record<string, unknown>) => {
          const plan = resolveGenerateOptions(opts, vocab, 'test');
          scheduler.submit([
            {
              prompt,
              plan,
              topLogprobs: 0,
              onEvent: (e: RowEvent) => {
                if (e.type === 'error') return reject(e.error);
                if (e.type === 'done') return ++done === 2 ? resolve() : undefined;
                tokens[i].push(e.token);
                if (i === 0 && ++received === 3) submit(1, second, options);
              },
            },
          ]);
        };
        submit(0, first, { maxTokens: 10, logitsProcessors: [recorder] });
      });
    } finally {
      await scheduler.close();
    }
    // Every step of the first row was built before its previous token was read, the steps
    // around the second row's join included.
    expect(seenAtBuild).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(tokens[0]).toEqual((await model.generate(first, options)).tokens);
    expect(tokens[1]).toEqual((await model.generate(second, options)).tokens);
  });

  it('queues joining prompts behind the step in flight on the evaluation thread (not awaited), with the same tokens', async () => {
    // On a GPU the evaluation thread is the default; here it is asked for, so that the scheduler
    // takes the path where a prefill is queued and the next step is built on its lazy caches.
    const saved = process.env.MLXN_EVAL_THREAD;
    process.env.MLXN_EVAL_THREAD = '1';
    try {
      expect(useEvalThread()).toBe(true);
      const scheduler = new Scheduler(model, { prefixCache: false });
      const prompts = [encode('The sea is'), encode('Once upon a time there was a small village by the river'), encode('Numbers: 1 2 3')];
      const options = { maxTokens: 8, logitsProcessors: [historyHash] };
      const tokens: number[][] = prompts.map(() => []);
      try {
        await new Promise<void>((resolve, reject) => {
          let done = 0;
          const submit = (i: number) => {
            scheduler.submit([
              {
                prompt: prompts[i],
                plan: resolveGenerateOptions(options, vocab, 'test'),
                topLogprobs: 0,
                onEvent: (e: RowEvent) => {
                  if (e.type === 'error') return reject(e.error);
                  if (e.type === 'done') return ++done === prompts.length ? resolve() : undefined;
                  tokens[i].push(e.token);
                  // Rows join while others decode: their prefills (of different lengths, so
                  // left-padded against the running rows) queue behind the steps in flight.
                  if (i === 0 && tokens[0].length === 2) submit(1);
                  if (i === 1 && tokens[1].length === 1) submit(2);
                },
              },
            ]);
          };
          submit(0);
        });
      } finally {
        await scheduler.close();
      }
      for (const [i, prompt] of prompts.entries()) expect(tokens[i]).toEqual((await model.generate(prompt, options)).tokens);
    } finally {
      if (saved === undefined) delete process.env.MLXN_EVAL_THREAD;
      else process.env.MLXN_EVAL_THREAD = saved;
    }
  });
});
