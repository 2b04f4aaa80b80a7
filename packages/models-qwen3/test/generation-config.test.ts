// generation_config.json: sampling defaults and end-of-sequence ids, as transformers reads them;
// the caller's options win.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGenerationConfig, Qwen3 } from '../src/index.js';
import { tinyQwen3Expected, tinyQwen3Path } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-genconf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Qwen/Qwen3-0.6B's generation_config.json.
const QWEN3_06B = {
  bos_token_id: 151643,
  do_sample: true,
  eos_token_id: [151645, 151643],
  pad_token_id: 151643,
  temperature: 0.6,
  top_k: 20,
  top_p: 0.95,
  transformers_version: '4.51.0',
};

let n = 0;
/** The tiny dense fixture (weights linked) with this generation_config.json. */
function folderWith(generationConfig: object): string {
  const src = tinyQwen3Path('dense');
  const dir = join(work, `m${n++}`);
  mkdirSync(dir);
  for (const f of readdirSync(src)) symlinkSync(join(src, f), join(dir, f));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generationConfig));
  return dir;
}

describe('parseGenerationConfig', () => {
  it('takes the sampling fields when do_sample is true, and the eos ids', () => {
    expect(parseGenerationConfig(QWEN3_06B, 151936)).toEqual({
      eosTokenIds: [151645, 151643],
      defaults: { temperature: 0.6, topK: 20, topP: 0.95 },
    });
    expect(parseGenerationConfig({ do_sample: true, min_p: 0.05, repetition_penalty: 1.1, eos_token_id: 7 }, 100)).toEqual({
      eosTokenIds: [7],
      defaults: { temperature: 1, minP: 0.05, repetitionPenalty: 1.1 },
    });
  });

  it('do_sample false or absent is greedy decoding: only the repetition penalty applies', () => {
    expect(parseGenerationConfig({ ...QWEN3_06B, do_sample: false }, 151936).defaults).toEqual({});
    const { do_sample: _d, ...noFlag } = QWEN3_06B;
    expect(parseGenerationConfig({ ...noFlag, repetition_penalty: 1.2 }, 151936).defaults).toEqual({ repetitionPenalty: 1.2 });
    // Neutral values set nothing.
    expect(
      parseGenerationConfig({ do_sample: true, temperature: null, top_p: 1, top_k: 0, min_p: 0, repetition_penalty: 1 }, 10).defaults,
    ).toEqual({ temperature: 1 });
  });

  it('bad values name the field', () => {
    expect(() => parseGenerationConfig({ temperature: -1 }, 10)).toThrow(/temperature/);
    expect(() => parseGenerationConfig({ top_p: 0 }, 10)).toThrow(/top_p/);
    expect(() => parseGenerationConfig({ top_k: 2.5 }, 10)).toThrow(/top_k/);
    expect(() => parseGenerationConfig({ do_sample: true, top_k: 10 }, 10)).toThrow(/top_k: 10 is not below the vocabulary size 10/);
    expect(() => parseGenerationConfig({ do_sample: 'yes' }, 10)).toThrow(/do_sample/);
    expect(() => parseGenerationConfig({ eos_token_id: ['2'] }, 10)).toThrow(/eos_token_id/);
    expect(() => parseGenerationConfig({ eos_token_id: Array(2000).fill(1) }, 10)).toThrow(/eos_token_id/);
    expect(() => parseGenerationConfig([], 10)).toThrow(/expected a JSON object/);
  });
});

describe('Qwen3.load with generation_config.json', () => {
  const prompt = tinyQwen3Expected('dense').prompt;

  it('its sampling settings are the defaults of generate, stream and batchGenerate; explicit options win', async () => {
    const plain = await Qwen3.load(tinyQwen3Path('dense'));
    const m = await Qwen3.load(folderWith({ do_sample: true, temperature: 5, top_k: 50, eos_token_id: [] }));
    expect(m.generationDefaults).toEqual({ temperature: 5, topK: 50 });
    expect(plain.generationDefaults).toEqual({});
    const opts = { maxTokens: 24, seed: 3 };
    const greedy = (await plain.generate(prompt, opts)).tokens;
    const byFile = (await m.generate(prompt, opts)).tokens;
    // Sampling at temperature 5 from a random tiny model: 24 greedy tokens in a row would be a fluke.
    expect(byFile).not.toEqual(greedy);
    expect((await plain.generate(prompt, { ...opts, temperature: 5, topK: 50 })).tokens).toEqual(byFile);
    expect((await m.generate(prompt, { ...opts, temperature: 0 })).tokens).toEqual(greedy);
    const streamed: number[] = [];
    for await (const c of m.stream(prompt, opts)) if (c.token !== null) streamed.push(c.token);
    expect(streamed.slice(0, byFile.length)).toEqual(byFile);
    const [batchGreedy] = await m.batchGenerate([prompt], { ...opts, temperature: 0 });
    expect(batchGreedy.tokens).toEqual(greedy);
    // A custom sampler replaces the file's sampler settings instead of clashing with them.
    const argmax = (await import('@mlxn/core')).argmax;
    expect((await m.generate(prompt, { ...opts, sampler: (lp) => argmax(lp, -1) })).tokens).toEqual(greedy);
  });

  it('do_sample false keeps greedy decoding; eos ids end generation', async () => {
    const plain = await Qwen3.load(tinyQwen3Path('dense'));
    const greedy = (await plain.generate(prompt, { maxTokens: 8 })).tokens;
    const m = await Qwen3.load(folderWith({ do_sample: false, temperature: 5, eos_token_id: greedy[3] }));
    expect(m.eosTokenIds).toContain(greedy[3]);
    const r = await m.generate(prompt, { maxTokens: 8 });
    expect(r.tokens).toEqual(greedy.slice(0, greedy.indexOf(greedy[3])));
    expect(r.finishReason).toBe('stop');
  });

  it('an invalid file fails the load naming it', async () => {
    await expect(Qwen3.load(folderWith({ do_sample: true, top_p: 2 }))).rejects.toThrow(/generation_config\.json: top_p/);
  });
});
