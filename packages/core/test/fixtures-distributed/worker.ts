// One rank of a distributed job started by test/distributed.test.ts: runs the scenario named in
// argv[2] on the ring backend and prints one JSON line of results for the test to check.
import * as mx from '../../src/index.js';

const scenario = process.argv[2];
if (scenario === 'one-fails') {
  // For the launcher: rank 1 fails at once while rank 0 would run for a minute.
  if (process.env.MLX_RANK === '1') process.exit(3);
  setTimeout(() => console.log('rank 0 was not stopped'), 60_000);
}
if (scenario === 'peer-never-joins' && process.env.MLX_RANK === '1') process.exit(0);
// peer-never-joins: rank 0 waits for a rank 1 that never starts; init({ timeoutMs }) must end it.
const g = mx.distributed.init({ strict: true, backend: 'ring', ...(scenario === 'peer-never-joins' ? { timeoutMs: 2000 } : {}) });
if (scenario === 'peer-never-joins') console.log('joined');
const r = g.rank;
const out: Record<string, unknown> = { rank: r, size: g.size };

if (scenario === 'collectives') {
  const x = mx.array([r + 1, 10 * (r + 1)], 'float32');
  out.allSum = mx.distributed.allSum(x, g).tolist();
  out.allMax = mx.distributed.allMax(x, g).tolist();
  out.allMin = mx.distributed.allMin(x, g).tolist();
  out.allGather = mx.distributed.allGather(mx.reshape(x, [1, 2]), g).tolist();
  // MLX 0.32's ring backend has no sum_scatter (NCCL and MPI do): its error must arrive as one.
  try {
    out.sumScatter = mx.distributed.sumScatter(mx.array([1, 2, 3, 4], 'float32'), g).tolist();
  } catch (e) {
    out.sumScatter = `${e instanceof mx.MlxError ? 'MlxError' : 'other'}: ${(e as Error).message}`;
  }
  out.int32Sum = mx.distributed.allSum(mx.array([r, 7], 'int32')).tolist(); // default group
  // Point to point: rank 0 sends, rank 1 receives, both by shape and like an array.
  if (r === 0) {
    mx.eval(
      mx.distributed.send(
        mx.array(
          [
            [1.5, -2],
            [3, 4],
          ],
          'float32',
        ),
        1,
        g,
      ),
    );
    mx.eval(mx.distributed.send(mx.arange(5, undefined, undefined, 'int32'), 1, g));
  } else {
    out.recv = mx.distributed.recv([2, 2], 'float32', 0, g).tolist();
    out.recvLike = mx.distributed.recvLike(mx.zeros([5], 'int32'), 0, g).tolist();
  }
  // The ring backend cannot split groups (MPI can): a clear error, and the group still works.
  try {
    g.split(r);
    out.split = 'split';
  } catch (e) {
    out.split = `${e instanceof mx.MlxError ? 'MlxError' : 'other'}: ${(e as Error).message}`;
  }
  out.afterSplit = mx.distributed.allSum(mx.array([r + 1]), g).tolist();
} else if (scenario === 'sum') {
  out.allSum = mx.distributed.allSum(mx.array([r + 1, 10 * (r + 1)]), g).tolist();
} else if (scenario === 'peer-dies') {
  // Rank 1 leaves without taking part; rank 0's sum must fail (or the test's bound kills it).
  if (r === 1) process.exit(0);
  try {
    mx.distributed.allSum(mx.ones([1 << 16]), g).tolist();
    out.error = null;
  } catch (e) {
    out.error = (e as Error).message;
  }
}
if (scenario !== 'one-fails') console.log(JSON.stringify(out));
