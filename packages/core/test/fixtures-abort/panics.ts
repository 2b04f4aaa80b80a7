/**
 * Rust panics on purpose (`native.probePanic`, a test-only export), run in a child process by
 * panic-safety.test.ts: each must reach JS as an Error, and the process must stay usable
 * afterwards. Prints one JSON line with what it saw, then exits 0.
 */
import * as mx from '../../src/index.js';
import { handleOf, native } from '../../src/internal.js';

type Seen = { site: string; error: string | null; isError: boolean; liveBefore: number; liveAfter: number };
const seen: Seen[] = [];
const a = mx.array([1, 2, 3], 'float32');
mx.eval(a);

function panicAt(site: string, withArray: boolean): void {
  const liveBefore = native.liveHandles();
  let error: unknown = null;
  try {
    native.probePanic(`boom at ${site}`, site, withArray ? handleOf(a) : null);
  } catch (e) {
    error = e;
  }
  seen.push({
    site: `${site}${withArray ? '+array' : ''}`,
    error: error === null ? null : String((error as Error).message),
    isError: error instanceof Error,
    liveBefore,
    liveAfter: native.liveHandles(),
  });
}

panicAt('export', false);
panicAt('export', true);
panicAt('table', false);
panicAt('trace', true);
// A panic inside a user's function under a transform: the error comes back out of the transform.
let insideGrad: string | null = null;
try {
  mx.grad((x: mx.Array) => {
    native.probePanic('boom inside grad', 'export', null);
    return mx.sum(x);
  })(a);
} catch (e) {
  insideGrad = e instanceof Error ? e.message : `non-Error ${String(e)}`;
}

// Still usable: new arrays (the handle table), ops, a transform (the callback path), reads.
const b = mx.add(mx.multiply(a, a), mx.array(1, 'float32'));
const g = mx.grad((x: mx.Array) => mx.sum(mx.multiply(x, x)))(a);
const healthy = {
  values: b.tolist(),
  grad: g.tolist(),
  compiled: mx
    .compile((x: mx.Array) => mx.add(x, x))(a)
    .tolist(),
};
console.log(JSON.stringify({ seen, insideGrad, healthy }));
