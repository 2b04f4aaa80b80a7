/**
 * `mx.distributed`: MLX's distributed layer, for programs that run as several processes (on
 * several GPUs or machines, or several CPU processes). As in Python MLX's `mx.distributed`:
 * `init()` joins the job the environment describes (MLX's ring backend reads `MLX_RANK` and
 * `MLX_HOSTFILE`; NCCL and MPI their own variables) and returns its group; collectives are lazy
 * ops like any other, evaluated when read. A process that is not part of a job gets a group of
 * size 1 (unless `strict`), on which every collective is the identity, so the same program runs
 * alone. docs/distributed.md has the environment, the backends and an example.
 */
import { Worker } from 'node:worker_threads';
import { type Array, wrap } from './array.js';
import { asArray } from './create.js';
import { type Dtype, dtypeCode } from './dtype.js';
import { native } from './native.js';
import type { ArrayLike } from './types.js';

/** The backends MLX 0.32 knows; `'any'` takes the first available (MLX's order). */
export type Backend = 'any' | 'ring' | 'mpi' | 'nccl' | 'jaccl';

export interface InitOptions {
  /** Throw when no backend can start (default false: a group of size 1). */
  strict?: boolean;
  /** Which backend (default `'any'`). */
  backend?: Backend;
  /**
   * The longest `init` may wait for its peers, in milliseconds. MLX's ring backend waits for
   * a neighbour that never connects without a bound, and a native call that waits cannot be
   * interrupted from JavaScript (the thread is inside it), so past this bound a watchdog thread
   * writes an error to stderr and ends the process (SIGKILL): a launcher or test sees a dead
   * rank instead of a hung one. Default: no bound, as in MLX.
   */
  timeoutMs?: number;
}

/** A group of processes: the world from `init()`, or part of it from `split`. */
export class Group {
  /** This process's rank in the group, 0 … size − 1. */
  readonly rank: number;
  /** The number of processes in the group. */
  readonly size: number;
  readonly #id: number;

  /** @internal Groups come from `init()` and `split`. */
  constructor(id: number) {
    const [rank, size] = native.distGroupInfo(id);
    this.#id = id;
    this.rank = rank;
    this.size = size;
  }

  /** @internal The native group's index. */
  get id(): number {
    return this.#id;
  }

  /**
   * Splits the group: processes that pass the same `color` form a new group, ranked by `key`
   * (default: their rank here). Every process of the group must call it.
   */
  split(color: number, key = -1): Group {
    return new Group(native.distSplit(this.#id, checkInt(color, 'color'), checkInt(key, 'key')));
  }
}

function checkInt(v: number, what: string): number {
  if (!Number.isInteger(v) || Math.abs(v) > 2 ** 31 - 1) throw new TypeError(`distributed: ${what} must be a 32-bit integer, got ${v}`);
  return v;
}

function checkBackend(backend: string): Backend {
  if (!['any', 'ring', 'mpi', 'nccl', 'jaccl'].includes(backend)) {
    throw new TypeError(`distributed: backend must be 'any', 'ring', 'mpi', 'nccl' or 'jaccl', got ${JSON.stringify(backend)}`);
  }
  return backend as Backend;
}

/** Whether a backend (default: any) is available in this build of MLX. */
export function isAvailable(backend: Backend = 'any'): boolean {
  return native.distIsAvailable(checkBackend(backend));
}

// One group per backend choice: MLX keeps the job's state for the process's lifetime, so a
// later `init()` is the same group (and adds no native entry).
const joined = new Map<Backend, Group>();

/**
 * Joins the distributed job and returns its group (the same group on later calls). Without a
 * job (no environment for any backend) the group has size 1, unless `strict`.
 */
export function init(options: InitOptions = {}): Group {
  const backend = checkBackend(options.backend ?? 'any');
  const { timeoutMs } = options;
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new TypeError(`distributed: timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }
  const known = joined.get(backend);
  if (known !== undefined && (known.size > 1 || !options.strict)) return known;
  const watchdog = timeoutMs === undefined ? undefined : startWatchdog(timeoutMs, backend);
  try {
    const g = new Group(native.distInit(options.strict ?? false, backend));
    joined.set(backend, g);
    return g;
  } finally {
    watchdog?.disarm();
  }
}

// The watchdog runs on its own thread, so it keeps time while the JS thread is blocked in
// MLX's init. `done` is shared memory: the JS thread sets it when init returns; the watchdog
// kills the process only if it is still unset at the deadline.
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const done = new Int32Array(workerData.done);
setTimeout(() => {
  if (Atomics.load(done, 0) === 0) {
    writeSync(2, workerData.message + '\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}, workerData.timeoutMs);
`;

function startWatchdog(timeoutMs: number, backend: Backend): { disarm(): void } {
  const done = new SharedArrayBuffer(4);
  const rank = process.env.MLX_RANK ?? '?';
  const message =
    `MlxError: mx.distributed.init (backend '${backend}', MLX_RANK ${rank}) did not finish within ${timeoutMs} ms: ` +
    'a peer did not join (not started, died, or unreachable at its MLX_HOSTFILE address); ending this process';
  const worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { done, timeoutMs, message } });
  worker.unref();
  return {
    disarm() {
      Atomics.store(new Int32Array(done), 0, 1);
      void worker.terminate();
    },
  };
}

const groupId = (group: Group | undefined) => (group ?? init()).id;

enum Collective {
  Sum = 0,
  Gather = 1,
  Max = 2,
  Min = 3,
  SumScatter = 4,
}

/** The element-wise sum of `x` over the group's processes (each gets the result). */
export function allSum(x: ArrayLike, group?: Group): Array {
  return wrap(native.distCollective(Collective.Sum, asArray(x).handle, groupId(group)));
}
/** Every process's `x` concatenated along the first axis, in rank order. */
export function allGather(x: ArrayLike, group?: Group): Array {
  return wrap(native.distCollective(Collective.Gather, asArray(x).handle, groupId(group)));
}
/** The element-wise maximum of `x` over the group's processes. */
export function allMax(x: ArrayLike, group?: Group): Array {
  return wrap(native.distCollective(Collective.Max, asArray(x).handle, groupId(group)));
}
/** The element-wise minimum of `x` over the group's processes. */
export function allMin(x: ArrayLike, group?: Group): Array {
  return wrap(native.distCollective(Collective.Min, asArray(x).handle, groupId(group)));
}
/** The sum over the group, of which each process keeps its slice of the first axis (rank order). */
export function sumScatter(x: ArrayLike, group?: Group): Array {
  return wrap(native.distCollective(Collective.SumScatter, asArray(x).handle, groupId(group)));
}

/**
 * Sends `x` to process `dst`. Returns an array to evaluate (the send happens when it is
 * evaluated, as every op here); the receiving process must call `recv` or `recvLike`.
 */
export function send(x: ArrayLike, dst: number, group?: Group): Array {
  return wrap(native.distSend(asArray(x).handle, checkInt(dst, 'dst'), groupId(group)));
}
/** Receives an array of `shape` and `dtype` from process `src`. */
export function recv(shape: readonly number[], dtype: Dtype, src: number, group?: Group): Array {
  const dims = shape.map((d) => checkInt(d, 'shape'));
  return wrap(native.distRecv(dims, dtypeCode(dtype), checkInt(src, 'src'), groupId(group)));
}
/** Receives an array shaped and typed like `x` from process `src`. */
export function recvLike(x: ArrayLike, src: number, group?: Group): Array {
  return wrap(native.distRecvLike(asArray(x).handle, checkInt(src, 'src'), groupId(group)));
}
