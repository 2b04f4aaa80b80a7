// Stop strings on streamed text: found across piece boundaries, never partly returned.
import { describe, expect, it } from 'vitest';
import { heldLength, StopStrings } from '../src/lm/stop.js';

/** Feeds the pieces and returns [emitted text, stopped]. */
function run(stops: string[], pieces: string[]): [string, boolean] {
  const s = new StopStrings(stops);
  let out = '';
  for (const p of pieces) {
    const r = s.push(p);
    out += r.text;
    if (r.stopped) return [out, true];
  }
  return [out + s.flush(), false];
}

describe('StopStrings', () => {
  it('stops at a string inside one piece and drops it and what follows', () => {
    expect(run(['END'], ['abc END def'])).toEqual(['abc ', true]);
  });

  it('finds a stop string split over pieces, whatever the cut', () => {
    const text = 'The answer is 42.\n###\nMore text';
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j += 3) {
        expect(run(['###'], [text.slice(0, i), text.slice(i, j), text.slice(j)])).toEqual(['The answer is 42.\n', true]);
      }
    }
  });

  it('holds back only what could start a stop string, and releases it when it does not', () => {
    const s = new StopStrings(['</done>']);
    expect(s.push('a </d')).toEqual({ text: 'a ', stopped: false });
    expect(s.push('iv>')).toEqual({ text: '</div>', stopped: false });
    expect(s.push('x </do')).toEqual({ text: 'x ', stopped: false });
    expect(s.flush()).toBe('</do');
  });

  it('stops at the earliest of several stop strings', () => {
    expect(run(['bbb', 'ab'], ['xxa', 'bbb'])).toEqual(['xx', true]);
  });

  it('passes text through when there are no stop strings', () => {
    expect(run([], ['a', '<', 'b'])).toEqual(['a<b', false]);
  });

  it('returns nothing after stopping', () => {
    const s = new StopStrings(['x']);
    expect(s.push('axb').stopped).toBe(true);
    expect(s.push('more')).toEqual({ text: '', stopped: true });
    expect(s.flush()).toBe('');
  });

  it('rejects empty stop strings', () => {
    expect(() => new StopStrings([''])).toThrow(/non-empty/);
  });

  it('heldLength is the longest end that starts a stop string', () => {
    expect(heldLength('abc', ['cde', 'bcx'])).toBe(2);
    expect(heldLength('abc', ['xyz'])).toBe(0);
    expect(heldLength('aaa', ['aaab'])).toBe(3);
  });
});
