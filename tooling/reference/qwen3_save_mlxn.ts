// Loads a model folder with @mlxn/models-qwen3 and saves it again (for qwen3-env.mjs check).
//   tsx qwen3_save_mlxn.ts <source folder> <output folder>
import { Qwen3 } from '@mlxn/models-qwen3';

const [src, out] = process.argv.slice(2);
if (!src || !out) {
  process.stderr.write('usage: tsx qwen3_save_mlxn.ts <source> <output>\n');
  process.exit(2);
}
const model = await Qwen3.load(src);
await model.save(out, { maxShardSize: 200_000 });
process.stdout.write(`saved ${src} → ${out}\n`);
