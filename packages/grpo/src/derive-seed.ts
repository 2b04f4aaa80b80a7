/**
 * The seed derivation every random draw of a run goes through: the trainers seed each micro-step
 * and generation from `(seed, counter)`, and LoRA initialisation from the config's seed, so a
 * resumed run (or another process of a job) draws what the uninterrupted one would have.
 */

/** A 32-bit seed from a base seed and a counter (splitmix-style mixing; deterministic). */
export function deriveSeed(seed: number, counter: number): number {
  let z = (Math.imul(seed ^ 0x2545f491, 0x9e3779b1) + Math.imul(counter + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
