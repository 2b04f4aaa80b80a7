/**
 * The @mlxn/server side of tooling/bench/server.ts, in a process of its own (as mlx_lm.server
 * is): serves the benchmark's model folder on 127.0.0.1 and prints `serving <url>`. Besides the
 * server's own routes, `GET /bench-stats` answers the scheduler's `stats` (its phase times), so
 * the benchmark can say where a load's time went.
 *
 *   tsx tooling/bench/serve-model.ts <folder> [maxBatchSize]
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from '@mlxn/server';

const [folder, batch] = process.argv.slice(2);
if (folder === undefined) throw new Error('usage: serve-model.ts <folder> [maxBatchSize]');
// The small presets keep only the first vocab_size ids of the real tokenizer.
const server = await createServer({
  model: folder,
  modelId: 'bench',
  loadOptions: { truncatedVocab: true },
  maxBatchSize: batch === undefined ? undefined : Number(batch),
  maxTokens: 8192,
});
const http = createHttpServer((req, res) => {
  if (req.url === '/bench-stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(server.stats));
    return;
  }
  server.handler(req, res);
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
console.log(`serving http://127.0.0.1:${(http.address() as AddressInfo).port}`);
process.once('SIGTERM', () => {
  http.close();
  void server.close().then(() => process.exit(0));
});
