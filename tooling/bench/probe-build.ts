// Temporary probe (not committed): host cost of building one decode step with KVCache vs BatchKVCache.
import * as mx from '@mlxn/core';
import { BatchKVCache } from '@mlxn/cache';
import { Qwen3, parseQwen3Config } from '@mlxn/models-qwen3';

const config = { model_type: 'qwen3', max_position_embeddings: 4096, rms_norm_eps: 1e-6, rope_theta: 1000000, vocab_size: 1000, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 28, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 32, tie_word_embeddings: true, torch_dtype: 'float32' };
mx.random.seed(0);
const model = new Qwen3(parseQwen3Config(config));
mx.eval(model.parameters());
const steps = 200;
function run(name: string, caches: any[], batch: number) {
  let inputs = mx.array(Array.from({ length: batch }, (_, i) => [i + 1]), 'int32');
  mx.eval(mx.tidy(() => model.forward(mx.array(Array.from({ length: batch }, () => [1, 2, 3, 4]), 'int32'), { cache: caches })));
  let build = 0;
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const next = mx.tidy(() => mx.keep(mx.reshape(mx.astype(mx.argmax(mx.index(model.forward(inputs, { cache: caches }), mx.sl(), -1, mx.sl()), -1), 'int32'), [-1, 1])));
    const t1 = performance.now();
    times.push(t1 - t0);
    mx.eval(next, ...caches.flatMap((c) => c.state.filter((x: unknown) => x instanceof mx.Array)));
    inputs.dispose();
    inputs = next;
  }
  times.sort((a, b) => a - b);
  console.log(name, 'median build ms', times[steps >> 1].toFixed(3));
}
run('KVCache b1', model.makeCache(), 1);
run('BatchKVCache b1', Array.from({ length: 28 }, () => new BatchKVCache({ leftPadding: [0] })), 1);
run('BatchKVCache b8 padded', Array.from({ length: 28 }, () => new BatchKVCache({ leftPadding: [0, 1, 2, 3, 0, 1, 2, 3] })), 8);
run('KVCache b1 again', model.makeCache(), 1);
