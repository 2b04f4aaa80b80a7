// Prints the greedy tokens and log-probabilities of generate and batchGenerate on the tiny
// model, for eval-thread.test.ts to compare with and without the evaluation thread.
import '../src/methods.js';
import { tinyQwen3 } from './generate-helpers.js';

const model = tinyQwen3(3);
const single = await model.generate('Once upon a time', { maxTokens: 24, logprobs: true });
const batch = await model.batchGenerate(['Hello', 'The quick brown fox', 'A'], { maxTokens: 12, logprobs: true, maxBatchSize: 2 });
console.log(JSON.stringify({ single: [single.tokens, single.logprobs], batch: batch.map((r) => [r.tokens, r.logprobs]) }));
