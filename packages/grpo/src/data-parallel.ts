/**
 * Data-parallel training over MLX's distributed layer (`mx.distributed`): the collectives the
 * trainers need, each as few all-reduces as the job allows. Every rank runs the same program
 * on its share of the data; gradients are averaged (as PyTorch's DistributedDataParallel does
 * for TRL), so every rank applies the same update and keeps the same weights.
 *
 * A collective that fails (a peer died: MLX's ring backend reports "[ring] connection to a peer
 * was lost") is rethrown as a `DataParallelError` naming this rank and what was being combined.
 */
import * as mx from '@mlxn/core';
import type { ParamDict } from '@mlxn/nn';

/** What the trainers' `distributed` option takes. */
export type DistributedOption = mx.distributed.Group | false | undefined;

/** A collective across the job's ranks failed (usually: another rank died). */
export class DataParallelError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataParallelError';
  }
}

/**
 * Another rank asked the run to stop (Ctrl-C reached it first): every rank stops at the same
 * step boundary, where the state is whole. The trainers reject with this on the ranks whose
 * own signal was not aborted (yet).
 */
export class PeerStopError extends Error {
  constructor() {
    super('another rank of the job stopped the run between two steps');
    this.name = 'AbortError';
  }
}

// Gradients are combined in buckets of at most this many bytes (float32): one all-reduce per
// bucket, so a model of up to 1 GiB of trainable parameters takes one all-reduce per step, and
// the flat copy stays bounded for a larger one.
const DEFAULT_BUCKET_BYTES = 2 ** 30;

/** The group a trainer trains over: the option's, or `init()`'s (size 1 outside a job). */
export function resolveGroup(option: DistributedOption, trainer: string): mx.distributed.Group | null {
  if (option === false) return null;
  if (option === undefined) {
    const g = mx.distributed.init();
    return g.size > 1 ? g : null;
  }
  if (!(option instanceof mx.distributed.Group)) {
    throw new TypeError(`${trainer}: distributed must be an mx.distributed group (mx.distributed.init()) or false`);
  }
  return option.size > 1 ? option : null;
}

function rebuild(tree: unknown, next: () => mx.Array): unknown {
  if (tree instanceof mx.Array) return next();
  if (Array.isArray(tree)) return tree.map((v) => rebuild(v, next));
  if (tree !== null && typeof tree === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(tree)) out[k] = rebuild(v, next);
    return out;
  }
  return tree;
}

/** One rank's view of a data-parallel job. */
export class DataParallel {
  readonly group: mx.distributed.Group;
  readonly rank: number;
  readonly size: number;
  readonly #who: string;
  readonly #bucketBytes: number;

  constructor(group: mx.distributed.Group, trainer: string, options: { bucketBytes?: number } = {}) {
    this.group = group;
    this.rank = group.rank;
    this.size = group.size;
    this.#who = `${trainer} (rank ${group.rank} of ${group.size})`;
    this.#bucketBytes = options.bucketBytes ?? DEFAULT_BUCKET_BYTES;
  }

  /** Rank 0 writes files (checkpoints, metrics) for the job. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Evaluates `fn()`'s arrays, turning a failed collective into a DataParallelError about `what`. */
  #run<T extends mx.Array | mx.Array[]>(what: string, fn: () => T): T {
    try {
      const out = fn();
      mx.eval(out);
      return out;
    } catch (e) {
      throw new DataParallelError(`${this.#who}: combining ${what} across ranks failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * The rank average of a float32 gradient tree plus the rank sums of `scalars`, in as few
   * all-reduces as the bucket size allows (one for models up to 1 GiB): the gradients are
   * flattened into one buffer with the scalars at its end, summed across ranks, split back and
   * divided by the number of ranks. The input tree is left to the caller.
   */
  averageGradients(grads: ParamDict, scalars: readonly number[], what = 'gradients'): { grads: ParamDict; scalars: number[] } {
    const leaves = mx.treeFlattenWithPaths(grads).map(([, g]) => g);
    for (const g of leaves)
      if (g.dtype !== 'float32') throw new TypeError(`${this.#who}: averageGradients takes float32 gradients, got ${g.dtype}`);
    // Buckets of consecutive leaves; the scalars ride in the last one.
    const buckets: mx.Array[][] = [[]];
    let bytes = 0;
    for (const g of leaves) {
      const b = g.size * 4;
      if (bytes > 0 && bytes + b > this.#bucketBytes) {
        buckets.push([]);
        bytes = 0;
      }
      buckets[buckets.length - 1].push(g);
      bytes += b;
    }
    const reduced: mx.Array[] = [];
    let summedScalars: number[] = [];
    for (let i = 0; i < buckets.length; i++) {
      const last = i === buckets.length - 1;
      const out = mx.tidy(() => {
        const parts = buckets[i].map((g) => mx.reshape(g, [-1]));
        if (last) parts.push(mx.array(Float32Array.from(scalars), { dtype: 'float32' }));
        const flat = parts.length === 1 ? parts[0] : mx.concatenate(parts, 0);
        return this.#run(what, () => mx.distributed.allSum(flat, this.group));
      });
      let offset = 0;
      mx.tidy(() => {
        for (const g of buckets[i]) {
          const part = mx.multiply(mx.reshape(mx.index(out, mx.sl(offset, offset + g.size)), g.shape), 1 / this.size);
          reduced.push(mx.keep(part));
          offset += g.size;
        }
        if (last) summedScalars = mx.index(out, mx.sl(offset, offset + scalars.length)).tolist() as number[];
      });
      mx.eval(reduced);
      out.dispose();
    }
    let k = 0;
    const tree = rebuild(grads, () => reduced[k++]) as ParamDict;
    return { grads: tree, scalars: summedScalars };
  }

  /** The rank sums of `values` (float64), one all-reduce. */
  sum(values: readonly number[], what: string): number[] {
    return mx.tidy(() => {
      const out = this.#run(what, () => mx.distributed.allSum(mx.array(Float64Array.from(values), { dtype: 'float64' }), this.group));
      return out.tolist() as number[];
    });
  }

  /**
   * Every rank's rows of a `[rows, columns]` float64 table, concatenated in rank order (each
   * rank must pass the same number of rows and columns), one all-gather.
   */
  gatherRows(rows: readonly (readonly number[])[], columns: number, what: string): number[][] {
    const flat = new Float64Array(rows.length * columns);
    rows.forEach((r, i) => {
      if (r.length !== columns) throw new RangeError(`${this.#who}: gatherRows: row ${i} has ${r.length} values, expected ${columns}`);
      flat.set(r, i * columns);
    });
    return mx.tidy(() => {
      const out = this.#run(what, () =>
        mx.distributed.allGather(mx.array(flat, { dtype: 'float64' }).reshape([rows.length, columns]), this.group),
      );
      return out.tolist() as number[][];
    });
  }

  /**
   * Waits until every rank gets here; `failed` ranks make every rank learn it (the count of
   * failed ranks is returned), so a rank-0 write that failed stops the others with an error
   * instead of leaving them waiting.
   */
  barrier(what: string, failed = false): number {
    return this.sum([failed ? 1 : 0], what)[0];
  }

  /**
   * Every rank's list of strings, in rank order (two collectives: the longest encoding, then
   * the padded encodings). Used to agree on metric names, which may differ between ranks.
   */
  gatherStrings(strings: readonly string[], what: string): string[][] {
    const bytes = new TextEncoder().encode(JSON.stringify(strings));
    const longest = mx.tidy(() => {
      const out = this.#run(what, () => mx.distributed.allMax(mx.array(Int32Array.of(bytes.length), { dtype: 'int32' }), this.group));
      return (out.tolist() as number[])[0];
    });
    const padded = new Int32Array(longest + 1);
    padded[0] = bytes.length;
    padded.set(bytes, 1);
    const all = mx.tidy(() => {
      const out = this.#run(what, () =>
        mx.distributed.allGather(mx.array(padded, { dtype: 'int32' }).reshape([1, longest + 1]), this.group),
      );
      return out.tolist() as number[][];
    });
    return all.map((row) => JSON.parse(new TextDecoder().decode(Uint8Array.from(row.slice(1, 1 + row[0])))) as string[]);
  }
}
