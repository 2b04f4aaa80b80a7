/**
 * Where a decode step's time goes, for @mlxn and for mlx-lm on the same weights, the same
 * machine and the same MLX: per step, the native calls made from JS (ours), the graph's ops by
 * primitive (both: what evaluation will run), the time to build the graph, the time to evaluate
 * it (synchronously, median of `steps`), and the step time of each library's own pipelined
 * generation loop, whose excess over max(build, eval) is the loop's own cost, and a plain
 * pipelined greedy loop on both sides with its phases timed (build, schedule, read), and ours
 * again with the evaluation thread (build, the wait for token n, and what that thread did).
 *
 *   MLXN_NATIVE_PATH=<release .node> pnpm --filter @mlxn/tooling bench:breakdown
 *
 * Settings (environment): MLXN_BENCH_PRESET (tiny | small-float32 | qwen3-0.6b), MLXN_BREAKDOWN_BATCHES
 * (default "1,8"), MLXN_BREAKDOWN_CONTEXT (tokens in the cache before the measured steps, default
 * 511), MLXN_BREAKDOWN_STEPS (default 50), MLXN_BENCH_REPEATS (default 3, both sides interleaved),
 * MLXN_REFERENCE_PYTHON (a Python with mlx and mlx-lm). The counts are deterministic: use them as
 * a CPU proxy while changing the hot path (tests pin ours).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { KVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { evalThreadReady, handleOf, native, readScheduled, scheduleForRead } from '@mlxn/core/internal';
import { Qwen3 } from '@mlxn/models-qwen3';
import { qwen3TokenizerDir } from '../test-support/qwen3.mjs';
import { countNativeCalls, graphOps, median } from './decode-step.js';
import { benchPreset, benchReportHead, promptIds, writeBenchModel } from './qwen3-presets.js';

const python = process.env.MLXN_REFERENCE_PYTHON ?? '/tmp/pyref/bin/python';
const preset = benchPreset();
const batches = (process.env.MLXN_BREAKDOWN_BATCHES ?? '1,8').split(',').map(Number);
const context = Number(process.env.MLXN_BREAKDOWN_CONTEXT ?? 511);
const steps = Number(process.env.MLXN_BREAKDOWN_STEPS ?? 50);
const repeats = Number(process.env.MLXN_BENCH_REPEATS ?? 3);
const loopTokens = Number(process.env.MLXN_BREAKDOWN_LOOP_TOKENS ?? 128);

interface Side {
  native_calls?: number;
  graph_ops_total: number;
  graph_ops: Record<string, number>;
  build_ms: number;
  eval_ms: number;
  loop_step_ms: number;
  outside_ms: number;
  plain_loop?: PlainLoop;
  threaded_loop?: ThreadedLoop;
}

/** Medians per step of a plain pipelined greedy loop: the step and its three phases. */
interface PlainLoop {
  step_ms: number;
  build_ms: number;
  /** asyncEval of step n+1 (on a GPU, MLX encodes the kernels on the calling thread). */
  schedule_ms: number;
  /** Reading token n back (waits for its step to finish). */
  read_ms: number;
}

/** Synchronous decode steps on a cache holding `context` tokens: build and eval timed apart. */
function measureOurs(model: Qwen3, batch: number): Omit<Side, 'loop_step_ms' | 'outside_ms'> {
  const vocab = model.config.vocabSize;
  const cache = model.makeCache();
  const prompt = Array.from({ length: batch }, (_, i) => promptIds(10 + i, context, vocab));
  mx.tidy(() => {
    model.forward(mx.array(prompt, 'int32'), { cache }).dispose();
    mx.eval(cache.map((c) => c.state));
  });
  let token = mx.keep(
    mx.array(
      prompt.map((p) => [p[p.length - 1]]),
      'int32',
    ),
  );
  // The greedy step the generation loops make: forward, last position, argmax.
  const step = (t: mx.Array) =>
    mx.tidy(() => mx.reshape(mx.argmax(mx.index(model.forward(t, { cache }), mx.sl(), -1, mx.sl()), -1), [-1, 1]));
  const builds: number[] = [];
  const evals: number[] = [];
  let calls = 0;
  let ops: Record<string, number> = {};
  for (let i = 0; i < steps + 5; i++) {
    const t0 = performance.now();
    const counted = i === 5 ? countNativeCalls() : null;
    const next = step(token);
    const t1 = performance.now();
    if (counted) {
      calls = counted.stop();
      // The step's token and the caches' new buffers (what mlx-lm's side counts too).
      ops = graphOps([next, ...cache.flatMap((c) => (c as KVCache).nativeState().slice(0, 2) as mx.Array[])]);
    }
    const t2 = performance.now();
    mx.eval(next);
    const t3 = performance.now();
    token.dispose();
    token = mx.keep(next);
    if (i >= 5) {
      builds.push(t1 - t0);
      evals.push(t3 - t2);
    }
  }
  token.dispose();
  for (const c of cache) c.dispose();
  return {
    native_calls: calls,
    graph_ops_total: Object.values(ops).reduce((a, b) => a + b, 0),
    graph_ops: ops,
    build_ms: median(builds),
    eval_ms: median(evals),
  };
}

/**
 * A greedy loop's start: `batch` prompts of `context` tokens prefilled into a fresh cache, the
 * step function, and the first step's (unevaluated) token.
 */
function primedLoop(
  model: Qwen3,
  batch: number,
): { cache: ReturnType<Qwen3['makeCache']>; step: (t: mx.Array) => mx.Array; first: mx.Array } {
  const vocab = model.config.vocabSize;
  const prompts = Array.from({ length: batch }, (_, i) => promptIds(10 + i, context + 1, vocab));
  const cache = model.makeCache();
  mx.tidy(() => {
    model
      .forward(
        mx.array(
          prompts.map((p) => p.slice(0, -1)),
          'int32',
        ),
        { cache },
      )
      .dispose();
    mx.eval(cache.map((c) => c.state));
  });
  const step = (t: mx.Array) =>
    mx.tidy(() => mx.reshape(mx.argmax(mx.index(model.forward(t, { cache }), mx.sl(), -1, mx.sl()), -1), [-1, 1]));
  const first = mx.keep(
    step(
      mx.array(
        prompts.map((p) => [p[p.length - 1]]),
        'int32',
      ),
    ),
  );
  return { cache, step, first };
}

/**
 * The plain pipelined greedy loop (step n+1 built and scheduled before token n is read), with
 * each phase timed: what the library's loop costs beyond it is the loop's own overhead.
 */
function plainLoopOurs(model: Qwen3, batch: number): PlainLoop {
  const { cache, step, first } = primedLoop(model, batch);
  let token = first;
  mx.asyncEval(token);
  token.tolist();
  const build: number[] = [];
  const sched: number[] = [];
  const read: number[] = [];
  const total: number[] = [];
  for (let n = 0; n < loopTokens; n++) {
    const t0 = performance.now();
    const next = mx.keep(step(token));
    const t1 = performance.now();
    native.asyncEval([handleOf(next)]);
    const t2 = performance.now();
    token.tolist();
    const t3 = performance.now();
    token.dispose();
    token = next;
    if (n >= 5) {
      build.push(t1 - t0);
      sched.push(t2 - t1);
      read.push(t3 - t2);
      total.push(t3 - t0);
    }
  }
  token.tolist();
  token.dispose();
  for (const c of cache) c.dispose();
  return { step_ms: median(total), build_ms: median(build), schedule_ms: median(sched), read_ms: median(read) };
}

/** Per step of a loop that hands each step to the evaluation thread (medians; worker: means). */
interface ThreadedLoop {
  step_ms: number;
  build_ms: number;
  /** This thread blocked in the read of token n (the worker reads it after encoding step n). */
  read_wait_ms: number;
  worker_encode_ms: number;
  worker_read_ms: number;
  worker_idle_ms: number;
  /** The same loop, but this thread waits for the worker to finish encoding each step before it builds the next: the worker's encode time with nothing else running. */
  serial_step_ms?: number;
  serial_worker_encode_ms?: number;
}

/** What the evaluation thread did per step since `before` (means over `steps`). */
function workerPerStep(steps: number): Pick<ThreadedLoop, 'worker_encode_ms' | 'worker_read_ms' | 'worker_idle_ms'> {
  const [, encodeMs, , readMs, idleMs] = native.evalThreadStats();
  return { worker_encode_ms: encodeMs / steps, worker_read_ms: readMs / steps, worker_idle_ms: idleMs / steps };
}

/**
 * The plain greedy loop with the evaluation thread, as `generate` runs it: build step n+1 from
 * the lazy token n and queue it with a read ticket, then read token n by its ticket (waiting for
 * the device, not for the thread to encode n+1).
 */
function threadedLoopOurs(model: Qwen3, batch: number): ThreadedLoop | undefined {
  if (!evalThreadReady) return undefined;
  const overlapped = threadedLoopRun(model, batch, false);
  const serial = threadedLoopRun(model, batch, true);
  return { ...overlapped, serial_step_ms: serial.step_ms, serial_worker_encode_ms: serial.worker_encode_ms };
}

/** One threaded loop; `serial` drains the thread after queueing each step (no overlap with building). */
function threadedLoopRun(model: Qwen3, batch: number, serial: boolean): ThreadedLoop {
  const { cache, step, first } = primedLoop(model, batch);
  let token = first;
  let pending = scheduleForRead([token], true);
  const build: number[] = [];
  const wait: number[] = [];
  const total: number[] = [];
  const warm = 5;
  for (let n = 0; n < loopTokens; n++) {
    if (n === warm) native.evalThreadStats();
    const t0 = performance.now();
    const next = mx.keep(step(token));
    const nextPending = scheduleForRead([next], true);
    if (serial) native.evalThreadDrain();
    const t1 = performance.now();
    readScheduled(pending);
    const t2 = performance.now();
    token.dispose();
    token = next;
    pending = nextPending;
    if (n >= warm) {
      build.push(t1 - t0);
      wait.push(t2 - t1);
      total.push(performance.now() - t0);
    }
  }
  const worker = workerPerStep(loopTokens - warm);
  readScheduled(pending);
  token.dispose();
  for (const c of cache) c.dispose();
  return { step_ms: median(total), build_ms: median(build), read_wait_ms: median(wait), ...worker };
}

/** The library's own pipelined loop: ms per decode step. */
async function loopOurs(model: Qwen3, batch: number): Promise<number> {
  const vocab = model.config.vocabSize;
  const prompts = Array.from({ length: batch }, (_, i) => promptIds(10 + i, context + 1, vocab));
  if (batch === 1) {
    const r = await model.generate(prompts[0], { maxTokens: loopTokens });
    return 1000 / r.tokensPerSec;
  }
  const r = await model.batchGenerate(prompts, { maxTokens: loopTokens, maxBatchSize: batch, prefillBatchSize: batch });
  return (1000 * batch) / r.stats.tokensPerSec;
}

const folder = mkdtempSync(join(tmpdir(), 'mlxn-bench-breakdown-'));
try {
  await writeBenchModel(preset, folder, process.env.MLXN_TOKENIZER_DIR ?? qwen3TokenizerDir());
  // The small presets keep only the first vocab_size ids of the real tokenizer.
  const model = await Qwen3.load(folder, { truncatedVocab: true });
  mx.eval(model.parameters());
  const py = spawn(python, [join(import.meta.dirname, 'decode_breakdown.py'), JSON.stringify({ folder, context, steps, loopTokens })], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: py.stdout! })[Symbol.asyncIterator]();
  const readLine = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done) throw new Error('decode_breakdown.py exited early (see its error above)');
    return next.value;
  };
  if ((await readLine()) !== 'ready') throw new Error('decode_breakdown.py did not start');
  const results: Record<string, { mlxn: Side; mlx_lm: Side }> = {};
  try {
    for (const batch of batches) {
      const ours: Side[] = [];
      const theirs: Side[] = [];
      for (let r = 0; r < repeats; r++) {
        mx.clearCache();
        const m = measureOurs(model, batch);
        const loop = await loopOurs(model, batch);
        const plain = plainLoopOurs(model, batch);
        const threaded = threadedLoopOurs(model, batch);
        ours.push({
          ...m,
          loop_step_ms: loop,
          outside_ms: loop - Math.max(m.build_ms, m.eval_ms),
          plain_loop: plain,
          threaded_loop: threaded,
        });
        py.stdin!.write(`${batch}\n`);
        const t = JSON.parse(await readLine()) as Omit<Side, 'outside_ms'>;
        theirs.push({ ...t, outside_ms: t.loop_step_ms - Math.max(t.build_ms, t.eval_ms) });
      }
      // Times: the median over repeats of each repeat's median; counts are the same every time.
      const pick = (xs: Side[]): Side => ({
        ...xs[0],
        build_ms: median(xs.map((x) => x.build_ms)),
        eval_ms: median(xs.map((x) => x.eval_ms)),
        loop_step_ms: median(xs.map((x) => x.loop_step_ms)),
        outside_ms: median(xs.map((x) => x.outside_ms)),
        plain_loop: xs[0].plain_loop && {
          step_ms: median(xs.map((x) => x.plain_loop!.step_ms)),
          build_ms: median(xs.map((x) => x.plain_loop!.build_ms)),
          schedule_ms: median(xs.map((x) => x.plain_loop!.schedule_ms)),
          read_ms: median(xs.map((x) => x.plain_loop!.read_ms)),
        },
        threaded_loop:
          xs[0].threaded_loop &&
          (Object.fromEntries(
            Object.keys(xs[0].threaded_loop).map((k) => [
              k,
              median(xs.map((x) => x.threaded_loop?.[k as keyof ThreadedLoop] ?? Number.NaN)),
            ]),
          ) as unknown as ThreadedLoop),
      });
      results[`batch${batch}`] = { mlxn: pick(ours), mlx_lm: pick(theirs) };
    }
  } finally {
    py.stdin!.end();
    py.kill();
  }
  const r3 = (x: number) => Number(x.toFixed(3));
  const ratios: Record<string, Record<string, number>> = {};
  for (const [k, v] of Object.entries(results)) {
    ratios[k] = {
      graph_ops: r3(v.mlxn.graph_ops_total / v.mlx_lm.graph_ops_total),
      build: r3(v.mlxn.build_ms / v.mlx_lm.build_ms),
      eval: r3(v.mlxn.eval_ms / v.mlx_lm.eval_ms),
      loop_step: r3(v.mlxn.loop_step_ms / v.mlx_lm.loop_step_ms),
    };
  }
  console.log(
    JSON.stringify(
      {
        ...benchReportHead('decode-breakdown'),
        setup: { preset: preset.name, context, steps, repeats, loopTokens },
        results,
        ratios_mlxn_over_mlx_lm: ratios,
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(folder, { recursive: true, force: true });
}
