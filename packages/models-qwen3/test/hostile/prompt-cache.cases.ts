// Hostile prompt-cache files (corrupt mlx-lm layout metadata, wrong shapes, keys that would
// reach Object.prototype) and config keys. Each must load correctly or fail naming the file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KVCache, loadPromptCache, savePromptCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { saveSync } from '@mlxn/io';
import { caseDir, type HostileCase } from '@mlxn/test-support/hostile';
import { parseQwen3Config } from '../../src/index.js';

const file = () => join(caseDir('pc'), 'cache.safetensors');
const clean = () => Object.getOwnPropertyNames(Object.prototype).every((k) => !k.startsWith('mlxnPwned'));
const named = (e: Error) => /loadPromptCache: .*cache\.safetensors/.test(e.message) && clean();

/** A valid one-layer KVCache file's tensors and metadata, for mutating. */
function valid(): { tensors: Record<string, mx.Array>; meta: Record<string, string> } {
  const tensors: Record<string, mx.Array> = Object.create(null);
  tensors['0.0'] = mx.zeros([1, 2, 3, 4]);
  tensors['0.1'] = mx.zeros([1, 2, 3, 4]);
  tensors['0.2'] = mx.array(3, 'int32');
  const meta: Record<string, string> = Object.create(null);
  Object.assign(meta, { '1.0': 'KVCache', '2.0.0': '0.2', '2.0.1': 'scalar' });
  return { tensors, meta };
}

function mutated(edit: (v: ReturnType<typeof valid>) => void): () => Promise<unknown> {
  return async () => {
    const v = valid();
    edit(v);
    const f = file();
    saveSync(f, v.tensors, { metadata: v.meta });
    const { cache, metadata } = await loadPromptCache(f);
    return {
      classes: cache.map((c) => c.className),
      offsets: cache.map((c) => (c as KVCache).offset),
      metadata: { ...metadata },
      clean: clean(),
    };
  };
}

const mutations: [string, (v: ReturnType<typeof valid>) => void, boolean?][] = [
  [
    'metadata key 0.__proto__',
    (v) => {
      v.meta['0.__proto__'] = 'x';
    },
  ],
  [
    'metadata key 0.constructor',
    (v) => {
      v.meta['0.constructor'] = 'x';
    },
  ],
  [
    'metadata key 0.mlxnPwned',
    (v) => {
      v.meta['0.mlxnPwned'] = 'x';
    },
  ],
  [
    'tensor named __proto__',
    (v) => {
      Object.defineProperty(v.tensors, '__proto__', { value: mx.zeros([1]), enumerable: true });
    },
  ],
  [
    'tensor named 0.__proto__',
    (v) => {
      v.tensors['0.__proto__'] = mx.zeros([1]);
    },
  ],
  [
    'class __proto__',
    (v) => {
      v.meta['1.0'] = '__proto__';
    },
  ],
  [
    'class constructor',
    (v) => {
      v.meta['1.0'] = 'constructor';
    },
  ],
  [
    'class unknown',
    (v) => {
      v.meta['1.0'] = 'Nope';
    },
  ],
  [
    'layer index 2**31',
    (v) => {
      v.meta['1.2147483648'] = 'KVCache';
    },
  ],
  [
    'layer index 2**53',
    (v) => {
      v.meta['1.9007199254740992'] = 'KVCache';
    },
  ],
  [
    'layer index -1',
    (v) => {
      v.meta['1.-1'] = 'KVCache';
    },
  ],
  [
    'scalar kind bogus',
    (v) => {
      v.meta['2.0.1'] = 'bogus';
    },
  ],
  [
    'scalar path __proto__',
    (v) => {
      v.meta['2.0.0'] = '__proto__';
    },
  ],
  [
    'offset 2**31',
    (v) => {
      v.tensors['0.2'] = mx.array(2 ** 31 - 1, 'int32');
    },
  ],
  [
    'offset -1',
    (v) => {
      v.tensors['0.2'] = mx.array(-1, 'int32');
    },
  ],
  [
    'offset as float NaN',
    (v) => {
      v.tensors['0.2'] = mx.array(Number.NaN, 'float32');
    },
  ],
  [
    'keys 3-D',
    (v) => {
      v.tensors['0.0'] = mx.zeros([2, 3, 4]);
    },
  ],
  [
    'keys and values disagree',
    (v) => {
      v.tensors['0.1'] = mx.zeros([1, 2, 5, 4]);
    },
  ],
  [
    'keys empty',
    (v) => {
      v.tensors['0.0'] = mx.zeros([1, 2, 0, 4]);
      v.tensors['0.1'] = mx.zeros([1, 2, 0, 4]);
    },
  ],
  [
    'no class metadata',
    (v) => {
      delete v.meta['1.0'];
    },
  ],
  [
    'missing values',
    (v) => {
      delete v.tensors['0.1'];
    },
  ],
];

const cases: HostileCase[] = mutations.map(([name, edit, regression]) => ({
  name: `prompt cache: ${name}`,
  class: 'prompt-cache',
  regression,
  run: mutated(edit),
  // A mutation may stay valid (extra user metadata): it must then load as one KVCache of 3 tokens.
  accept: (r) => {
    const x = r as { classes: string[]; offsets: number[]; clean: boolean };
    return (JSON.stringify(x.classes) === '["KVCache"]' && JSON.stringify(x.offsets) === '[3]' && x.clean) || JSON.stringify(r);
  },
  error: named,
}));

// N-API would drop a metadata key named exactly `__proto__` without a word (it sets the
// prototype); it must be refused instead.
cases.push({
  name: 'prompt cache: metadata key __proto__ is refused',
  class: 'prompt-cache',
  regression: true,
  run: async () => {
    const v = valid();
    Object.defineProperty(v.meta, '__proto__', { value: 'x', enumerable: true });
    const f = file();
    saveSync(f, v.tensors, { metadata: v.meta });
    return loadPromptCache(f);
  },
  error: (e) => named(e) && /metadata key '__proto__' is not allowed/.test(e.message),
});
cases.push({
  name: 'prompt cache: save then load keeps user metadata as data',
  class: 'prompt-cache',
  run: async () => {
    const f = file();
    const c = new KVCache();
    c.updateAndFetch(mx.zeros([1, 2, 3, 4]), mx.zeros([1, 2, 3, 4]));
    await savePromptCache(f, [c], { model: 'm' });
    return (await loadPromptCache(f)).metadata.model;
  },
  accept: (m) => m === 'm' || String(m),
});
cases.push({
  name: 'prompt cache: not safetensors at all',
  class: 'prompt-cache',
  run: async () => {
    const f = file();
    writeFileSync(f, Buffer.alloc(64, 0xff));
    return loadPromptCache(f);
  },
  error: named,
});

// config.json's quantization entries are keyed by module path; `__proto__` must stay a key.
cases.push({
  name: 'config: quantization entry __proto__ is refused',
  class: 'keys',
  regression: true,
  run: () => {
    const raw = JSON.parse(
      '{"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "quantization": {"group_size": 64, "bits": 4, "__proto__": {"bits": 8}}}',
    );
    return parseQwen3Config(raw).quantization;
  },
  error: /key '__proto__' is not allowed \(at \(root\)\.quantization\)/,
});

export { cases };
