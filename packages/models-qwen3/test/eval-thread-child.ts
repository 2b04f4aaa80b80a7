// Prints the greedy tokens and log-probabilities of generate and batchGenerate on the tiny
// model, for eval-thread.test.ts to compare with and without the evaluation thread.
import { tinyQwen3 } from './generate-helpers.js';

const model = tinyQwen3(3);
const single = await model.generate('Once upon a time', { maxTokens: 24, logprobs: true });
const batch = await model.batchGenerate(['Hello', 'The quick brown fox', 'A'], { maxTokens: 12, logprobs: true, maxBatchSize: 2 });
// Rows of different lengths leave the batch at different steps while the others go on.
const ragged = await model.batchGenerate(
  [
    { prompt: 'Hello', maxTokens: 3 },
    { prompt: 'The quick brown fox', maxTokens: 9 },
    { prompt: 'A', maxTokens: 5 },
    { prompt: 'Once', maxTokens: 14 },
  ],
  { logprobs: true, maxBatchSize: 3 },
);
console.log(
  JSON.stringify({
    single: [single.tokens, single.logprobs],
    batch: batch.map((r) => [r.tokens, r.logprobs]),
    ragged: ragged.map((r) => [r.tokens, r.logprobs]),
  }),
);
