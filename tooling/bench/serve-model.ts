/**
 * The @mlxn/server side of tooling/bench/server.ts, in a process of its own (as mlx_lm.server
 * is): serves the benchmark's model folder on 127.0.0.1 and prints `serving <url>`.
 *
 *   tsx tooling/bench/serve-model.ts <folder> [maxBatchSize]
 */
import { createServer } from '@mlxn/server';

const [folder, batch] = process.argv.slice(2);
if (folder === undefined) throw new Error('usage: serve-model.ts <folder> [maxBatchSize]');
// The small presets keep only the first vocab_size ids of the real tokenizer.
const server = await createServer({ model: folder, modelId: 'bench', port: 0, loadOptions: { truncatedVocab: true }, maxBatchSize: batch === undefined ? undefined : Number(batch), maxTokens: 8192 });
const { url } = await server.listen();
console.log(`serving ${url}`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
