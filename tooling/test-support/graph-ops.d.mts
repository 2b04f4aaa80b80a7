/** `{ Matmul: 3, Concatenate: 1, … }` for the graph that computes `array` (nothing evaluated). */
export declare function graphOpCounts(
  internal: { native: { graphOps(handles: unknown[]): string }; handleOf(a: unknown): unknown },
  array: unknown,
): Record<string, number>;
