// Hostile tokenizer.json and tokenizer_config.json files: malformed, truncated, of the wrong
// shape, huge, deeply nested. A case passes when loading fails with an error naming the file, or
// when the folder still holds a usable tokenizer and it encodes and decodes text correctly.
import { readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseDir, type HostileCase } from '@mlxn/test-support/hostile';
import { Tokenizer } from '../../src/index.js';
import { QWEN3 } from '../helpers.js';

let realTokenizer: string | undefined;
const tokenizerText = () => (realTokenizer ??= readFileSync(join(QWEN3, 'tokenizer.json'), 'utf8'));

/** A tokenizer that still loads must round-trip text exactly as the real one does. */
function roundTrips(r: { ids: number[]; text: string }): true | string {
  if (JSON.stringify(r.ids) !== JSON.stringify([9707, 11, 1879, 0])) return `encoded 'Hello, world!' as ${JSON.stringify(r.ids)}`;
  return r.text === 'Hello, world!' ? true : `decoded ${JSON.stringify(r.text)}`;
}

function useTokenizer(dir: string) {
  const tok = Tokenizer.loadSync(dir);
  const ids = tok.encode('Hello, world!', { addSpecialTokens: false });
  return { ids, text: tok.decode(ids) };
}

function tokenizerJson(name: string, contents: () => string | Buffer, accept?: typeof roundTrips): HostileCase {
  return {
    name: `tokenizer.json ${name}`,
    class: 'tokenizer.files',
    timeoutMs: 20_000,
    run() {
      const dir = caseDir('tok');
      writeFileSync(join(dir, 'tokenizer.json'), contents());
      return useTokenizer(dir);
    },
    accept: accept as HostileCase['accept'],
    error: /tokenizer\.json: /,
  };
}

function tokenizerConfig(name: string, contents: () => string | Buffer, accept?: typeof roundTrips): HostileCase {
  return {
    name: `tokenizer_config.json ${name}`,
    class: 'tokenizer.files',
    timeoutMs: 20_000,
    run() {
      const dir = caseDir('tok');
      symlinkSync(join(QWEN3, 'tokenizer.json'), join(dir, 'tokenizer.json'));
      writeFileSync(join(dir, 'tokenizer_config.json'), contents());
      return useTokenizer(dir);
    },
    accept: accept as HostileCase['accept'],
    error: /tokenizer_config\.json: /,
  };
}

const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

function replaced(from: string, to: string) {
  return () => {
    const t = tokenizerText();
    if (!t.includes(from)) throw new Error(`test setup: '${from}' is not in tokenizer.json`);
    return t.replace(from, to);
  };
}

export const cases = (): HostileCase[] => [
  tokenizerJson('the real file loads', () => tokenizerText(), roundTrips),
  ...[0, 1, 100, 5000, 100_000, 1_000_000, 5_000_000].map((n) =>
    tokenizerJson(`truncated to ${n} bytes`, () => tokenizerText().slice(0, n)),
  ),
  tokenizerJson('empty', () => ''),
  tokenizerJson('a list', () => '[]'),
  tokenizerJson('null', () => 'null'),
  tokenizerJson('{}', () => '{}'),
  tokenizerJson('not UTF-8', () => Buffer.from([0x7b, 0xff, 0xfe, 0x7d])),
  tokenizerJson('model is a number', () => '{"model": 1}'),
  tokenizerJson('model type unknown', replaced('"type": "BPE"', '"type": "NOPE"')),
  tokenizerJson('vocab is a list', () =>
    JSON.stringify({ ...JSON.parse(tokenizerText()), model: { ...JSON.parse(tokenizerText()).model, vocab: [1, 2] } }),
  ),
  tokenizerJson('nested 100000 deep', () => `{"model":${deep(100_000)}}`),
  tokenizerJson('objects nested 100000 deep', () => deepObject(100_000)),
  tokenizerJson('pre_tokenizer regex that does not compile', replaced('"pattern": {', '"pattern": {"Regex": "(", "x": {')),
  tokenizerJson('added token with id 2^32', replaced('"id": 151643', '"id": 4294967296')),
  tokenizerJson('added token with id -1', replaced('"id": 151643', '"id": -1')),
  tokenizerJson('merges of the wrong type', replaced('"merges": [', '"merges": [7, ')),
  {
    name: 'tokenizer.json past the size limit (a sparse 300 MiB file)',
    class: 'tokenizer.files',
    timeoutMs: 20_000,
    run() {
      const dir = caseDir('tok');
      writeFileSync(join(dir, 'tokenizer.json'), '{');
      truncateSync(join(dir, 'tokenizer.json'), 300 * 2 ** 20);
      return useTokenizer(dir);
    },
    error: /tokenizer\.json: .*exceeds the limit of \d+ bytes/,
  },
  tokenizerConfig('valid ({})', () => '{}', roundTrips),
  tokenizerConfig('empty', () => ''),
  tokenizerConfig('a list', () => '[1, 2]'),
  tokenizerConfig('a string', () => '"x"'),
  tokenizerConfig('not UTF-8', () => Buffer.from([0x7b, 0xff, 0x7d])),
  tokenizerConfig('nested 100000 deep', () => `{"chat_template":${deep(100_000)}}`),
  tokenizerConfig('objects nested 100000 deep', () => deepObject(100_000)),
  tokenizerConfig('nested 100 deep (valid)', () => `{"x":${deep(100)}}`, roundTrips),
  tokenizerConfig(
    'special tokens of the wrong types',
    () => JSON.stringify({ bos_token: 1, eos_token: [1], pad_token: { content: 5 }, unk_token: null, additional_special_tokens: 'x' }),
    roundTrips,
  ),
  tokenizerConfig('chat_template of the wrong type', () => JSON.stringify({ chat_template: 42 }), roundTrips),
  tokenizerConfig('chat_template list of junk', () => JSON.stringify({ chat_template: [1, null, { name: 'default' }] }), roundTrips),
  tokenizerConfig('a 5 MB eos_token', () => JSON.stringify({ eos_token: 'x'.repeat(5_000_000) }), roundTrips),
  tokenizerConfig('truncated', () => '{"eos_token": "<|im_e'),
  {
    name: 'tokenizer_config.json past the size limit (a sparse 100 MiB file)',
    class: 'tokenizer.files',
    timeoutMs: 20_000,
    run() {
      const dir = caseDir('tok');
      symlinkSync(join(QWEN3, 'tokenizer.json'), join(dir, 'tokenizer.json'));
      writeFileSync(join(dir, 'tokenizer_config.json'), '{');
      truncateSync(join(dir, 'tokenizer_config.json'), 100 * 2 ** 20);
      return useTokenizer(dir);
    },
    error: /tokenizer_config\.json: .*exceeds the limit of \d+ bytes/,
  },
];
