// GGUF files built field by field, so a test can put any value (a count of 2^63, an alignment
// of 0, five dimensions) in any field of the header.

/** Value types of GGUF metadata. */
export const GGUF_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export class GgufWriter {
  readonly #parts: Buffer[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  raw(bytes: Uint8Array | number[]): this {
    const b = Buffer.from(bytes);
    this.#parts.push(b);
    this.#length += b.length;
    return this;
  }

  u8(v: number): this {
    return this.raw([v & 0xff]);
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.raw(b);
  }

  u64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)));
    return this.raw(b);
  }

  /** A length-prefixed string (the length can be overridden to lie). */
  str(s: string, length?: number | bigint): this {
    const b = Buffer.from(s, 'utf8');
    return this.u64(length ?? b.length).raw(b);
  }

  /** The 24-byte header: magic, version, tensor count, key/value count. */
  header(version: number, tensors: number | bigint, kvs: number | bigint): this {
    return this.raw(Buffer.from('GGUF')).u32(version).u64(tensors).u64(kvs);
  }

  /** A tensor info: name, dims (GGUF order), type, offset in the data section. */
  tensor(name: string, dims: readonly (number | bigint)[], type: number, offset: number | bigint, nDims = dims.length): this {
    this.str(name).u32(nDims);
    for (const d of dims) this.u64(d);
    return this.u32(type).u64(offset);
  }

  /** Zero padding to `align`, then `data`. */
  data(align: number, data: Uint8Array | number): this {
    const pad = (align - (this.#length % align)) % align;
    this.raw(Buffer.alloc(pad));
    return this.raw(typeof data === 'number' ? Buffer.alloc(data) : data);
  }

  bytes(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/** float32 values as little-endian bytes. */
export function f32(values: readonly number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  for (const [i, v] of values.entries()) b.writeFloatLE(v, i * 4);
  return b;
}
