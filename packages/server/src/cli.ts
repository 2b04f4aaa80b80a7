#!/usr/bin/env node
/**
 * `mlxn-serve`: serves a Qwen3 model to OpenAI clients. Prints the address, then one line per
 * request on stderr. Ctrl-C (or SIGTERM) stops the running generations and closes the server;
 * a second Ctrl-C exits at once. Exit codes: 0 closed, 1 failed, 2 called wrongly.
 */
import {
  answerHelpOrVersion,
  type CommandSpec,
  flag,
  formatBytes,
  onInterrupt,
  parseCommand,
  runMain,
  UsageError,
} from '@mlxn/models-qwen3/cli-args';
import { createServer } from './server.js';

const SERVE: CommandSpec = {
  name: 'mlxn-serve',
  usage: '--model <folder or hub id> [options]',
  summary: 'Serve a Qwen3 model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models, /health).',
  maxPositionals: 0,
  flags: {
    model: { kind: 'string', short: 'm', value: 'MODEL', help: 'A model folder or a Hugging Face model id (required).' },
    'model-id': { kind: 'string', value: 'NAME', help: 'The model name clients use (default: --model as given).' },
    host: { kind: 'string', value: 'HOST', help: 'Interface to listen on (default 127.0.0.1: this machine only).' },
    port: { kind: 'int', value: 'N', help: 'Port (default 8080; 0 picks a free one).' },
    'api-key': {
      kind: 'string',
      value: 'KEY',
      help: 'Require "Authorization: Bearer KEY" on /v1 requests (default: the MLXN_API_KEY environment variable, else none).',
    },
    cors: { kind: 'strings', value: 'ORIGIN', help: 'An origin allowed to call from a browser ("*" for any; default none).' },
    'max-tokens': { kind: 'int', value: 'N', help: 'Largest max_tokens a request may ask for (default 4096).' },
    'default-max-tokens': { kind: 'int', value: 'N', help: 'max_tokens of requests that give none (default 512).' },
    'max-batch-size': { kind: 'int', value: 'N', help: 'Most sequences decoded together (default 32).' },
    'max-queue': { kind: 'int', value: 'N', help: 'Most sequences waiting to join the batch; more get 429 (default 64).' },
    'max-body-bytes': { kind: 'int', value: 'N', help: 'Largest request body (default 4194304).' },
    'prefix-cache-entries': { kind: 'int', value: 'N', help: 'Most sequences the prompt-prefix cache keeps; 0 turns it off (default 16).' },
    'prefix-cache-bytes': {
      kind: 'int',
      value: 'N',
      help: 'Most bytes of keys and values the prompt-prefix cache keeps (default 536870912).',
    },
    'request-timeout': { kind: 'int', value: 'SECONDS', help: 'Stop a request running longer (default 600).' },
    revision: { kind: 'string', value: 'REV', help: 'Hub revision (branch, tag or commit) of --model.' },
  },
  epilog:
    'Example:\n  mlxn-serve --model Qwen/Qwen3-0.6B --port 8080\n  curl http://127.0.0.1:8080/v1/chat/completions -H "Content-Type: application/json" \\\n    -d \'{"model":"Qwen/Qwen3-0.6B","messages":[{"role":"user","content":"Hi"}]}\'',
};

async function main(argv: string[]): Promise<number> {
  const args = parseCommand(SERVE, argv);
  const answered = answerHelpOrVersion(SERVE, args, 'mlxn-serve', import.meta.url);
  if (answered !== undefined) return answered;
  const model = flag<string>(args, 'model');
  if (model === undefined) throw new UsageError('--model is required (a model folder or a Hugging Face model id)');
  const timeout = flag<number>(args, 'request-timeout');
  const prefixEntries = flag<number>(args, 'prefix-cache-entries');
  process.stderr.write(`mlxn-serve: loading ${model}\n`);
  let downloadReported = false;
  const server = await createServer({
    model,
    modelId: flag<string>(args, 'model-id'),
    loadOptions: {
      revision: flag<string>(args, 'revision'),
      onProgress: (p) => {
        if (p.phase === 'download' && !downloadReported) {
          downloadReported = true;
          process.stderr.write(`mlxn-serve: downloading ${formatBytes(p.total)} into the Hugging Face cache\n`);
        }
      },
    },
    host: flag<string>(args, 'host'),
    port: flag<number>(args, 'port'),
    apiKey: flag<string>(args, 'api-key') ?? (process.env.MLXN_API_KEY || undefined),
    cors: flag<string[]>(args, 'cors'),
    maxTokens: flag<number>(args, 'max-tokens'),
    defaultMaxTokens: flag<number>(args, 'default-max-tokens'),
    maxBatchSize: flag<number>(args, 'max-batch-size'),
    maxQueue: flag<number>(args, 'max-queue'),
    maxBodyBytes: flag<number>(args, 'max-body-bytes'),
    prefixCache: prefixEntries === 0 ? false : { maxEntries: prefixEntries, maxBytes: flag<number>(args, 'prefix-cache-bytes') },
    requestTimeoutMs: timeout === undefined ? undefined : timeout * 1000,
    onLog: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  });
  const { url } = await server.listen();
  process.stderr.write(`mlxn-serve: serving ${server.modelId} on ${url} (OpenAI base URL ${url}/v1)\n`);
  await new Promise<void>((resolve) => {
    const stopInterrupts = onInterrupt((n) => {
      if (n > 1) process.exit(130);
      process.stderr.write('mlxn-serve: closing (Ctrl-C again to exit now)\n');
      resolve();
    });
    process.once('SIGTERM', () => {
      stopInterrupts();
      resolve();
    });
  });
  await server.close();
  return 0;
}

runMain(main, { tool: 'mlxn-serve' });
