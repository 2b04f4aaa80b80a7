/**
 * Unknown option keys are errors (a typo such as `keepDims` would otherwise be ignored and the
 * op would run with its defaults). A loop over the object's own keys: cheap enough for per-op
 * paths, where schema parsing would not be. (`@mlxn/sampling/js` has its own check on the same
 * library: it must not load the native binary that this package brings.)
 */
import { closest, distance } from 'fastest-levenshtein';

/** Levenshtein distance (for did-you-mean messages; the CLIs share it through `@mlxn/core/internal`). */
export const editDistance: (a: string, b: string) => number = distance;

/** The key a mistyped one most likely meant: same letters ignoring case and `_`/`-`, else the first within two edits. */
function nearestKey(key: string, allowed: readonly string[]): string | undefined {
  const plain = (k: string) => k.toLowerCase().replace(/[_-]/g, '');
  // `closest` gives the first key at the least distance (undefined when `allowed` is empty).
  const near: string | undefined = closest(key, allowed);
  return allowed.find((k) => plain(k) === plain(key)) ?? (near !== undefined && distance(key, near) < 3 ? near : undefined);
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
