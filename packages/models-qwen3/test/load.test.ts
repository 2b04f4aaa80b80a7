// Qwen3.load: folder layouts, options, and bad input (each failure names the problem).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { loadSync, saveSync } from '@mlxn/io';
import { Module, QuantizedEmbedding, QuantizedLinear } from '@mlxn/nn';
import { qwen3TokenizerDir, tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type LoadProgress, QuantizedSwitchLinear, Qwen3 } from '../src/index.js';
import { expectedArrays, maxAbsDiff, tinyQwen3Expected, tinyQwen3Path } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-load-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
/** A copy of a fixture folder to break. */
function copyOf(kind: 'dense' | 'moe' = 'dense'): string {
  const dir = join(work, `case-${n++}`);
  cpSync(tinyQwen3Path(kind), dir, { recursive: true });
  return dir;
}

/** Rewrites the single-file checkpoint of `dir` through `edit`. */
function editWeights(dir: string, edit: (w: Record<string, mx.Array>) => void): void {
  const file = join(dir, 'model.safetensors');
  const w = { ...loadSync(file).arrays };
  edit(w);
  mx.eval(...Object.values(w));
  rmSync(file);
  saveSync(file, w);
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const file = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(file, 'utf8'));
  edit(c);
  writeFileSync(file, JSON.stringify(c));
}

describe('Qwen3.load: layouts and options', () => {
  it('reads a sharded folder (index + 2 shards) with per-expert MoE weights stacked', async () => {
    const m = await Qwen3.load(tinyQwen3Path('moe'));
    const keys = m.namedParameters().map(([k]) => k);
    expect(keys).toContain('model.layers.0.mlp.switch_mlp.gate_proj.weight');
    expect(keys.some((k) => k.includes('.experts.'))).toBe(false);
    expect(m.model.layers[0].mlp.constructor.name).toBe('Qwen3SparseMoeBlock');
    expect(m.namedParameters().find(([k]) => k === 'model.layers.0.mlp.switch_mlp.down_proj.weight')![1].shape).toEqual([4, 64, 32]);
  });

  it('follows a quantized checkpoint: 4-bit layers, the 8-bit router override, float layers that do not divide the group', async () => {
    const m = await Qwen3.load(tinyQwen3Path('moe-4bit'));
    const layer = m.model.layers[0];
    const mlp = layer.mlp as unknown as { gate: QuantizedLinear; switchMlp: { gateProj: unknown; downProj: unknown } };
    expect(layer.selfAttn.qProj).toBeInstanceOf(QuantizedLinear);
    expect((layer.selfAttn.qProj as QuantizedLinear).bits).toBe(4);
    expect(mlp.gate).toBeInstanceOf(QuantizedLinear);
    expect(mlp.gate.bits).toBe(8);
    expect(mlp.switchMlp.gateProj).toBeInstanceOf(QuantizedSwitchLinear);
    // down_proj's input (32) is not a multiple of the group size (64): mlx-lm left it in float.
    expect(mlp.switchMlp.downProj).not.toBeInstanceOf(QuantizedSwitchLinear);
    const dense = await Qwen3.load(tinyQwen3Path('dense-4bit'));
    expect(dense.model.embedTokens).toBeInstanceOf(QuantizedEmbedding);
  });

  it('quantize at load time gives exactly what mlx-lm quantize_model wrote (dense and MoE)', async () => {
    for (const kind of ['dense', 'moe'] as const) {
      const m = await Qwen3.load(tinyQwen3Path(kind), { quantize: { bits: 4, groupSize: 64 } });
      const logits = m.forward(mx.array([tinyQwen3Expected(kind).prompt], 'int32'));
      expect(maxAbsDiff(logits, expectedArrays(`${kind}-4bit`).logits), kind).toBeLessThanOrEqual(1e-4);
      expect(m.config.quantization).toMatchObject({ bits: 4, groupSize: 64, mode: 'affine' });
      if (kind === 'moe') expect(m.config.quantization!.layers['model.layers.1.mlp.gate']).toMatchObject({ bits: 8, groupSize: 64 });
    }
  });

  it("quantize takes each mode's default group size and bits (as MLX and mlx-lm)", async () => {
    for (const [mode, groupSize, bits] of [
      ['affine', 64, 4],
      ['mxfp4', 32, 4],
      ['mxfp8', 32, 8],
      ['nvfp4', 16, 4],
    ] as const) {
      const m = await Qwen3.load(tinyQwen3Path('dense'), { quantize: { mode } });
      expect(m.config.quantization, mode).toEqual({ mode, groupSize, bits, layers: {} });
      const q = m.model.layers[0].selfAttn.qProj as unknown as QuantizedLinear;
      expect(q).toBeInstanceOf(QuantizedLinear);
      expect([q.mode, q.groupSize, q.bits]).toEqual([mode, groupSize, bits]);
    }
    await expect(Qwen3.load(tinyQwen3Path('dense'), { quantize: { mode: 'int4' as never } })).rejects.toThrow(
      /quantize\.mode must be 'affine', 'mxfp4', 'mxfp8' or 'nvfp4', got "int4"/,
    );
    await expect(Qwen3.load(tinyQwen3Path('dense'), { quantize: { group_size: 32 } as never })).rejects.toThrow(
      /quantize: unknown option "group_size" \(did you mean "groupSize"\?\)/,
    );
  });

  it('quantize lists the layers it leaves in floating point, and refuses a model it cannot quantize at all', async () => {
    // Hidden size 16, MLP width 32: at group size 32 only down_proj can be quantized.
    const folder = tinyQwen3WithTokenizer();
    const m = await Qwen3.load(folder, { quantize: { groupSize: 32 } });
    const float = [
      'model.embed_tokens',
      ...['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj'].map(
        (p) => `model.layers.0.${p}`,
      ),
    ];
    expect(m.config.quantization!.layers).toEqual(Object.fromEntries(float.map((p) => [p, false])));
    expect((m.model.layers[0].mlp as { downProj: unknown }).downProj).toBeInstanceOf(QuantizedLinear);
    expect(m.model.embedTokens).not.toBeInstanceOf(QuantizedEmbedding);
    await expect(Qwen3.load(folder, { quantize: { bits: 4, groupSize: 64 } })).rejects.toThrow(
      /cannot quantize with group size 64: no layer's input width \(16, 32\) is a multiple of it \(affine takes group sizes of 32, 64 or 128\)/,
    );
  });

  it('casts to float16 / bfloat16 on request', async () => {
    const ref = expectedArrays('dense').logits;
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const m = await Qwen3.load(tinyQwen3Path('dense'), { dtype });
      expect(new Set(m.namedParameters().map(([, a]) => a.dtype))).toEqual(new Set([dtype]));
      const logits = m.forward(mx.array([tinyQwen3Expected('dense').prompt], 'int32'));
      expect(logits.dtype).toBe(dtype);
      // Half precision: close to the float32 reference, not equal.
      expect(maxAbsDiff(logits, ref)).toBeLessThan(dtype === 'float16' ? 0.1 : 0.5);
    }
  });

  it('reports progress, honours lazy, and reads the tokenizer, chat template and eos ids', async () => {
    const events: LoadProgress[] = [];
    const m = await Qwen3.load(tinyQwen3Path('dense'), { onProgress: (e) => events.push(e) });
    expect(events[0].phase).toBe('config');
    expect(events.filter((e) => e.phase === 'weights').map((e) => e.done)).toEqual([1, 2, 3, 4]);
    expect(events.at(-1)!.phase).toBe('done');
    expect(m.tokenizer).toBeUndefined();
    expect(m.chatTemplate).toBeUndefined();
    expect(m.eosTokenIds).toEqual([2]);

    const lazy = await Qwen3.load(tinyQwen3Path('dense'), { lazy: true });
    expect(maxAbsDiff(lazy.forward(mx.array([[1, 2, 3]], 'int32')), m.forward(mx.array([[1, 2, 3]], 'int32')))).toBe(0);

    const withTok = await Qwen3.load(tinyQwen3WithTokenizer());
    expect(withTok.tokenizer?.encode('Hello')).toEqual([9707]);
    expect(withTok.chatTemplate).toContain('<|im_start|>');
    // config eos (151645 <|im_end|>) and the tokenizer's eos, deduplicated.
    expect(withTok.eosTokenIds).toContain(151645);
    expect(new Set(withTok.eosTokenIds).size).toBe(withTok.eosTokenIds.length);
  });

  it('reads model*.safetensors files and ignores other safetensors files beside them (adapters)', async () => {
    const dir = copyOf();
    saveSync(join(dir, 'adapters.safetensors'), { 'model.layers.0.self_attn.q_proj.lora_a': mx.zeros([64, 8]) });
    const m = await Qwen3.load(dir);
    expect(m.namedParameters().some(([k]) => k.includes('lora'))).toBe(false);
  });

  it('merges generation_config.json eos ids', async () => {
    const dir = copyOf();
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [2, 7] }));
    expect((await Qwen3.load(dir)).eosTokenIds).toEqual([2, 7]);
  });

  it('non-parameter state stays out of the parameter tree', async () => {
    const m = await Qwen3.load(tinyQwen3WithTokenizer());
    const keys = Object.keys(m.parameters());
    expect(keys).toEqual(['model']);
    expect(m.namedParameters().every(([k]) => k.startsWith('model.') || k.startsWith('lm_head.'))).toBe(true);
  });
});

describe('Qwen3.load: bad input', () => {
  it('a missing folder, a folder without config.json, a folder without weights', async () => {
    await expect(Qwen3.load(join(work, 'nope'))).rejects.toThrow(/is not a folder/);
    const noConfig = copyOf();
    rmSync(join(noConfig, 'config.json'));
    await expect(Qwen3.load(noConfig)).rejects.toThrow(/has no config.json/);
    const noWeights = copyOf();
    rmSync(join(noWeights, 'model.safetensors'));
    await expect(Qwen3.load(noWeights)).rejects.toThrow(/cannot read the weights.*no .*safetensors/);
  });

  it('a config of another architecture, or with invalid values', async () => {
    const llama = copyOf();
    editConfig(llama, (c) => {
      c.model_type = 'llama';
      c.architectures = ['LlamaForCausalLM'];
    });
    await expect(Qwen3.load(llama)).rejects.toThrow(/model_type is "llama" \(architectures: LlamaForCausalLM\).*'qwen3' and 'qwen3_moe'/);
    const bad = copyOf();
    editConfig(bad, (c) => {
      c.num_hidden_layers = -2;
    });
    await expect(Qwen3.load(bad)).rejects.toThrow(/num_hidden_layers/);
    const notJson = copyOf();
    writeFileSync(join(notJson, 'config.json'), '{ nope');
    await expect(Qwen3.load(notJson)).rejects.toThrow(/not valid JSON/);
  });

  it("checks a checkpoint's names and shapes once: the planner's check, not loadWeights' again", async () => {
    const loadWeights = vi.spyOn(Module.prototype, 'loadWeights');
    const assign = vi.spyOn(Module.prototype, 'assignCheckedWeights');
    try {
      await Qwen3.load(tinyQwen3Path('moe'));
      expect(loadWeights).not.toHaveBeenCalled();
      expect(assign).toHaveBeenCalledTimes(1);
    } finally {
      loadWeights.mockRestore();
      assign.mockRestore();
    }
  });

  it('missing, unexpected and mis-shaped weights are all named in one error', async () => {
    const dir = copyOf();
    editWeights(dir, (w) => {
      delete w['model.layers.1.mlp.up_proj.weight'];
      w['model.layers.0.self_attn.extra.weight'] = mx.zeros([2]);
      w['model.norm.weight'] = mx.zeros([63]);
    });
    const err = await Qwen3.load(dir).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain("missing weight(s): 'model.layers.1.mlp.up_proj.weight'");
    expect(msg).toContain("unexpected weight(s): 'model.layers.0.self_attn.extra.weight'");
    expect(msg).toContain("'model.norm.weight' has shape [63] but the model expects [64]");
  });

  it('a config that disagrees with the weights (intermediate size) is reported as mis-shaped weights', async () => {
    const dir = copyOf();
    editConfig(dir, (c) => {
      c.intermediate_size = 96;
    });
    await expect(Qwen3.load(dir)).rejects.toThrow(/mlp.gate_proj.weight' has shape \[128, 64\] but the model expects \[96, 64\]/);
  });

  it('a MoE checkpoint with a missing expert is rejected', async () => {
    const dir = copyOf('moe');
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    delete index.weight_map['model.layers.1.mlp.experts.2.up_proj.weight'];
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    await expect(Qwen3.load(dir)).rejects.toThrow(/model.layers.1.mlp.switch_mlp.up_proj.weight': missing expert\(s\) 2 of 4/);
  });

  it('a truncated weights file fails cleanly', async () => {
    const dir = copyOf();
    const file = join(dir, 'model.safetensors');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 1000));
    await expect(Qwen3.load(dir)).rejects.toThrow(/cannot read the weights/);
  });

  it('invalid options', async () => {
    const dir = tinyQwen3Path('dense');
    await expect(Qwen3.load(dir, { dtype: 'int8' as never })).rejects.toThrow(/dtype must be/);
    await expect(Qwen3.load(dir, { quantize: { bits: 0, groupSize: 64 } })).rejects.toThrow(/quantize must be/);
    await expect(Qwen3.load(tinyQwen3Path('dense-4bit'), { quantize: { bits: 4, groupSize: 64 } })).rejects.toThrow(/already quantized/);
  });

  it('an AbortSignal stops loading, before or during the weights', async () => {
    const before = new AbortController();
    before.abort(new Error('stop now'));
    await expect(Qwen3.load(tinyQwen3Path('dense'), { signal: before.signal })).rejects.toThrow('stop now');
    const during = new AbortController();
    const seen: string[] = [];
    const p = Qwen3.load(tinyQwen3Path('dense'), {
      signal: during.signal,
      onProgress: (e) => {
        seen.push(`${e.phase}:${e.done}`);
        if (e.phase === 'weights' && e.done === 1) during.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).not.toContain('done:1');
  });

  it('a failed load leaves nothing allocated (weights read before the failure are released)', async () => {
    // Warm up so MLX's own one-time allocations are not counted.
    await Qwen3.load(tinyQwen3Path('moe'), { lazy: true }).then((m) => mx.dispose(m.namedParameters().map(([, a]) => a)));
    const before = mx.memory().active;
    const ac = new AbortController();
    // Abort after every layer has been read (the weights are in memory at that point).
    const p = Qwen3.load(tinyQwen3Path('moe'), {
      signal: ac.signal,
      onProgress: (e) => {
        if (e.phase === 'weights' && e.done === e.total) ac.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    // The MoE fixture's weights are about 565 kB; what may remain is MLX bookkeeping (the
    // random key advanced by the discarded initialisers), a few hundred bytes.
    expect(mx.memory().active - before).toBeLessThan(4096);
  });

  it('a redundant tied lm_head and rotary inv_freq buffers are dropped', async () => {
    const dir = copyOf();
    editWeights(dir, (w) => {
      w['model.layers.0.self_attn.rotary_emb.inv_freq'] = mx.ones([8]);
    });
    const m = await Qwen3.load(dir);
    expect(m.lmHead).toBeUndefined();
    const logits = m.forward(mx.array([tinyQwen3Expected('dense').prompt], 'int32'));
    expect(maxAbsDiff(logits, expectedArrays('dense').logits)).toBeLessThanOrEqual(1e-4);
  });

  it('a tokenizer with more tokens than the embedding has rows is an error at load, naming both sizes', async () => {
    const dir = copyOf(); // vocab_size 512
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(qwen3TokenizerDir(), f), join(dir, f));
    const events: LoadProgress[] = [];
    await expect(Qwen3.load(dir, { onProgress: (e) => events.push(e) })).rejects.toThrow(
      /the tokenizer has 151669 tokens but the model's embedding has 512 rows \(vocab_size in config.json\), so ids such as <\|im_end\|> = 151645, <\|endoftext\|> = 151643 are out of range\. .*\{ truncatedVocab: true \}/,
    );
    expect(events.map((e) => e.phase)).toEqual(['config']); // before any weight is read
    // A model that deliberately keeps the first 512 ids of the real tokenizer says so.
    const m = await Qwen3.load(dir, { truncatedVocab: true });
    expect(m.tokenizer?.vocabSize).toBe(151669);
    const ids = m.tokenizer!.encode('3+4=', { addSpecialTokens: false });
    expect(Math.max(...ids)).toBeLessThan(512);
    expect(m.forward(mx.array([ids], 'int32')).shape).toEqual([1, ids.length, 512]);
    await expect(Qwen3.load(dir, { truncatedVocab: 'yes' as unknown as boolean })).rejects.toThrow(/truncatedVocab must be a boolean/);
    // The real vocabulary (151,936 rows) holds the tokenizer's 151,669 tokens.
    expect((await Qwen3.load(tinyQwen3WithTokenizer())).tokenizer?.vocabSize).toBe(151669);
  });

  it('a broken tokenizer.json is reported', async () => {
    const dir = copyOf();
    writeFileSync(join(dir, 'tokenizer.json'), '{"not": "a tokenizer"}');
    await expect(Qwen3.load(dir)).rejects.toThrow(/cannot read the tokenizer/);
  });
});
