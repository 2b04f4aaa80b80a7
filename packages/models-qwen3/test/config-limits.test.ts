// What a config.json may ask for is bounded (QWEN3_CONFIG_LIMITS), and the layer count is checked
// against the weights before a model is built: `num_hidden_layers: 1e7` used to build layers
// until memory ran out (the battery in hostile.test.ts runs that load in a child process).
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { describe, expect, it } from 'vitest';
import { parseQwen3Config, QWEN3_CONFIG_LIMITS, Qwen3 } from '../src/index.js';

const SMALL = { model_type: 'qwen3', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 };

describe('config limits', () => {
  it('refuses each size past its limit, naming the key, the limit and how to raise it', () => {
    expect(() => parseQwen3Config({ ...SMALL, num_hidden_layers: 1e7 })).toThrow(
      'Qwen3 config: num_hidden_layers = 10000000 exceeds the limit of 1024 (raise it with the configLimits option: { numHiddenLayers: 10000000 })',
    );
    const keys: [string, keyof typeof QWEN3_CONFIG_LIMITS][] = [
      ['hidden_size', 'hiddenSize'],
      ['intermediate_size', 'intermediateSize'],
      ['vocab_size', 'vocabSize'],
      ['num_attention_heads', 'numAttentionHeads'],
      ['num_key_value_heads', 'numKeyValueHeads'],
      ['head_dim', 'headDim'],
      ['max_position_embeddings', 'maxPositionEmbeddings'],
    ];
    for (const [key, limit] of keys) {
      const value = QWEN3_CONFIG_LIMITS[limit] + 1;
      expect(() => parseQwen3Config({ ...SMALL, [key]: value })).toThrow(
        `Qwen3 config: ${key} = ${value} exceeds the limit of ${QWEN3_CONFIG_LIMITS[limit]}`,
      );
    }
    expect(() =>
      parseQwen3Config({ ...SMALL, model_type: 'qwen3_moe', num_experts: 5000, num_experts_per_tok: 2, moe_intermediate_size: 8 }),
    ).toThrow('num_experts = 5000 exceeds the limit of 4096');
  });

  it('a limit can be raised, and only known limits with positive integers', () => {
    expect(parseQwen3Config({ ...SMALL, num_hidden_layers: 2000 }, { limits: { numHiddenLayers: 2000 } }).numHiddenLayers).toBe(2000);
    expect(() => parseQwen3Config(SMALL, { limits: { numLayers: 5 } as never })).toThrow(/unknown limit "numLayers"/);
    expect(() => parseQwen3Config(SMALL, { limits: { hiddenSize: 0 } })).toThrow(
      'parseQwen3Config: configLimits.hiddenSize must be a positive integer, got 0',
    );
  });

  it('mlp_only_layers may only name layers the model has', () => {
    expect(() => parseQwen3Config({ ...SMALL, mlp_only_layers: [5] })).toThrow('mlp_only_layers names layer 5, but the model has 2 layers');
  });

  it('Qwen3.load checks num_hidden_layers against the weights before building anything', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'mlxn-qwen3-limits-')), 'model');
    cpSync(tinyQwen3Path('dense'), dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 1000 }));
    await expect(Qwen3.load(dir)).rejects.toThrow(
      `${join(dir, 'config.json')}: num_hidden_layers = 1000, but the checkpoint's weights are for 2 layers (model.layers.0 to model.layers.1)`,
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 1e7 }));
    await expect(Qwen3.load(dir)).rejects.toThrow(/num_hidden_layers = 10000000 exceeds the limit of 1024/);
    await expect(Qwen3.load(dir, { configLimits: { numHiddenLayers: 1e7 } })).rejects.toThrow(
      /num_hidden_layers = 10000000, but the checkpoint's weights are for 2 layers/,
    );
    await expect(Qwen3.load(dir, { configLimits: { layers: 1 } as never })).rejects.toThrow(
      /Qwen3\.load: configLimits: unknown limit "layers"/,
    );
  });
});
