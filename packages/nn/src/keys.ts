/**
 * Checkpoint keys ↔ property paths. Module property names mirror checkpoint keys segment by
 * segment (`selfAttn.qProj` ↔ `self_attn.q_proj`), so weights load by tree path. The
 * conversion is a few lines of string work that runs for every parameter name, so it stays here
 * rather than behind a call into the addon; the weight-set check is mlxn-nn's.
 */
import { native } from '@mlxn/core/internal';

const isUpper = (c: string | undefined) => c !== undefined && c >= 'A' && c <= 'Z';
const isLower = (c: string | undefined) => c !== undefined && c >= 'a' && c <= 'z';

/**
 * `qProj` → `q_proj` for one path segment. An upper-case letter starts a new word; runs of
 * capitals stay together as one word (`fcIO` → `fc_io`), digits never split.
 */
export function checkpointSegment(segment: string): string {
  const chars = [...segment];
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (!isUpper(c)) {
      out += c;
      continue;
    }
    const prevUpper = i > 0 && isUpper(chars[i - 1]);
    if (i > 0 && chars[i - 1] !== '_' && (!prevUpper || isLower(chars[i + 1]))) out += '_';
    out += c.toLowerCase();
  }
  return out;
}

/**
 * `q_proj` → `qProj` for one key segment; the inverse of `checkpointSegment` on the names either
 * produces. A leading underscore is kept (private names), as is any underscore not followed by
 * a letter.
 */
function propertySegment(segment: string): string {
  const chars = [...segment];
  let out = '';
  let upperNext = false;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === '_' && i > 0) {
      if (upperNext) out += '_';
      upperNext = true;
    } else if (upperNext) {
      out += isUpper(c) || isLower(c) ? c.toUpperCase() : `_${c}`;
      upperNext = false;
    } else {
      out += c;
    }
  }
  return upperNext ? `${out}_` : out;
}

/** Dotted property path → checkpoint key: `layers.0.selfAttn.qProj.weight` → `layers.0.self_attn.q_proj.weight`. */
export function checkpointKey(path: string): string {
  return path.split('.').map(checkpointSegment).join('.');
}

/** Checkpoint key → dotted property path (the inverse of `checkpointKey`). */
export function propertyPath(key: string): string {
  return key.split('.').map(propertySegment).join('.');
}

/** A weight's checkpoint name with its shape. */
interface NamedShape {
  name: string;
  shape: number[];
}

/** Compares expected and provided weights (mlxn-nn); throws only for a name given twice. */
export function checkWeights(expected: NamedShape[], provided: NamedShape[], strict: boolean): { ok: boolean; message: string } {
  return native.nnCheckWeights(expected, provided, strict);
}
