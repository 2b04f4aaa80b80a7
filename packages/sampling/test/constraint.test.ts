// TokenConstraint on a small byte-level vocabulary (the 256 bytes, a few words and an
// end-of-sequence token, written as a Hugging Face tokenizer.json): masks, advancing, the
// end-of-sequence rule, errors, and the worker-thread build of the vocabulary.
import * as mx from '@mlxn/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyTokenMask, ConstraintError, ConstraintVocabulary, checkJsonDepth, TokenConstraint } from '../src/index.js';

/** GPT-2's byte → character table (what byte-level BPE vocabularies are spelled in). */
function byteChars(): string[] {
  const chars: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars.push(String.fromCodePoint(printable ? b : 256 + extra++));
  }
  return chars;
}

const WORDS = ['{"', '": ', 'true', 'false', 'ok'];
const spell = (text: string) => [...Buffer.from(text)].map((b) => byteChars()[b]).join('');
const EOS = 256 + WORDS.length;
const id = (w: string) => 256 + WORDS.indexOf(w);

function tokenizerJson(): string {
  const vocab: Record<string, number> = {};
  for (const [b, c] of byteChars().entries()) vocab[c] = b;
  for (const [i, w] of WORDS.entries()) vocab[spell(w)] = 256 + i;
  return JSON.stringify({
    added_tokens: [{ id: EOS, content: '<|eos|>', special: true }],
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges: [] },
  });
}

const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
let vocab: ConstraintVocabulary;
beforeAll(() => {
  vocab = ConstraintVocabulary.fromTokenizerJson(tokenizerJson(), [EOS]);
});

describe('TokenConstraint', () => {
  it('masks each step to what continues the document, then only end-of-sequence', () => {
    const c = TokenConstraint.jsonSchema(vocab, schema);
    expect(vocab.size).toBe(EOS + 1);
    expect(c.allowedTokens()).toEqual(['{'.charCodeAt(0), id('{"')]);
    for (const t of [id('{"'), id('ok'), id('": ')]) c.accept(t);
    expect(c.allowedTokens()).toEqual(['f'.charCodeAt(0), 't'.charCodeAt(0), id('true'), id('false')]);
    expect(c.isAccepting).toBe(false);
    c.accept(id('true'));
    c.accept('}'.charCodeAt(0));
    expect(c.isAccepting).toBe(true);
    expect(c.allowedTokens()).toEqual([EOS]);
    c.dispose();
    expect(() => c.allowedTokens()).toThrow(/disposed/);
  });

  it('gives a bool [1, width] mask that applyTokenMask applies, with extra columns refused', () => {
    const c = TokenConstraint.jsonSchema(vocab, schema);
    const width = EOS + 10;
    const mask = c.mask(width);
    expect(mask.shape).toEqual([1, width]);
    expect(mask.dtype).toBe('bool');
    const logits = applyTokenMask(mx.zeros([1, width]), mask);
    const row = (logits.tolist() as number[][])[0];
    expect(row.flatMap((v, i) => (v === 0 ? [i] : []))).toEqual(['{'.charCodeAt(0), id('{"')]);
    expect(row.filter((v) => v === -Infinity)).toHaveLength(width - 2);
    // `also` adds columns, `never` removes them (and `also` wins for a column in both).
    const both = (c.mask(width, { also: [EOS, 1], never: [id('{"'), 1] }).tolist() as boolean[][])[0];
    expect(both.flatMap((v, i) => (v ? [i] : []))).toEqual([1, '{'.charCodeAt(0), EOS]);
    c.dispose();
  });

  it('refuses a token the grammar does not allow', () => {
    const c = TokenConstraint.jsonSchema(vocab, schema);
    expect(() => c.accept('x'.charCodeAt(0))).toThrow(ConstraintError);
    c.dispose();
  });

  it('compiles Lark grammars with embedded schemas', () => {
    const c = TokenConstraint.lark(vocab, `start: "A" %json ${JSON.stringify(schema)}`);
    expect(c.allowedTokens()).toEqual(['A'.charCodeAt(0)]);
    c.dispose();
  });

  it('reports bad schemas and grammars as ConstraintError', () => {
    expect(() => TokenConstraint.jsonSchema(vocab, { type: 'nope' })).toThrow(ConstraintError);
    expect(() => TokenConstraint.jsonSchema(vocab, { type: 'string', enum: [] })).toThrow(/Unsatisfiable/);
    expect(() => TokenConstraint.jsonSchema(vocab, [] as never)).toThrow(/must be an object/);
    expect(() => TokenConstraint.lark(vocab, 'start: undefined_rule')).toThrow(ConstraintError);
    expect(() => ConstraintVocabulary.fromTokenizerJson('{}', [0])).toThrow(ConstraintError);
    expect(() => ConstraintVocabulary.fromTokenizerJson(tokenizerJson(), [])).toThrow(/eosTokenIds/);
    expect(() => ConstraintVocabulary.fromTokenizerJson(tokenizerJson(), [EOS + 1])).toThrow(/not in the vocabulary/);
  });

  it('refuses schemas nested past 128 levels before serializing them (no stack overflow)', () => {
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => TokenConstraint.jsonSchema(vocab, { type: 'object', properties: { a: deep } })).toThrow(
      /nests too deeply \(more than 128 levels/,
    );
    expect(() => checkJsonDepth({ a: [[[]]] }, 'x', 3)).toThrow(/x nests too deeply/);
    expect(() => checkJsonDepth({ a: [[]] }, 'x', 3)).not.toThrow();
  });

  it('builds the vocabulary on a worker thread too', async () => {
    const v = await ConstraintVocabulary.fromTokenizerJsonAsync(tokenizerJson(), [EOS]);
    expect(v.size).toBe(vocab.size);
    const c = TokenConstraint.jsonSchema(v, schema);
    expect(c.allowedTokens()).toEqual(['{'.charCodeAt(0), id('{"')]);
    c.dispose();
    await expect(ConstraintVocabulary.fromTokenizerJsonAsync('{', [0])).rejects.toThrow(ConstraintError);
  });
});
