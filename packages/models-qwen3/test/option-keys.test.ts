// Unknown option keys of loading, saving and Ctrl-C counting are errors naming the nearest
// option (a typo would otherwise be ignored and the default used).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onInterrupt } from '../src/cli/interrupts.js';
import { Qwen3 } from '../src/index.js';
import { checkKeys } from '../src/lm/options.js';
import { saveQwen3 } from '../src/save.js';

const dir = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-keys-'));

describe('unknown option keys', () => {
  it('Qwen3.load', async () => {
    await expect(Qwen3.load(dir, { dType: 'float16' } as object)).rejects.toThrow(
      /Qwen3.load: unknown option "dType" \(did you mean "dtype"\?\)/,
    );
    await expect(Qwen3.load(dir, { truncateVocab: true } as object)).rejects.toThrow(
      /Qwen3.load: unknown option "truncateVocab" \(did you mean "truncatedVocab"\?\)/,
    );
    await expect(Qwen3.load(dir, { quantize: { bit: 4 } } as object)).rejects.toThrow(
      /Qwen3.load: quantize: unknown option "bit" \(did you mean "bits"\?\)/,
    );
  });

  it('Qwen3.save', () => {
    expect(() => saveQwen3({} as Qwen3, join(dir, 'out'), { maxShard: '1GB' } as object)).toThrow(/Qwen3.save: unknown option "maxShard"/);
    expect(() => saveQwen3({} as Qwen3, join(dir, 'out'), { max_shard_size: '1GB' } as object)).toThrow(
      /\(did you mean "maxShardSize"\?\)/,
    );
  });

  it('onInterrupt', () => {
    expect(() => onInterrupt(() => {}, { coalesce: 10 } as object)).toThrow(/onInterrupt: unknown option "coalesce"/);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('generation options: did-you-mean within two edits', () => {
    expect(() => checkKeys({ maxToken: 3 }, ['maxTokens', 'sampler'], 'Qwen3.generate')).toThrow(
      /unknown option "maxToken" \(did you mean "maxTokens"\?\)/,
    );
  });
});
