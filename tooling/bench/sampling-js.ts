/**
 * `@mlxn/sampling/js` (plain JS, no native binary): time per draw at Qwen3's vocabulary
 * (V = 151,936) with the usual filters (temperature 0.7, top-p 0.9, top-k 40) against a plain
 * softmax-and-draw loop without filters, on log-probabilities of Gaussian logits (sd 3, as the
 * MLX sampling benchmark) and of a peaked distribution. Also times the sampler without filters
 * and, for reference, the implementation that sorted the whole vocabulary (kept in the
 * package's tests as the draw-for-draw reference). Prints one JSON object: best and median
 * over `repeats` of the mean time of `draws` draws (the variants interleaved), and ours / plain
 * loop: the ratio of the bests and the median of the per-repeat ratios.
 *
 *   pnpm --filter @mlxn/sampling build
 *   pnpm --filter @mlxn/tooling bench:sampling-js
 */
import { makeSampler, seededRandom } from '@mlxn/sampling/js';
import { makeRow } from '../../packages/sampling/test/js-draw-cases.js';
import { makeSortingSampler } from '../../packages/sampling/test/reference/sorting-sampler.js';

const cfg = { vocab: 151936, draws: 10, repeats: 21, temperature: 0.7, filters: { topP: 0.9, topK: 40 } };

/** The baseline: softmax at a temperature and one draw, no filters, no allocation per element. */
function plainLoop(temperature: number, random: () => number): (row: Float32Array) => number {
  let w = new Float64Array(0);
  return (row) => {
    if (w.length < row.length) w = new Float64Array(row.length);
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < row.length; i++) if (row[i] > m) m = row[i];
    const inv = 1 / temperature;
    let total = 0;
    for (let i = 0; i < row.length; i++) {
      const e = Math.exp((row[i] - m) * inv);
      w[i] = e;
      total += e;
    }
    let u = random() * total;
    for (let i = 0; i < row.length; i++) {
      u -= w[i];
      if (u < 0) return i;
    }
    return row.length - 1;
  };
}

/** Mean milliseconds per draw over `draws` draws. */
function meanDraw(draw: (row: Float32Array) => number, row: Float32Array, draws: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < draws; i++) draw(row);
  return Number(process.hrtime.bigint() - t0) / 1e6 / draws;
}

const round = (x: number) => Number(x.toFixed(3));
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { best_ms: round(s[0]), median_ms: round(s[s.length >> 1]) };
};

// Gaussian logits and a peaked distribution, made as the package's draw-for-draw tests make them.
const rows = { gaussian_sd3: makeRow({ vocab: cfg.vocab, sd: 3 }, 0), peaked: makeRow({ vocab: cfg.vocab, sd: 2, spike: 14 }, 1) };
const results: Record<string, unknown> = {};
for (const [name, row] of Object.entries(rows)) {
  const samplers = {
    plain_loop: plainLoop(cfg.temperature, seededRandom(0)),
    ours_filtered: makeSampler({ temperature: cfg.temperature, ...cfg.filters, seed: 0 }),
    ours_unfiltered: makeSampler({ temperature: cfg.temperature, seed: 0 }),
  };
  const times: Record<string, number[]> = { plain_loop: [], ours_filtered: [], ours_unfiltered: [] };
  for (const draw of Object.values(samplers)) for (let i = 0; i < 3; i++) draw(row);
  // Interleaved, so that both sides of each ratio run under the same machine load.
  for (let r = 0; r < cfg.repeats; r++) {
    for (const [key, draw] of Object.entries(samplers)) times[key].push(meanDraw(draw, row, cfg.draws));
  }
  const ratios = times.ours_filtered.map((t, r) => t / times.plain_loop[r]);
  const fullSortRows = makeSortingSampler({ temperature: cfg.temperature, ...cfg.filters }, seededRandom(0));
  const fullSort = (one: Float32Array) => fullSortRows([one])[0];
  const fullSortTimes = Array.from({ length: 3 }, () => meanDraw(fullSort, row, 3));
  results[name] = {
    plain_loop: summary(times.plain_loop),
    ours_filtered: summary(times.ours_filtered),
    ours_unfiltered: summary(times.ours_unfiltered),
    full_sort_filtered: summary(fullSortTimes),
    ratio_filtered_to_plain: {
      best: round(summary(times.ours_filtered).best_ms / summary(times.plain_loop).best_ms),
      median_of_pairs: round(summary(ratios).median_ms),
    },
  };
}
console.log(JSON.stringify({ benchmark: 'sampling-js', node: process.version, config: cfg, results }, null, 2));
