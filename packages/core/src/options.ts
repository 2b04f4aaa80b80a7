/**
 * Unknown option keys are errors (a typo such as `keepDims` would otherwise be ignored and the
 * op would run with its defaults). A loop over the object's own keys: cheap enough for per-op
 * paths, where schema parsing would not be. (`@mlxn/sampling/js` keeps a copy: it must not
 * load the native binary that this package brings.)
 */

/** Levenshtein distance (for did-you-mean messages; the CLIs share it through `@mlxn/core/internal`). */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The key a mistyped one most likely meant: same letters ignoring case and `_`/`-`, else within two edits. */
function nearestKey(key: string, allowed: readonly string[]): string | undefined {
  const plain = (k: string) => k.toLowerCase().replace(/[_-]/g, '');
  const same = allowed.find((k) => plain(k) === plain(key));
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of allowed) {
    const d = editDistance(key, k);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best;
}

/** Throws a TypeError naming the first key of `options` not in `allowed` (with a did-you-mean). */
export function checkOptionKeys(options: object, allowed: readonly string[], what: string): void {
  for (const key in options) {
    if (!Object.hasOwn(options, key) || allowed.includes(key)) continue;
    const near = nearestKey(key, allowed);
    throw new TypeError(
      `${what}: unknown option ${JSON.stringify(key)}${near === undefined ? '' : ` (did you mean ${JSON.stringify(near)}?)`}`,
    );
  }
}
