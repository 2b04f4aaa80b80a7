// Child process for kill-save.test.ts (run with tooling/test-support/kill-preload.mjs, which may
// SIGKILL it after any file-system change). Modes:
//   save FOLDER SCALE   loads the tiny model, scales every weight by SCALE, saves it to FOLDER
//                       (in 100 kB shards, so the save writes several files); prints its digest
//   verify FOLDER       loads FOLDER and prints the digest of its weights
import { createHash } from 'node:crypto';
import * as mx from '@mlxn/core';
import { tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { Qwen3 } from '../src/index.js';

const [mode, folder, scale] = process.argv.slice(2);

function digest(model: Qwen3): string {
  const h = createHash('sha256');
  for (const [k, a] of [...model.namedParameters()].sort(([x], [y]) => (x < y ? -1 : 1))) {
    h.update(k);
    h.update(Buffer.from(mx.astype(a, 'float32').dataSync().buffer));
  }
  return h.digest('hex');
}

if (mode === 'save') {
  const model = await Qwen3.load(tinyQwen3Path('dense'));
  const s = Number(scale);
  model.update(mx.treeMap(model.parameters(), (a: mx.Array) => mx.astype(mx.multiply(a, s), a.dtype)) as never);
  model.save(folder!, { maxShardSize: '100KB' });
  console.log(JSON.stringify({ digest: digest(model) }));
} else if (mode === 'verify') {
  console.log(JSON.stringify({ digest: digest(await Qwen3.load(folder!)) }));
} else {
  throw new Error(`unknown mode ${mode}`);
}
