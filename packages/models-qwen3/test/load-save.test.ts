// model.save → Qwen3.load round trips; the written folder's layout; atomic replacement.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { inspectSafetensors } from '@mlxn/io';
import { tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { afterAll, describe, expect, it } from 'vitest';
import { Qwen3 } from '../src/index.js';
import { maxAbsDiff, tinyQwen3Expected, tinyQwen3Path } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-save-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sameParameters(a: Qwen3, b: Qwen3): void {
  const pa = a.namedParameters();
  const pb = new Map(b.namedParameters());
  expect([...pb.keys()].sort()).toEqual(pa.map(([k]) => k).sort());
  for (const [k, v] of pa) {
    expect(pb.get(k)!.dtype, k).toBe(v.dtype);
    expect(mx.arrayEqual(v, pb.get(k)!).item(), k).toBe(true);
  }
}

/** Tensor names over every safetensors file of a folder. */
function savedNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .flatMap((f) => inspectSafetensors(join(dir, f)).tensors.map((t) => t.name));
}

describe('Qwen3.save', () => {
  it.each(['dense', 'moe', 'dense-4bit', 'moe-4bit'] as const)('%s: save then load gives the same parameters and logits', async (kind) => {
    const m = await Qwen3.load(tinyQwen3Path(kind));
    const out = join(work, `rt-${kind}`);
    await m.save(out);
    const back = await Qwen3.load(out);
    sameParameters(m, back);
    const prompt = mx.array([tinyQwen3Expected(kind).prompt], 'int32');
    expect(maxAbsDiff(back.forward(prompt), m.forward(prompt))).toBe(0);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.model_type).toBe(m.config.modelType);
    expect(config.quantization !== undefined).toBe(kind.endsWith('4bit'));
    expect(config.torch_dtype).toBe('float32');
  });

  it('float MoE experts are written one by one (the Hugging Face layout), quantized ones stacked', async () => {
    const moe = await Qwen3.load(tinyQwen3Path('moe'));
    await moe.save(join(work, 'moe-layout'));
    const names = savedNames(join(work, 'moe-layout'));
    expect(names).toContain('model.layers.1.mlp.experts.3.down_proj.weight');
    expect(names.some((n) => n.includes('switch_mlp'))).toBe(false);
    const q = await Qwen3.load(tinyQwen3Path('moe-4bit'));
    await q.save(join(work, 'moe4-layout'));
    expect(savedNames(join(work, 'moe4-layout'))).toContain('model.layers.1.mlp.switch_mlp.up_proj.scales');
  });

  it('shards past maxShardSize, with an index that loads back', async () => {
    const m = await Qwen3.load(tinyQwen3Path('dense'));
    const out = join(work, 'sharded');
    const files = await m.save(out, { maxShardSize: 100_000 });
    const shards = files.filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(2);
    expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(true);
    sameParameters(m, await Qwen3.load(out));
  });

  it('copies the tokenizer files and keeps a tied model tied', async () => {
    const src = tinyQwen3WithTokenizer();
    const m = await Qwen3.load(src);
    const out = join(work, 'with-tokenizer');
    await m.save(out);
    expect(readFileSync(join(out, 'tokenizer.json')).equals(readFileSync(join(src, 'tokenizer.json')))).toBe(true);
    expect(existsSync(join(out, 'tokenizer_config.json'))).toBe(true);
    expect(savedNames(out)).not.toContain('lm_head.weight');
    const back = await Qwen3.load(out);
    expect(back.tokenizer?.encode('Hello')).toEqual([9707]);
    expect(back.chatTemplate).toBe(m.chatTemplate);
  });

  it('copies every side file the source folder has, a SentencePiece tokenizer.model and the generation config among them', async () => {
    const src = join(work, 'side-files-source');
    cpSync(tinyQwen3WithTokenizer(), src, { recursive: true });
    writeFileSync(join(src, 'tokenizer.model'), Buffer.from([0x0a, 0x05, 0x3c, 0x75, 0x6e, 0x6b, 0x3e]));
    writeFileSync(join(src, 'generation_config.json'), '{"temperature":0.6}');
    const out = join(work, 'side-files');
    await (await Qwen3.load(src)).save(out);
    for (const f of ['tokenizer.model', 'generation_config.json'])
      expect(readFileSync(join(out, f)).equals(readFileSync(join(src, f))), f).toBe(true);
  });

  it('a bfloat16 model saves bfloat16 weights and loads back as bfloat16', async () => {
    const m = await Qwen3.load(tinyQwen3Path('moe'), { dtype: 'bfloat16' });
    const out = join(work, 'bf16');
    await m.save(out);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    const back = await Qwen3.load(out);
    sameParameters(m, back);
    expect(back.model.norm.weight.dtype).toBe('bfloat16');
  });

  it('a quantized-at-load model saves as a quantized checkpoint', async () => {
    const m = await Qwen3.load(tinyQwen3Path('dense'), { quantize: { bits: 4, groupSize: 64 } });
    const out = join(work, 'q-at-load');
    await m.save(out);
    const back = await Qwen3.load(out);
    expect(back.config.quantization).toMatchObject({ bits: 4, groupSize: 64 });
    sameParameters(m, back);
  });

  it('replaces an existing folder; a failed save leaves it as it was and no temporary folder behind', async () => {
    const m = await Qwen3.load(tinyQwen3Path('dense'));
    const out = join(work, 'replace');
    await m.save(out);
    writeFileSync(join(out, 'stale.txt'), 'old');
    await m.save(out);
    expect(existsSync(join(out, 'stale.txt'))).toBe(false);
    writeFileSync(join(out, 'marker.txt'), 'keep me');
    await expect(m.save(out, { maxShardSize: 'lots' })).rejects.toThrow(/Qwen3.save: .*maxShardSize/);
    expect(readFileSync(join(out, 'marker.txt'), 'utf8')).toBe('keep me');
    expect(readdirSync(work).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);
  });

  it('refuses a path that is a file', async () => {
    const m = await Qwen3.load(tinyQwen3Path('dense'));
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    await expect(m.save(file)).rejects.toThrow(/exists and is not a folder/);
  });
});
