// Every TypeScript block of the README runs, in order, in a fresh user project against the
// built package (the `openai` block is plain JS: the client is exercised by openai-client.test.ts).
import { join } from 'node:path';
import { readmeBlocks, readmeProject } from '@mlxn/test-support/readme';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const blocks = readmeBlocks(pkg);
const project = readmeProject(pkg);
afterAll(() => project.dispose());

describe('README examples', () => {
  it('makes a model folder, then serves it and answers chat and streamed completions', () => {
    expect(blocks).toHaveLength(3);
    expect(project.run(blocks[0])).toContain('model folder ready');
    const out = project.run(blocks[1]);
    expect(out).toMatch(/POST \/v1\/chat\/completions 200 .* completion=8 /);
    expect(out).toMatch(/prompt_tokens: \d+,\s+completion_tokens: 8,\s+total_tokens: \d+,\s+prompt_tokens_details: \{ cached_tokens: 0 \}/);
    expect(out).toMatch(/events, last: \[DONE\]/);
  });

  it('answers a json_schema response_format with a valid document', () => {
    expect(project.run(blocks[2])).toMatch(/^stop \{ city: '.*', unit: '[CF]', days: [1-7] \}$/ms);
  });
});
