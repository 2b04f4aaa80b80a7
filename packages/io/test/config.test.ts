import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../src/index.js';
import { tmp } from './helpers.js';

describe('readConfig', () => {
  it('reads config.json and generation_config.json', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'qwen3', hidden_size: 1024 }));
    expect(await readConfig(dir)).toEqual({ config: { model_type: 'qwen3', hidden_size: 1024 } });
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ temperature: 0.6, eos_token_id: [151645, 151643] }));
    expect((await readConfig(dir)).generationConfig).toEqual({ temperature: 0.6, eos_token_id: [151645, 151643] });
  });
  it('names the file and the problem', async () => {
    const dir = tmp();
    await expect(readConfig(dir)).rejects.toThrow(/config\.json: cannot read/);
    writeFileSync(join(dir, 'config.json'), '{nope');
    await expect(readConfig(dir)).rejects.toThrow(/config\.json: not valid JSON/);
    writeFileSync(join(dir, 'config.json'), '[1]');
    await expect(readConfig(dir)).rejects.toThrow(/expected a JSON object/);
    writeFileSync(join(dir, 'config.json'), '{}');
    mkdirSync(join(dir, 'generation_config.json'));
    await expect(readConfig(dir)).rejects.toThrow(/generation_config\.json: cannot read/);
  });
});
