/**
 * Stopping: stop token ids end generation at once; stop strings are matched on the decoded
 * text, so a stop string split over several tokens (or merged into one token with its
 * neighbours) is still found. Text that could be the start of a stop string is held back until
 * the next piece shows whether it is, so no part of a stop string is ever returned.
 */

/** What `StopStrings.push` returns. */
export interface StopCheck {
  /** Text that is safe to return now. */
  text: string;
  /** Whether a stop string was found (text after it is discarded). */
  stopped: boolean;
}

/** Incremental stop-string matcher for one stream of text. */
export class StopStrings {
  readonly #stops: readonly string[];
  #held = '';
  #stopped = false;

  constructor(stops: readonly string[]) {
    for (const s of stops)
      if (typeof s !== 'string' || s.length === 0) throw new TypeError(`stop strings must be non-empty strings, got ${JSON.stringify(s)}`);
    this.#stops = [...stops];
  }

  /** Adds decoded text; returns what may be emitted and whether a stop string completed. */
  /** Whether there are stop strings to watch for (without any, the text is not needed per token). */
  get active(): boolean {
    return this.#stops.length > 0;
  }

  push(piece: string): StopCheck {
    if (this.#stopped) return { text: '', stopped: true };
    if (this.#stops.length === 0) return { text: piece, stopped: false };
    const buf = this.#held + piece;
    let first = -1;
    for (const s of this.#stops) {
      const i = buf.indexOf(s);
      if (i !== -1 && (first === -1 || i < first)) first = i;
    }
    if (first !== -1) {
      this.#stopped = true;
      this.#held = '';
      return { text: buf.slice(0, first), stopped: true };
    }
    const hold = heldLength(buf, this.#stops);
    this.#held = buf.slice(buf.length - hold);
    return { text: buf.slice(0, buf.length - hold), stopped: false };
  }

  /** Returns the held text (the stream ended without completing a stop string). */
  flush(): string {
    const t = this.#stopped ? '' : this.#held;
    this.#held = '';
    return t;
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}

/** Length of the longest end of `text` that is a proper prefix of one of `stops`. */
export function heldLength(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
      if (text.endsWith(s.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

/** The token ids that end generation: the model's end-of-sequence ids and the caller's. */
export function stopTokenSet(eosTokenIds: Iterable<number>, extra: Iterable<number>): Set<number> {
  return new Set([...eosTokenIds, ...extra]);
}
