/**
 * @mlxn/server against mlx_lm.server: the same model folder, machine and run, the same
 * streaming `/v1/completions` requests (greedy, prompts of 32 to 2,048 tokens, a fixed number
 * of new tokens: the random-weight presets never produce end-of-sequence), at each concurrency
 * level. Each server runs in its own process; the load comes from this one. Prints one JSON
 * object: per side and concurrency, requests/s, generated tokens/s and p50/p99 time to first
 * token, and the ratios ours / mlx_lm (> 1 is faster for throughput, < 1 is faster for TTFT),
 * plus ours at the highest concurrency over ours at concurrency 1 (the batching gain), and
 * where ours spent each level's time (`ours_phase_ms`: the scheduler's `PhaseTimes`, with
 * `other` the running time no phase took) and how full its batch ran (`ours_steps`: decoding
 * steps and generated tokens per step). Not part of CI.
 *
 *   pnpm --filter @mlxn/server build
 *   MLXN_REFERENCE_PYTHON=/path/to/python-with-mlx-lm pnpm --filter @mlxn/tooling bench:server
 *
 * Environment: `MLXN_BENCH_PRESET` (qwen3-presets.ts; default small-float32, about 45M
 * parameters), `MLXN_BENCH_CONCURRENCY` (default `1,8`), `MLXN_BENCH_REQUESTS` (per level,
 * default 16), `MLXN_BENCH_PROMPTS` (prompt lengths cycled over the requests, default
 * `32,256,1024,2048`), `MLXN_BENCH_TOKENS` (new tokens per request, default 64),
 * `MLXN_REFERENCE_PYTHON` (a Python with mlx and mlx-lm; default /tmp/pyref-lm/bin/python),
 * `MLXN_TOKENIZER_DIR`, `MLXN_BENCH_SERVER_NODE_ARGS` (space-separated Node options for our
 * server's process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where its time goes).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@mlxn/io';
import { qwen3TokenizerDir } from '../test-support/qwen3.mjs';
import { benchPreset, writeBenchModel } from './qwen3-presets.js';

const python = process.env.MLXN_REFERENCE_PYTHON ?? '/tmp/pyref-lm/bin/python';
const preset = benchPreset();
const levels = (process.env.MLXN_BENCH_CONCURRENCY ?? '1,8').split(',').map(Number);
const requests = Number(process.env.MLXN_BENCH_REQUESTS ?? 16);
const promptLengths = (process.env.MLXN_BENCH_PROMPTS ?? '32,256,1024,2048').split(',').map(Number);
const newTokens = Number(process.env.MLXN_BENCH_TOKENS ?? 64);
const tokenizerDir = process.env.MLXN_TOKENIZER_DIR ?? qwen3TokenizerDir();

/** Starts a server process and resolves with its base URL once it prints it. */
function start(command: string, args: string[], pattern: RegExp): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString();
      const m = pattern.exec(log);
      if (m) resolve({ url: m[1], child });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}:\n${log}`)));
  });
}

/** Waits until GET `path` answers 200. */
async function ready(url: string, path: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}${path}`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never became ready`);
}

interface RequestResult {
  ttftMs: number;
  tokens: number;
}

/** One streaming completion; time to the first text and the tokens received. */
async function complete(url: string, model: string, prompt: string): Promise<RequestResult> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, prompt, max_tokens: newTokens, temperature: 0, stream: true }),
  });
  if (!res.ok || res.body === null) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  let ttft = -1;
  let tokens = 0;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    for (let cut = buffer.indexOf('\n\n'); cut !== -1; cut = buffer.indexOf('\n\n')) {
      const event = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const data = JSON.parse(event.slice(6));
      if (data.choices?.length > 0) {
        if (ttft < 0) ttft = performance.now() - t0;
        // One event per generated token on both servers (a held-back character may send '').
        tokens++;
      }
    }
  }
  return { ttftMs: ttft, tokens };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** `requests` requests at `concurrency` in flight; throughput and TTFT percentiles. */
async function load(url: string, model: string, prompts: string[], concurrency: number) {
  const results: RequestResult[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < prompts.length) {
        const i = next++;
        results.push(await complete(url, model, prompts[i]));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const generated = results.reduce((n, r) => n + r.tokens, 0);
  const ttfts = results.map((r) => r.ttftMs);
  return {
    requests_per_s: results.length / seconds,
    generated_tokens_per_s: generated / seconds,
    ttft_p50_ms: quantile(ttfts, 0.5),
    ttft_p99_ms: quantile(ttfts, 0.99),
    generated_tokens: generated,
  };
}

/** The scheduler's phase times (ms, summed since it started) and decoding steps, from serve-model's `/bench-stats`. */
async function schedulerStats(url: string): Promise<{ phaseMs: Record<string, number>; steps: number }> {
  const r = await fetch(`${url}/bench-stats`);
  return (await r.json()) as { phaseMs: Record<string, number>; steps: number };
}

/** What a load cost in each phase, rounded to 0.1 ms; `other` is the running time no phase took. */
function phaseDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) out[k] = Math.round((after[k] - (before[k] ?? 0)) * 10) / 10;
  const phases = Object.entries(out)
    .filter(([k]) => k !== 'running')
    .reduce((n, [, v]) => n + v, 0);
  out.other = Math.round((out.running - phases) * 10) / 10;
  return out;
}

/** Text of about `n` tokens, every token inside the preset's (possibly truncated) vocabulary. */
function promptText(tokenizer: Tokenizer, n: number, seed: number, vocab: number): string {
  const words = [
    'the',
    'sea',
    'and',
    'a',
    'ship',
    'is',
    'on',
    'in',
    'of',
    'to',
    'light',
    'wind',
    'day',
    'night',
    'over',
    'water',
    'sky',
    'blue',
    'long',
    'old',
  ];
  // A fixed first word: without a leading space some words ('sea') are ids past the small presets' 32,000.
  const out: string[] = ['the'];
  let s = seed;
  while (out.length < n) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out.push(words[s % words.length]);
  }
  const text = out.join(' ');
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  if (ids.some((t) => t >= vocab)) throw new Error('a prompt token is outside the preset vocabulary');
  return text;
}

const folder = mkdtempSync(join(tmpdir(), 'mlxn-bench-server-'));
const children: ChildProcess[] = [];
try {
  await writeBenchModel(preset, folder, tokenizerDir);
  const tokenizer = Tokenizer.loadSync(tokenizerDir);
  const vocab = Number(preset.config.vocab_size);
  // Fresh prompts for the warm-up and for each level: a prompt one server has already seen is
  // answered from its prefix cache, and a later level would look faster than it is.
  const promptSet = (set: number) =>
    Array.from({ length: requests }, (_, i) => promptText(tokenizer, promptLengths[i % promptLengths.length], 7 + i + 1000 * set, vocab));
  const maxConcurrency = Math.max(...levels);

  // Bundled for the GPU machine (tooling/bench/gpu/bundle.mjs), serve-model is a .mjs beside this file.
  const serveModel = import.meta.url.endsWith('.mjs')
    ? [join(import.meta.dirname, 'serve-model.mjs')]
    : ['--import', 'tsx', join(import.meta.dirname, 'serve-model.ts')];
  const nodeArgs = (process.env.MLXN_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const ours = await start(
    process.execPath,
    [...nodeArgs, ...serveModel, folder, String(Math.max(8, maxConcurrency))],
    /serving (http:\/\/\S+)/,
  );
  children.push(ours.child);
  // mlx_lm.server prints nothing to wait for: its address is the port chosen here.
  const mlxPort = 18000 + (process.pid % 1000);
  const mlxUrl = `http://127.0.0.1:${mlxPort}`;
  const theirs = spawn(python, ['-m', 'mlx_lm.server', '--model', folder, '--host', '127.0.0.1', '--port', String(mlxPort)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(theirs);
  await ready(ours.url, '/health');
  await ready(mlxUrl, '/v1/models');
  const mlxModel = folder;

  // Warm-up: one request per prompt length on each side.
  for (const p of promptSet(0).slice(0, promptLengths.length)) {
    await complete(ours.url, 'bench', p);
    await complete(mlxUrl, mlxModel, p);
  }
  const report: Record<string, unknown> = { preset: preset.name, requests, prompt_tokens: promptLengths, new_tokens: newTokens };
  const byLevel: Record<string, { ours: Awaited<ReturnType<typeof load>>; mlx_lm: Awaited<ReturnType<typeof load>> }> = {};
  const phases: Record<string, Record<string, number>> = {};
  const steps: Record<string, { steps: number; rows_per_step: number }> = {};
  for (const [level, c] of levels.entries()) {
    const prompts = promptSet(level + 1);
    // Alternating sides, so a change in the machine's load hits both alike.
    const before = await schedulerStats(ours.url);
    const a = await load(ours.url, 'bench', prompts, c);
    const after = await schedulerStats(ours.url);
    phases[`c${c}`] = phaseDelta(before.phaseMs, after.phaseMs);
    // How full the batch ran: generated tokens per decoding step (a row's first token comes from its step too).
    const n = after.steps - before.steps;
    steps[`c${c}`] = { steps: n, rows_per_step: Math.round((a.generated_tokens / n) * 100) / 100 };
    process.stderr.write(
      `c${c} ours ${JSON.stringify(a)}\nc${c} ours phases (ms) ${JSON.stringify(phases[`c${c}`])} ${JSON.stringify(steps[`c${c}`])}\n`,
    );
    const b = await load(mlxUrl, mlxModel, prompts, c);
    process.stderr.write(`c${c} mlx_lm ${JSON.stringify(b)}\n`);
    byLevel[`c${c}`] = { ours: a, mlx_lm: b };
  }
  report.levels = byLevel;
  report.ours_phase_ms = phases;
  report.ours_steps = steps;
  report.ratios = Object.fromEntries(
    Object.entries(byLevel).map(([k, v]) => [
      k,
      {
        requests_per_s: v.ours.requests_per_s / v.mlx_lm.requests_per_s,
        generated_tokens_per_s: v.ours.generated_tokens_per_s / v.mlx_lm.generated_tokens_per_s,
        ttft_p50: v.ours.ttft_p50_ms / v.mlx_lm.ttft_p50_ms,
      },
    ]),
  );
  const one = byLevel[`c${Math.min(...levels)}`]?.ours;
  const most = byLevel[`c${maxConcurrency}`]?.ours;
  if (one && most) report.ours_batching_gain = most.generated_tokens_per_s / one.generated_tokens_per_s;
  console.log(JSON.stringify(report, null, 2));
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(folder, { recursive: true, force: true });
}
