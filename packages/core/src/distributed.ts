/**
 * `mx.distributed`: MLX's distributed layer, for programs that run as several processes (on
 * several GPUs or machines, or several CPU processes). As in Python MLX's `mx.distributed`:
 * `init()` joins the job the environment describes (MLX's ring backend reads `MLX_RANK` and
 * `MLX_HOSTFILE`; NCCL and MPI their own variables) and returns its group; collectives are lazy
 * ops like any other, evaluated when read. A process that is not part of a job gets a group of
 * size 1 (unless `strict`), on which every collective is the identity, so the same program runs
 * alone. docs/distributed.md has the environment, the backends and an example.
 */
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
  const known = joined.get(backend);
  if (known !== undefined && (known.size > 1 || !options.strict)) return known;
  const g = new Group(native.distInit(options.strict ?? false, backend));
  joined.set(backend, g);
  return g;
}

const groupId = (group: Group | undefined) => (group ?? init()).id;

const enum Collective {
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
