// Writes a prompt-cache file with @mlxn/cache for `cache_golden.py check` (mlx-lm must load it).
// The caches (packages/cache/test/sample-caches.ts) are driven with the same integer-made inputs
// as the Python side.
//   tsx tooling/reference/cache_write_mlxn.ts OUT.safetensors
import { savePromptCache } from '../../packages/cache/src/index.ts';
import { sampleCaches } from '../../packages/cache/test/sample-caches.ts';

await savePromptCache(process.argv[2], sampleCaches(), { writer: '@mlxn/cache' });
console.log('wrote', process.argv[2]);
