// @mlxn/server from the registry: serve a tiny random Qwen3 (written with @mlxn/models-qwen3,
// which the server installs) with the real Qwen3 tokenizer, answer a chat completion over
// HTTP on 127.0.0.1, and run the `mlxn-serve` bin.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseQwen3Config, Qwen3 } from '@mlxn/models-qwen3';
import { createServer } from '@mlxn/server';
import tinyQwen3 from './tiny-qwen3.cjs';
import whereNative from './where-native.cjs';

const folder = join(process.cwd(), 'model');
await tinyQwen3.writeTinyQwen3({ Qwen3, parseQwen3Config }, folder);

const server = await createServer({ model: folder, modelId: 'tiny', port: 0 });
const { url } = await server.listen();
try {
  const models = await (await fetch(`${url}/v1/models`)).json();
  assert.deepEqual(
    models.data.map((m) => m.id),
    ['tiny'],
  );
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 3, temperature: 0 }),
  });
  assert.equal(res.status, 200);
  const reply = await res.json();
  assert.equal(reply.object, 'chat.completion');
  assert.equal(reply.usage.completion_tokens, 3);
} finally {
  await server.close();
}
const help = execFileSync(process.execPath, [join('node_modules', '@mlxn', 'server', 'dist', 'cli.js'), '--help'], { encoding: 'utf8' });
assert.match(help, /Usage: mlxn-serve --model/);
whereNative.assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
