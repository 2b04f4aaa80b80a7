// A second, independent reading of a GGUF file (written from the format's description, not from
// the Rust validator), used to judge a mutated file that still loads: what MLX returned must be
// exactly what this reader finds in the file. It decodes only the types the battery's files use
// (f32, f16, i8, i16, i32) and returns null for any file it would refuse.

interface ReferenceTensor {
  shape: number[];
  dtype: string;
  values: number[];
}

export interface ReferenceFile {
  tensors: Record<string, ReferenceTensor>;
  strings: Record<string, string>;
}

const SCALAR: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const DIRECT: Record<number, [string, number, (b: Buffer, o: number) => number]> = {
  0: ['float32', 4, (b, o) => b.readFloatLE(o)],
  1: ['float16', 2, (b, o) => halfToFloat(b.readUInt16LE(o))],
  24: ['int8', 1, (b, o) => b.readInt8(o)],
  25: ['int16', 2, (b, o) => b.readInt16LE(o)],
  26: ['int32', 4, (b, o) => b.readInt32LE(o)],
  // MLX converts bfloat16 to float16; the battery's values are exact in both.
  30: ['float16', 2, (b, o) => bf16ToFloat(b.readUInt16LE(o))],
};

function bf16ToFloat(h: number): number {
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = h << 16;
  return f[0]!;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Nested row-major lists of `values` in `shape`. */
export function nest(values: number[], shape: number[]): unknown {
  if (shape.length === 0) return values[0];
  if (shape.length === 1) return values;
  const inner = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0]! }, (_, i) => nest(values.slice(i * inner, (i + 1) * inner), shape.slice(1)));
}

export function referenceGguf(b: Buffer): ReferenceFile | null {
  let p = 0;
  const need = (n: bigint | number) => {
    if (BigInt(p) + BigInt(n) > BigInt(b.length)) throw new Error('truncated');
  };
  const u32 = () => {
    need(4);
    const v = b.readUInt32LE(p);
    p += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = b.readBigUInt64LE(p);
    p += 8;
    return v;
  };
  const str = () => {
    const n = u64();
    need(n);
    const s = b.subarray(p, p + Number(n));
    p += Number(n);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(s);
    return text;
  };
  try {
    if (b.length < 24 || b.subarray(0, 4).toString('latin1') !== 'GGUF') return null;
    p = 4;
    const version = u32();
    if (version !== 2 && version !== 3) return null;
    const nt = u64();
    const nkv = u64();
    if (nt > 100_000n || nkv > 100_000n) return null;
    let alignment = 32;
    const strings: Record<string, string> = {};
    const keys = new Set<string>();
    for (let i = 0; i < Number(nkv); i++) {
      const key = str();
      if (keys.has(key)) return null;
      keys.add(key);
      const t = u32();
      const value = (type: number): unknown => {
        if (type === 8) return str();
        if (type === 9) {
          const et = u32();
          const n = u64();
          if (et === 9 || et > 12 || n > 2n ** 31n - 1n) throw new Error('array');
          for (let j = 0n; j < n; j++) value(et);
          return undefined;
        }
        const size = SCALAR[type];
        if (size === undefined) throw new Error('type');
        need(size);
        const v = size === 1 ? b[p]! : size === 4 ? b.readUInt32LE(p) : 0;
        if (type === 7 && v > 1) throw new Error('bool');
        p += size;
        return v;
      };
      const v = value(t);
      if (key === 'general.alignment') {
        if (t !== 4 || typeof v !== 'number' || v === 0 || (v & (v - 1)) !== 0 || v > 2 ** 20) return null;
        alignment = v;
      }
      if (t === 8) strings[key] = v as string;
    }
    const infos: { name: string; dims: number[]; type: number; offset: bigint }[] = [];
    for (let i = 0; i < Number(nt); i++) {
      const name = str();
      const nd = u32();
      if (nd < 1 || nd > 4) return null;
      const dims: number[] = [];
      for (let d = 0; d < nd; d++) {
        const v = u64();
        if (v < 1n || v > 2n ** 31n - 1n) return null;
        dims.push(Number(v));
      }
      const type = u32();
      const offset = u64();
      if (!(type in DIRECT) || offset % BigInt(alignment) !== 0n || infos.some((x) => x.name === name)) return null;
      infos.push({ name, dims, type, offset });
    }
    const dataStart = Math.ceil(p / alignment) * alignment;
    if (infos.length > 0 && dataStart > b.length) return null;
    const tensors: Record<string, ReferenceTensor> = {};
    const spans: [bigint, bigint][] = [];
    for (const t of infos) {
      const [dtype, size, read] = DIRECT[t.type]!;
      const count = t.dims.reduce((a, c) => a * c, 1);
      const begin = BigInt(dataStart) + t.offset;
      const end = begin + BigInt(count * size);
      if (end > BigInt(b.length)) return null;
      spans.push([begin, end]);
      const values = Array.from({ length: count }, (_, i) => read(b, Number(begin) + i * size));
      tensors[t.name] = { shape: [...t.dims].reverse(), dtype, values };
    }
    spans.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) return null;
    return { tensors, strings };
  } catch {
    return null;
  }
}
