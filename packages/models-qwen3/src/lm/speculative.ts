/**
 * Speculative decoding for one sequence, following mlx-lm's `speculative_generate_step`
 * (generate.py): each round a draft model proposes up to `plan.numDraftTokens` tokens one at a
 * time, the model scores the token it has yet to see and every proposal in one forward pass, and
 * its own samples decide: the proposals it sampled itself are kept, up to the first it did not,
 * and its own token follows. Rejected proposals are trimmed from both caches.
 *
 * Every position is sampled from the model's logits with the request's processors and sampler,
 * so the tokens follow the model alone (greedy: the tokens of a run without a draft, up to rounding
 * where the top two logits nearly tie); the draft only decides how many tokens a forward pass of
 * the model yields. A round's graph (draft steps and verification) is built at once, the draft's
 * tokens are queued for evaluation as they are built, and the round is read back in one call.
 */

import { type Cache, KVCache, trimPromptCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { readNumbers, scheduleEval, settleEvalThread, useEvalThread } from '@mlxn/core/internal';
import { checkTokenId } from '@mlxn/sampling';
import { prefillAllButLast, prefillPrompt, promptDone, type StepOutput, type StepRecord, sampleLogits } from './generate.js';
import type { DraftModel, GenerationModel } from './model-interface.js';
import type { GenerationPlan } from './options.js';

/** What `generateStep` hands over to the speculative loop: its arguments and the plan's draft model. */
interface SpeculativeRun {
  model: GenerationModel;
  draft: DraftModel;
  prompt: readonly number[];
  cache: Cache[];
  plan: GenerationPlan;
  context: readonly number[];
  record: StepRecord;
}

/** The token loop of `generateStep` when `plan.draftModel` is set (the prompt is checked there). */
export async function* speculativeSteps(run: SpeculativeRun): AsyncGenerator<StepOutput, void, undefined> {
  const { model, draft, prompt, cache, plan, context, record } = run;
  const { what } = plan;
  const vocabSize = model.config.vocabSize;
  const keys = plan.seed !== undefined ? new mx.random.KeySequence(plan.seed) : undefined;
  const draw = <T>(f: () => T): T => (keys === undefined ? f() : keys.run(f));
  const threaded = useEvalThread();
  // The whole sequence so far: what the caches hold and the tokens they have yet to be fed.
  const seq = [...context, ...prompt];
  const draftCache = draft.makeCache();
  const end = seq.length + plan.maxTokens;
  for (const c of draftCache) if (c instanceof KVCache && end <= 2 ** 30) c.reserve(end);
  // Tokens of the last round that the main cache holds but the caller was not given yet: trimmed
  // if the caller stops there, so the cache ends as a run without a draft leaves it.
  let undelivered = 0;
  try {
    // The draft has no cache to reuse: it reads the whole sequence.
    if (!(await prefillPrompt(model, prompt, cache, plan, record)) || !(await prefillAllButLast(draft, seq, draftCache, plan))) return;
    // What each model is fed next: the main model one token, the draft one or two (the last
    // proposal of a round it was right about has not gone through it yet).
    let mainNext = seq[seq.length - 1];
    let draftNext = [mainNext];
    let produced = 0;
    for (let round = 0; ; round++) {
      // The model's pass yields up to k + 1 tokens: k proposals are enough to reach maxTokens.
      const k = Math.min(plan.numDraftTokens, plan.maxTokens - produced - 1);
      const history = (extra: readonly mx.Array[]): mx.Array | null =>
        plan.processors.length === 0 ? null : mx.concatenate([mx.array(seq, 'int32'), ...extra]);
      const [tokens, logprobs] = mx.tidy(() => {
        const proposals: mx.Array[] = [];
        let input = mx.array([draftNext], 'int32');
        for (let i = 0; i < k; i++) {
          const logits = mx.index(draft.forward(input, { cache: draftCache }), mx.sl(), -1, mx.sl());
          const [y] = draw(() => sampleLogits(logits, history(proposals), plan, false));
          const proposal = mx.reshape(mx.astype(y, 'int32'), [1]);
          scheduleEval([proposal], threaded);
          proposals.push(proposal);
          input = mx.reshape(proposal, [1, 1]);
        }
        const fed = mx.reshape(mx.concatenate([mx.array([mainNext], 'int32'), ...proposals]), [1, k + 1]);
        const logits = model.forward(fed, { cache });
        const picks: mx.Array[] = [];
        const lps: mx.Array[] = [];
        for (let j = 0; j <= k; j++) {
          const at = mx.index(logits, mx.sl(), j, mx.sl());
          const [y, lp] = draw(() => sampleLogits(at, history(proposals.slice(0, j)), plan, plan.logprobs));
          picks.push(mx.reshape(mx.astype(y, 'int32'), [1]));
          if (lp !== null) lps.push(lp);
        }
        return [mx.concatenate([...picks, ...proposals]), lps.length > 0 ? mx.concatenate(lps) : null] as const;
      });
      let values: Float64Array;
      try {
        values = readNumbers([tokens, logprobs], threaded);
      } finally {
        tokens.dispose();
        logprobs?.dispose();
      }
      if (round === 0) promptDone(plan, record, prompt.length);
      const own = Array.from(values.subarray(0, k + 1), (v) => checkTokenId(v, vocabSize, `${what}: sampler`));
      const proposed = values.subarray(k + 1, 2 * k + 1);
      const lps = logprobs === null ? null : values.subarray(2 * k + 1);
      let accepted = 0;
      while (accepted < k && own[accepted] === proposed[accepted]) accepted++;
      // The main cache took the fed token and k proposals: it keeps the accepted ones. The draft
      // took its inputs and k - 1 proposals: it keeps the accepted ones it has seen.
      trimPromptCache(cache, k - accepted);
      trimPromptCache(draftCache, Math.max(k - accepted - 1, 0));
      record.fed.push(mainNext, ...own.slice(0, accepted));
      draftNext = k === 0 ? [...draftNext, own[0]] : accepted === k ? [own[k - 1], own[k]] : [own[accepted]];
      mainNext = own[accepted];
      for (let j = 0; j <= accepted; j++) {
        undelivered = accepted - j;
        seq.push(own[j]);
        produced++;
        const out: StepOutput = { token: own[j], fromDraft: j < accepted };
        if (lps !== null) out.logprob = lps[j];
        yield out;
      }
      if (produced >= plan.maxTokens || plan.signal?.aborted) return;
      await new Promise((resolve) => setImmediate(resolve));
      if (plan.signal?.aborted) return;
    }
  } finally {
    if (undelivered > 0) {
      trimPromptCache(cache, undelivered);
      record.fed.length -= undelivered;
    }
    settleEvalThread();
    for (const c of draftCache) c.dispose();
  }
}
