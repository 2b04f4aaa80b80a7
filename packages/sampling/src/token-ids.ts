/**
 * Checks of what custom samplers return, shared by both entry points (plain JS: no
 * `@mlxn/core` import). Generation loops call them once per step on numbers they already hold.
 */

/**
 * A sampled token id as the host sees it: an integer in [0, vocabSize). A custom sampler
 * returning anything else would otherwise surface later as an out-of-bounds gather.
 *
 * @example
 * const id = checkTokenId(tokens[0], model.vocabSize, 'Qwen3.stream: sampler');
 */
export function checkTokenId(id: unknown, vocabSize: number, what = 'sampler'): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new RangeError(`${what} returned token id ${String(id)}, outside the vocabulary [0, ${vocabSize})`);
  }
  return id;
}
