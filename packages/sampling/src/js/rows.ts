/** Logits in the plain-JS path: one row (`Float32Array`) or a batch of rows of equal length. */
export type Logits = Float32Array | readonly Float32Array[];

export function rowsOf(x: Logits, what: string): Float32Array[] {
  const rows = x instanceof Float32Array ? [x] : Array.isArray(x) ? [...x] : null;
  if (rows === null || rows.length === 0 || !rows.every((r) => r instanceof Float32Array)) {
    throw new TypeError(`${what}: logits must be a Float32Array or a non-empty list of Float32Arrays`);
  }
  const v = rows[0].length;
  if (v === 0) throw new RangeError(`${what}: logits rows must not be empty`);
  for (const r of rows) {
    if (r.length !== v) throw new RangeError(`${what}: every row must have the same length (${v}), got ${r.length}`);
  }
  return rows;
}

/** Returns results in the caller's form: one row in, one row out. */
export function sameForm<T>(x: Logits, rows: T[]): T | T[] {
  return x instanceof Float32Array ? rows[0] : rows;
}

/** The error for a NaN or +Infinity log-probability (no distribution to sample from). */
export function nonFiniteError(what: string, index: number, value: number): RangeError {
  return new RangeError(`${what}: log-probabilities must not be ${Number.isNaN(value) ? 'NaN' : '+Infinity'} (index ${index})`);
}
