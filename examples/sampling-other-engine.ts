// Sampling helpers from @mlxn/sampling/js on logits that come from another engine: no MLX,
// no native binary. The "engine" here is a tiny bigram table in plain JavaScript; any engine
// that hands out one row of logits per step (a WebGPU model, an ONNX session, a remote server)
// plugs in the same way.
// Run: pnpm exec tsx sampling-other-engine.ts
import { makeLogitsProcessors, makeSampler } from '@mlxn/sampling/js';

const vocab = ['<s>', 'the', 'cat', 'dog', 'sat', 'ran', 'on', 'mat', 'away', '.'];
const next: Record<string, Record<string, number>> = {
  '<s>': { the: 4 },
  the: { cat: 2, dog: 2, mat: 1.5 },
  cat: { sat: 2, ran: 1.2 },
  dog: { ran: 2, sat: 1 },
  sat: { on: 3 },
  ran: { away: 2.5, on: 1 },
  on: { the: 3 },
  mat: { '.': 3 },
  away: { '.': 3 },
  '.': { the: 1 },
};

/** The foreign engine: logits over the vocabulary for the last token. */
function engineLogits(history: number[]): Float32Array {
  const row = next[vocab[history[history.length - 1]]] ?? {};
  return Float32Array.from(vocab, (w) => row[w] ?? -4);
}

function generate(options: Parameters<typeof makeSampler>[0], steps = 12): string {
  const sample = makeSampler(options);
  const processors = makeLogitsProcessors({ repetitionPenalty: 1.3, repetitionContextSize: 6 });
  const tokens = [0];
  for (let i = 0; i < steps; i++) {
    let logits = engineLogits(tokens);
    for (const p of processors) logits = p(tokens, logits);
    const token = sample(logits) as number;
    tokens.push(token);
    if (vocab[token] === '.') break;
  }
  return tokens
    .slice(1)
    .map((t) => vocab[t])
    .join(' ');
}

console.log('greedy        :', generate({ temperature: 0 }));
console.log('top-p 0.9, T=1:', generate({ temperature: 1, topP: 0.9, seed: 7 }));
console.log('top-k 2, T=0.7:', generate({ temperature: 0.7, topK: 2, seed: 7 }));
// The same seed gives the same text: sampling is reproducible without MLX.
const seeded = { temperature: 1, topP: 0.9, seed: 7 };
const firstRun = generate(seeded);
const secondRun = generate(seeded);
console.log('reproducible  :', firstRun === secondRun);
