// Primitive counts of an unevaluated graph, from the binary's `graphOps` (one "name\tcount" line
// per MLX primitive): tests pin how many matmuls or concatenations a graph holds. `internal` is
// the `@mlxn/core/internal` module, passed in so this file needs no build of its own.

/** `{ Matmul: 3, Concatenate: 1, … }` for the graph that computes `array` (nothing evaluated). */
export function graphOpCounts(internal, array) {
  const out = Object.create(null);
  for (const line of internal.native.graphOps([internal.handleOf(array)]).split('\n')) {
    if (!line) continue;
    const [name, n] = line.split('\t');
    out[name] = Number(n);
  }
  return out;
}
