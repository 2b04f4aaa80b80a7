// `mlxn-serve` as a user runs it (node dist/cli.js …): help, usage errors, and serving a model
// folder on 127.0.0.1 until SIGTERM, with one log line per request.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`pnpm --filter @mlxn/server build\` first`);
});

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('mlxn-serve', () => {
  it('prints help and refuses wrong calls with exit code 2', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    for (const f of ['--model', '--host', '--port', '--api-key', '--cors', '--max-tokens', '--max-queue', '--request-timeout'])
      expect(help.stdout).toContain(f);
    const missing = run([]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^mlxn-serve: --model is required/);
    const typo = run(['--modle', 'x']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(/unknown option --modle \(did you mean --model\?\)/);
    expect(run(['--version']).stdout).toMatch(/^mlxn-serve \d+\.\d+\.\d+ \(@mlxn\/server/);
  });

  it('serves a model folder on 127.0.0.1 and closes on SIGTERM', async () => {
    const folder = tinyQwen3WithTokenizer();
    const child: ChildProcess = spawn(process.execPath, [CLI, '--model', folder, '--model-id', 'tiny', '--port', '0', '--api-key', 'k'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /serving tiny on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      expect((await rawRequest(url, 'GET', '/health')).status).toBe(200);
      const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 });
      expect((await rawRequest(url, 'POST', '/v1/chat/completions', body)).status).toBe(401);
      const ok = await rawRequest(url, 'POST', '/v1/chat/completions', body, { Authorization: 'Bearer k' });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body).usage.completion_tokens).toBe(3);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/POST \/v1\/chat\/completions 401/);
    expect(stderr).toMatch(/POST \/v1\/chat\/completions 200 \d+ms prompt=\d+ cached=0 completion=3 /);
  });
});
