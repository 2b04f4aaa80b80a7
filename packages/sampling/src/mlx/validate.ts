/**
 * Checks for the per-step results of user-supplied logits processors and samplers on MLX
 * arrays. They read array metadata only (shape, dtype), never the data, so they add no device
 * synchronisation to a decoding step; the token ids themselves are checked with `checkTokenId`
 * once the loop has them on the host.
 */
import * as mx from '@mlxn/core';

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** A logits processor must return floating-point logits of the shape it was given. */
export function checkProcessedLogits(input: mx.Array, output: unknown, what = 'logits processor'): mx.Array {
  if (!(output instanceof mx.Array))
    throw new TypeError(`${what} must return an mx.Array of logits, got ${output === null ? 'null' : typeof output}`);
  const a = input.shape;
  const b = output.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new RangeError(`${what} returned logits of shape ${shapeText(b)} for logits of shape ${shapeText(a)}`);
  }
  if (!mx.isFloating(output.dtype)) throw new TypeError(`${what} returned logits of dtype ${output.dtype}, not floating point`);
  return output;
}

/**
 * A sampler must return integer token ids, one per row: shape `[B]` for `[B, V]`
 * log-probabilities (a scalar for `[V]`).
 */
export function checkSampledTokens(logprobs: mx.Array, tokens: unknown, what = 'sampler'): mx.Array {
  if (!(tokens instanceof mx.Array))
    throw new TypeError(`${what} must return an mx.Array of token ids, got ${tokens === null ? 'null' : typeof tokens}`);
  const want = logprobs.shape.slice(0, -1);
  const got = tokens.shape;
  if (want.length !== got.length || want.some((d, i) => d !== got[i])) {
    throw new RangeError(
      `${what} returned token ids of shape ${shapeText(got)} for log-probabilities of shape ${shapeText(logprobs.shape)} (expected ${shapeText(want)})`,
    );
  }
  if (!mx.isInteger(tokens.dtype)) throw new TypeError(`${what} returned token ids of dtype ${tokens.dtype}, not an integer type`);
  return tokens;
}
