// The streaming detokenizer: the same text, piece for piece, as the detokenizer that decoded the
// whole segment at every token (still in the native binary as IoStreamState/streamPush), with
// bounded decoding work per token. Over the real Qwen3 tokenizer.
import { native } from '@mlxn/core/internal';
import { describe, expect, it } from 'vitest';
import { StreamingDetokenizer, Tokenizer } from '../src/index.js';
import { QWEN3 } from './helpers.js';

const tok = Tokenizer.loadSync(QWEN3);
const nativeTok = native.IoTokenizer.fromFolder(QWEN3);

/** Per-token outputs and the final flush of the whole-segment detokenizer. */
function wholeSegmentPieces(ids: number[], skip: boolean): string[] {
  const state = new native.IoStreamState();
  const pieces = ids.map((id) => nativeTok.streamPush(state, id, skip));
  pieces.push(nativeTok.streamFinish(state, skip));
  return pieces;
}

function windowedPieces(ids: number[], skip: boolean): string[] {
  const d = tok.detokenizer({ skipSpecialTokens: skip });
  const pieces = ids.map((id) => d.add(id));
  pieces.push(d.finalize());
  expect(d.text).toBe(pieces.join(''));
  return pieces;
}

/** A seeded generator (mulberry32). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const texts = [
  'Emoji: 😀🎉👩‍👩‍👧‍👦 🇯🇵 ok',
  '你好，世界！\n第二行\n\n  indented\tline\r\nwindows',
  'def f():\n    return 1\n',
  `é${'🚀'.repeat(5)}𠜎𠜱𠝹 𝔘𝔫𝔦`,
  '<|im_start|>user\nhi 👋<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nΓειά σου κόσμε — ça va? ',
  '   leading spaces, trailing spaces   ',
  '\n\n\nnewlines first',
];

describe('same pieces as decoding the whole segment', () => {
  for (const text of texts) {
    it(JSON.stringify(text.slice(0, 24)), () => {
      const ids = tok.encode(text, { addSpecialTokens: false });
      for (const skip of [false, true]) expect(windowedPieces(ids, skip)).toEqual(wholeSegmentPieces(ids, skip));
    });
  }

  it('a long line without newlines (multi-byte characters split across tokens)', () => {
    const line = Array.from({ length: 300 }, (_, i) => ['数据', ' 😀', ' naïve', ' 𠜎', '  ', 'ok', ' Ж'][i % 7]).join('');
    const ids = tok.encode(line, { addSpecialTokens: false });
    expect(ids.some((id) => tok.decode([id]).includes('\uFFFD'))).toBe(true);
    expect(windowedPieces(ids, false)).toEqual(wholeSegmentPieces(ids, false));
  });

  it('random token streams (byte tokens, invalid UTF-8, special tokens)', () => {
    const random = seeded(7);
    const byteTokens = Array.from({ length: 256 }, (_, b) => b); // ids of the 256 single-byte tokens come first in Qwen3's vocab
    for (let c = 0; c < 60; c++) {
      const ids = Array.from({ length: 80 }, () => {
        const r = random();
        if (r < 0.4) return byteTokens[Math.floor(random() * 256)];
        if (r < 0.45) return 151643 + Math.floor(random() * 26); // special and added tokens
        return Math.floor(random() * 151643);
      });
      for (const skip of [false, true])
        expect({ c, skip, pieces: windowedPieces(ids, skip) }).toEqual({ c, skip, pieces: wholeSegmentPieces(ids, skip) });
    }
  });
});

describe('bounded work', () => {
  it('decodes a bounded number of tokens per token over 20,000 tokens without a newline', () => {
    const base = 'The quick brown fox 跳过了懒狗 😀 — naïve café, 𠜎 and 🇯🇵; ';
    const ids = tok
      .encode(base.repeat(Math.ceil(20000 / tok.encode(base, { addSpecialTokens: false }).length)), { addSpecialTokens: false })
      .slice(0, 20000);
    expect(tok.decode(ids)).not.toContain('\n');
    let decoded = 0;
    let most = 0;
    const d = new StreamingDetokenizer((window) => {
      decoded += window.length;
      return tok.decode(window);
    });
    for (const id of ids) {
      const before = decoded;
      d.add(id);
      most = Math.max(most, decoded - before);
    }
    expect(d.text + d.finalize()).toBe(tok.decode(ids));
    // A window holds the tokens of the last emitted piece and the ones since (a character of
    // up to 4 bytes spans at most 4 byte tokens), each decoded twice at most.
    expect(most).toBeLessThanOrEqual(16);
    expect(decoded / ids.length).toBeLessThan(4);
  });
});
