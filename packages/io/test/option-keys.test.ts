// Unknown option keys are errors naming the nearest option (a typo would otherwise be ignored).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { load, loadSync, readConfig, save, saveSync, Tokenizer } from '../src/index.js';
import { QWEN3 } from './helpers.js';

describe('unknown option keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlxn-io-keys-'));
  const file = join(dir, 'a.safetensors');

  it('checkpoints', async () => {
    const a = mx.ones([2]);
    expect(() => saveSync(file, { a }, { metaData: { x: '1' } } as object)).toThrow(
      /save: unknown option "metaData" \(did you mean "metadata"\?\)/,
    );
    await expect(save(file, { a }, { max_shard_size: '1GB' } as object)).rejects.toThrow(
      /save: unknown option "max_shard_size" \(did you mean "maxShardSize"\?\)/,
    );
    saveSync(file, { a }, { metadata: { x: '1' } });
    expect(() => loadSync(file, { filters: ['a'] } as object)).toThrow(/load: unknown option "filters" \(did you mean "filter"\?\)/);
    await expect(load(file, { lazy: true } as object)).rejects.toThrow(/load: unknown option "lazy"/);
    expect(loadSync(file, { filter: ['a'] }).metadata).toEqual({ x: '1' });
  });

  it('readConfig', async () => {
    writeFileSync(join(dir, 'config.json'), '{"model_type": "qwen3"}');
    await expect(readConfig(dir, { maxbytes: 10 } as object)).rejects.toThrow(
      /readConfig: unknown option "maxbytes" \(did you mean "maxBytes"\?\)/,
    );
  });

  it('tokenizer', () => {
    const tok = Tokenizer.loadSync(QWEN3);
    expect(() => tok.encode('hi', { addSpecialToken: false } as object)).toThrow(
      /encode: unknown option "addSpecialToken" \(did you mean "addSpecialTokens"\?\)/,
    );
    expect(() => tok.encodeBatch(['hi'], { special: false } as object)).toThrow(/encodeBatch: unknown option "special"/);
    expect(() => tok.decode([1], { skip_special_tokens: true } as object)).toThrow(
      /decode: unknown option "skip_special_tokens" \(did you mean "skipSpecialTokens"\?\)/,
    );
    expect(() => tok.decodeBatch([[1]], { skipSpecial: true } as object)).toThrow(/decodeBatch: unknown option "skipSpecial"/);
    expect(() => tok.detokenizer({ skipSpecialToken: true } as object)).toThrow(
      /detokenizer: unknown option "skipSpecialToken" \(did you mean "skipSpecialTokens"\?\)/,
    );
    const messages = [{ role: 'user', content: 'hi' }];
    expect(() => tok.applyChatTemplate(messages, { add_generation_prompt: true } as object)).toThrow(
      /applyChatTemplate: unknown option "add_generation_prompt" \(did you mean "addGenerationPrompt"\?\)/,
    );
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true, enableThinking: false })).toContain('<|im_start|>assistant');
  });
});
