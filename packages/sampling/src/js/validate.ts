/** Checks for what user-supplied logits processors and samplers return on the plain-JS path. */
import { checkTokenId } from '../token-ids.js';
import { type Logits, rowsOf } from './rows.js';

/** A logits processor must return logits in the form and length it was given. */
export function checkProcessedLogits(input: Logits, output: unknown, what = 'logits processor'): Float32Array | Float32Array[] {
  const rows = rowsOf(input, what);
  const single = input instanceof Float32Array;
  if (single ? !(output instanceof Float32Array) : !Array.isArray(output) || !output.every((r) => r instanceof Float32Array)) {
    throw new TypeError(`${what} must return ${single ? 'a Float32Array' : 'a list of Float32Arrays'}, like the logits it was given`);
  }
  const out = single ? [output as Float32Array] : (output as Float32Array[]);
  if (out.length !== rows.length) throw new RangeError(`${what} returned ${out.length} rows for ${rows.length}`);
  for (const r of out) {
    if (r.length !== rows[0].length)
      throw new RangeError(`${what} returned a row of ${r.length} logits for a vocabulary of ${rows[0].length}`);
  }
  return output as Float32Array | Float32Array[];
}

/** A sampler must return one token id in [0, V) per row (a number for a single row). */
export function checkSampledTokens(input: Logits, tokens: unknown, what = 'sampler'): number | number[] {
  const rows = rowsOf(input, what);
  const vocab = rows[0].length;
  if (input instanceof Float32Array) return checkTokenId(tokens, vocab, what);
  if (!Array.isArray(tokens) || tokens.length !== rows.length) {
    throw new RangeError(
      `${what} must return one token id per row (${rows.length}), got ${Array.isArray(tokens) ? `${tokens.length}` : typeof tokens}`,
    );
  }
  for (const t of tokens) checkTokenId(t, vocab, what);
  return tokens as number[];
}
