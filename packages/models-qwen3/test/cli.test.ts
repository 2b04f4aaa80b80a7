// The `mlxn-qwen3` command as a user runs it (node dist/cli.js …): help, usage errors, generate
// and chat against the library's own results, convert (quantize, dtype, LoRA fusion) read back
// with Qwen3.load, and Ctrl-C during generation.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { linearToLoRALayers, saveAdapters } from '@mlxn/nn';
import { tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplyPrinter } from '../src/cli/chat.js';
import { Qwen3, toOpenAIToolCall } from '../src/index.js';
import { maxAbsDiff, tinyQwen3Path } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let chatModel: string;
beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`pnpm --filter @mlxn/models-qwen3 build\` first`);
  chatModel = tinyQwen3WithTokenizer();
});

function run(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    input: input ?? '',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A usage error: exit code 2, the message as the first line, a pointer to --help, no stack. */
function expectUsageError(r: ReturnType<typeof run>, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(message);
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatch(/--help' for usage/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('help', () => {
  it('lists the commands and each command’s options', () => {
    const top = run(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['generate', 'chat', 'convert', 'download', 'cache']) expect(top.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    const none = run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: mlxn-qwen3 <command>/);
    const flags: Record<string, string[]> = {
      generate: [
        '--revision',
        '--max-tokens',
        '--temperature',
        '--top-p',
        '--top-k',
        '--min-p',
        '--repetition-penalty',
        '--seed',
        '--max-kv-size',
        '--kv-bits',
        '--stop',
        '--raw',
        '--draft-model',
        '--num-draft-tokens',
      ],
      chat: ['--message', '--system', '--tools', '--reasoning', '--no-thinking', '--temperature', '--stop'],
      convert: ['--revision', '--out', '--quantize', '--bits', '--group-size', '--mode', '--dtype', '--adapters', '--overwrite'],
      download: ['--revision'],
      cache: ['--json'],
    };
    for (const [c, names] of Object.entries(flags)) {
      const r = run([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: mlxn-qwen3 ${c} `));
      for (const f of [...names, '--help', '--verbose']) expect(r.stdout, `${c} ${f}`).toContain(`${f} `);
    }
    // --help wins over other mistakes on the line.
    expect(run(['generate', '--bogus', '--help']).code).toBe(0);
  });

  it('--version prints the package version, alone or after any command', () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['generate', '--version'], ['chat', 'folder', '--version'], ['convert', '--version']]) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toBe(`mlxn-qwen3 ${version} (@mlxn/models-qwen3, Node ${process.version})\n`);
    }
  });
});

describe('usage errors', () => {
  it('name the flag, exit with 2 and print no stack trace', () => {
    expectUsageError(
      run(['generate', chatModel, 'hi', '--max-tokns', '3']),
      /^mlxn-qwen3 generate: unknown option --max-tokns \(did you mean --max-tokens\?\)$/,
    );
    expectUsageError(run(['generate', chatModel, 'hi', '--max-tokens']), /--max-tokens needs a value/);
    expectUsageError(run(['generate', chatModel, 'hi', '--max-tokens', '--seed', '1']), /--max-tokens needs a value/);
    expectUsageError(run(['generate', chatModel, 'hi', '--temperature', 'warm']), /--temperature expects a number, got 'warm'/);
    expectUsageError(run(['generate', chatModel, 'hi', '--raw=yes']), /--raw takes no value/);
    expectUsageError(run(['generate', chatModel, 'hi', '--kv-bits', '7']), /--kv-bits must be one of 2, 3, 4, 5, 6 or 8, got 7/);
    expectUsageError(run(['generate', chatModel, 'hi', '--top-k', '999999']), /--top-k must be below the vocabulary size 151936/);
    expectUsageError(run(['generate', chatModel, 'hi', 'extra']), /unexpected argument 'extra'/);
    expectUsageError(run(['generate', join(work, 'nope'), 'hi']), /model folder .*nope does not exist/);
    expectUsageError(run(['chat', chatModel, '--reasoning', 'loud']), /--reasoning must be one of show, hide, got 'loud'/);
    expectUsageError(run(['convert', tinyQwen3Path('dense'), '--quantize']), /missing --out/);
    expectUsageError(
      run(['convert', tinyQwen3Path('dense'), '--bits', '4', '--out', join(work, 'x')]),
      /--bits, --group-size and --mode need --quantize/,
    );
    expectUsageError(run(['convert', tinyQwen3Path('dense'), '--out', join(work, 'x')]), /nothing to do/);
    expectUsageError(run(['train']), /unknown command 'train'/);
    expectUsageError(run(['download']), /missing the model id/);
    expectUsageError(run(['download', '../etc/passwd']), /is not a Hugging Face model id/);
    expectUsageError(run(['download', 'org/name@v1', '--revision', 'v2']), /--revision v2 given as well as @v1/);
    expectUsageError(run(['generate', 'org/name', 'hi', '--revision', '../x']), /--revision "\.\.\/x" is not a branch, tag or commit hash/);
    writeFileSync(join(work, 'tools.json'), '{"name": "add"}');
    expectUsageError(
      run(['chat', chatModel, '-m', 'hi', '--tools', join(work, 'tools.json')]),
      /--tools .*tools\.json: expected a JSON list of tool definitions/,
    );
  });

  it('report runtime failures with exit code 1, with the stack only under --verbose', () => {
    const plain = run(['convert', tinyQwen3Path('dense-4bit'), '--quantize', '--out', join(work, 'requant')]);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr).toMatch(/already quantized/);
    const verbose = run(['convert', tinyQwen3Path('dense-4bit'), '--quantize', '--out', join(work, 'requant'), '--verbose']);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
    expect(existsSync(join(work, 'requant'))).toBe(false);
    const noTokenizer = run(['generate', tinyQwen3Path('dense'), 'hi']);
    expect(noTokenizer.code).toBe(1);
    expect(noTokenizer.stderr).toMatch(
      /^mlxn-qwen3 generate: .*dense has no tokenizer \(tokenizer\.json\), so a text prompt cannot be encoded\n$/,
    );
  });
});

describe('generate', () => {
  it('streams the same text as model.generate, with the chat template or raw', async () => {
    const model = await Qwen3.load(chatModel);
    const templated = await model.generate([{ role: 'user', content: 'Hello there' }], { maxTokens: 8 });
    const raw = await model.generate('Hello there', { maxTokens: 8 });
    const sampled = await model.generate('Hello there', { maxTokens: 8, temperature: 0.9, topK: 50, seed: 7 });
    const stopped = await model.generate('Hello there', { maxTokens: 8, stop: [raw.text.slice(3, 6)] });

    // Eight tokens of the raw prompt 'Hello there', with more flags.
    const rawGenerate = (...flags: string[]) => run(['generate', chatModel, 'Hello there', '--raw', '--max-tokens', '8', ...flags]);
    const a = run(['generate', chatModel, 'Hello there', '--max-tokens', '8']);
    expect(a.code, a.stderr).toBe(0);
    expect(templated.text.length).toBeGreaterThan(0);
    expect(a.stdout).toBe(`${templated.text}\n`);
    const b = run(['generate', chatModel, '--prompt', 'Hello there', '--raw', '--max-tokens', '8', '--stats']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe(`${raw.text}\n`);
    expect(b.stderr).toMatch(
      /^prompt: \d+ tokens, [\d.]+ tokens\/s \| generation: 8 tokens, [\d.]+ tokens\/s \| peak memory: [\d.]+ MB \| finish: length\n$/,
    );
    const c = rawGenerate('-t', '0.9', '--top-k', '50', '--seed', '7');
    expect(c.stdout).toBe(`${sampled.text}\n`);
    const d = run(['generate', chatModel, '-', '--raw', '--max-tokens', '8', '--stop', raw.text.slice(3, 6)], 'Hello there\n');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe(`${stopped.text}\n`);
    const e = rawGenerate('--max-kv-size', '16', '--repetition-penalty', '1.3', '--min-p', '0.05', '--top-p', '0.9');
    expect(e.code, e.stderr).toBe(0);
    // Speculative decoding with the model as its own draft: the same greedy text.
    const f = rawGenerate('--draft-model', chatModel, '--num-draft-tokens', '2', '--stats');
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toBe(`${raw.text}\n`);
    expect(f.stderr).toMatch(/\| from the draft: \d+ tokens\n$/);
    expectUsageError(run(['generate', chatModel, 'hi', '--num-draft-tokens', '2']), /--num-draft-tokens needs --draft-model/);
  });

  it('stops on Ctrl-C with exit code 130', async () => {
    const child = spawn(process.execPath, [CLI, 'generate', chatModel, 'Hello', '--raw', '--max-tokens', '30000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.once('data', () => child.kill('SIGINT'));
      child.stdout.on('data', (d) => (out += d));
      child.on('close', (c) => resolve(c));
    });
    expect(code, err).toBe(130);
    expect(out.length).toBeGreaterThan(0);
    expect(err).toBe('');
  });
});

describe('chat', () => {
  it('answers one --message as model.chat does', async () => {
    const model = await Qwen3.load(chatModel);
    const r = await model.chat(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      { maxTokens: 12 },
    );
    const out = run(['chat', chatModel, '--system', 'Be brief.', '-m', 'Hi', '--max-tokens', '12', '--reasoning', 'hide']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe(r.text.trim());
    expect(out.stdout.trim().length).toBeGreaterThan(0);
  });

  it('keeps the conversation across piped lines', async () => {
    const model = await Qwen3.load(chatModel);
    const first = await model.chat([{ role: 'user', content: 'Hi' }], { maxTokens: 6 });
    const history = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: first.text.trim() },
      { role: 'user', content: 'And then?' },
    ];
    const second = await model.chat(history, { maxTokens: 6 });
    const out = run(['chat', chatModel, '--max-tokens', '6'], 'Hi\nAnd then?\n');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe(`${first.text.replace(/^\n+/, '')}\n${second.text.replace(/^\n+/, '')}\n`);
  });

  it('prints reasoning dimmed or hidden and tool calls on their own line', async () => {
    const render = async (showReasoning: boolean, color: boolean) => {
      let out = '';
      const p = new ReplyPrinter({
        showReasoning,
        color,
        stats: false,
        write: async (s) => {
          out += s;
        },
      });
      await p.push({ type: 'reasoning', text: '\nadd them' });
      await p.push({ type: 'text', text: '\n\nCalling.' });
      await p.push({ type: 'toolCall', toolCall: toOpenAIToolCall({ name: 'add', arguments: { a: 1, b: 2 }, raw: '{}' }) });
      await p.push({ type: 'invalidToolCall', invalidToolCall: { raw: '{oops', error: 'bad JSON' } });
      await p.push({
        type: 'done',
        finishReason: 'stop',
        usage: { promptTokens: 1, completionTokens: 2 },
        promptTokensPerSec: 1,
        tokensPerSec: 1,
        peakMemory: 0,
      });
      return { out, message: p.message() };
    };
    const plain = await render(true, false);
    expect(plain.out).toBe('<think>\nadd them\n</think>\nCalling.\n[tool call] add {"a":1,"b":2}\n[invalid tool call] bad JSON: {oops\n');
    const dim = await render(true, true);
    expect(dim.out.startsWith('\x1b[2madd them\x1b[22m\nCalling.\n')).toBe(true);
    const hidden = await render(false, false);
    expect(hidden.out).toBe('Calling.\n[tool call] add {"a":1,"b":2}\n[invalid tool call] bad JSON: {oops\n');
    expect(hidden.message).toEqual({
      role: 'assistant',
      content: 'Calling.',
      tool_calls: [{ type: 'function', function: { name: 'add', arguments: { a: 1, b: 2 } } }],
    });
  });
});

describe('convert', () => {
  const dense = tinyQwen3Path('dense');
  const tokens = () => mx.array([[1, 5, 9, 200, 17, 3]], 'int32');
  const logitsOf = (m: Qwen3) => {
    const l = m.forward(tokens());
    mx.eval(l);
    return l;
  };

  it('--quantize writes a folder Qwen3.load reads, with logits close to the float model', async () => {
    const parent = join(work, 'q');
    mkdirSync(parent);
    const float = await Qwen3.load(dense);
    const scale = mx.max(mx.abs(logitsOf(float))).item() as number;
    // Tolerances relative to the largest logit: this random tiny model is a hard case for
    // 4 bits (no outlier structure), so the bound is loose there and tight at 8 bits.
    for (const [bits, tolerance] of [
      [4, 0.3],
      [8, 0.02],
    ]) {
      const out = join(parent, `q${bits}`);
      const r = run(['convert', dense, '--quantize', '--bits', String(bits), '--group-size', '32', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`quantized 15 of 15 layers to ${bits} bits (group size 32, affine)`);
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
      expect(config.quantization).toMatchObject({ bits, group_size: 32 });
      const q = await Qwen3.load(out);
      const inProcess = await Qwen3.load(dense, { quantize: { bits, groupSize: 32 } });
      // The same quantization as loading with `quantize`, and close to the float model.
      expect(maxAbsDiff(logitsOf(q), logitsOf(inProcess))).toBeLessThan(1e-5);
      const diff = maxAbsDiff(logitsOf(q), logitsOf(float));
      expect(diff, `${bits} bits`).toBeGreaterThan(0);
      expect(diff, `${bits} bits`).toBeLessThan(tolerance * scale);
    }
    expect(readdirSync(parent).sort()).toEqual(['q4', 'q8']);
  });

  /** The tensor names of a model folder's safetensors files (from their headers). */
  const tensorNames = (folder: string) =>
    readdirSync(folder)
      .filter((f) => f.endsWith('.safetensors'))
      .flatMap((f) => {
        const bytes = readFileSync(join(folder, f));
        const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<string, unknown>;
        return Object.keys(header).filter((k) => k !== '__metadata__');
      });

  /** config.json's quantization entry says of every layer what the weights on disk are. */
  const expectConfigMatchesDisk = (folder: string) => {
    const q = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')).quantization as Record<string, unknown>;
    const names = new Set(tensorNames(folder));
    const layers = [...names].filter((k) => k.endsWith('.weight')).map((k) => k.slice(0, -'.weight'.length));
    for (const layer of layers) {
      if (names.has(`${layer}.scales`)) expect(q[layer], layer).not.toBe(false);
      else if (!/norm$/.test(layer)) expect(q[layer], layer).toBe(false);
    }
    for (const [k, v] of Object.entries(q)) if (v === false) expect(names.has(`${k}.scales`), k).toBe(false);
  };

  it('--quantize reports the layers it cannot quantize, and refuses a model it cannot quantize at all', async () => {
    // The tiny model with the real tokenizer: hidden size 16, MLP width 32.
    const none = run(['convert', chatModel, '--quantize', '--out', join(work, 'q-none')]);
    expect(none.code, none.stderr).toBe(1);
    expect(none.stderr).toMatch(/cannot quantize with group size 64: no layer's input width \(16, 32\) is a multiple of it/);
    expect(existsSync(join(work, 'q-none'))).toBe(false);

    const out = join(work, 'q-some');
    const r = run(['convert', chatModel, '--quantize', '--group-size', '32', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'quantized 1 of 8 layers to 4 bits (group size 32, affine); left in floating point: model.embed_tokens (width 16), ' +
        'model.layers.*.self_attn.q_proj (width 16), model.layers.*.self_attn.k_proj (width 16), model.layers.*.self_attn.v_proj (width 16), ' +
        'model.layers.*.self_attn.o_proj (width 16), model.layers.*.mlp.gate_proj (width 16), model.layers.*.mlp.up_proj (width 16);',
    );
    expectConfigMatchesDisk(out);
    expect(tensorNames(out)).toContain('model.layers.0.mlp.down_proj.scales');
    const q = await Qwen3.load(out);
    const inProcess = await Qwen3.load(chatModel, { quantize: { bits: 4, groupSize: 32 } });
    expect(maxAbsDiff(logitsOf(q), logitsOf(inProcess))).toBeLessThan(1e-5);

    // MoE: the experts' down_proj (width 32) stays float at group size 64; the router is 8-bit.
    const moeOut = join(work, 'q-moe');
    const moe = run(['convert', tinyQwen3Path('moe'), '--quantize', '--out', moeOut]);
    expect(moe.code, moe.stderr).toBe(0);
    expect(moe.stdout).toContain(
      'quantized 16 of 18 layers to 4 bits (group size 64, affine); left in floating point: model.layers.*.mlp.switch_mlp.down_proj (x2, width 32);',
    );
    expectConfigMatchesDisk(moeOut);
    const moeConfig = JSON.parse(readFileSync(join(moeOut, 'config.json'), 'utf8')).quantization;
    expect(moeConfig['model.layers.1.mlp.gate']).toEqual({ group_size: 64, bits: 8 });
    expect(moeConfig['model.layers.1.mlp.switch_mlp.down_proj']).toBe(false);
  });

  it("--mode without --group-size uses the mode's own group size", async () => {
    for (const [mode, groupSize, bits] of [
      ['mxfp4', 32, 4],
      ['nvfp4', 16, 4],
      ['mxfp8', 32, 8],
    ] as const) {
      const out = join(work, `q-${mode}`);
      const r = run(['convert', dense, '--quantize', '--mode', mode, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`quantized 15 of 15 layers to ${bits} bits (group size ${groupSize}, ${mode});`);
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
      expect(config.quantization).toEqual({ group_size: groupSize, bits, mode });
      expectConfigMatchesDisk(out);
      const q = await Qwen3.load(out);
      const inProcess = await Qwen3.load(dense, { quantize: { mode } });
      expect(maxAbsDiff(logitsOf(q), logitsOf(inProcess)), mode).toBeLessThan(1e-5);
    }
  });

  it('--dtype float16 casts the weights', async () => {
    const out = join(work, 'f16');
    const r = run(['convert', dense, '--dtype', 'float16', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const half = await Qwen3.load(out);
    expect(new Set(half.namedParameters().map(([, a]) => a.dtype))).toEqual(new Set(['float16']));
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float16');
    const float = await Qwen3.load(dense);
    expect(maxAbsDiff(logitsOf(half), logitsOf(float))).toBeLessThan(2e-2);
    // The output folder is never overwritten by accident.
    const again = run(['convert', dense, '--dtype', 'float16', '--out', out]);
    expectUsageError(again, /already exists \(add --overwrite/);
    expect(run(['convert', dense, '--dtype', 'bfloat16', '--out', out, '--overwrite']).code).toBe(0);
    expect((await Qwen3.load(out)).model.norm.weight.dtype).toBe('bfloat16');
  });

  it('--adapters fuses LoRA adapters (a file or a checkpoint folder) into the weights', async () => {
    const lora = await Qwen3.load(dense);
    linearToLoRALayers(lora, { rank: 4, scale: 2, targets: ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'] });
    mx.random.seed(3);
    // Fresh adapters change nothing (loraB is zero); give them a real update.
    lora.loadWeights(
      lora
        .namedParameters()
        .filter(([k]) => k.endsWith('lora_b'))
        .map(([k, a]) => [k, mx.random.normal(a.shape, { scale: 0.2 })] as [string, mx.Array]),
      { strict: false },
    );
    const folder = join(work, 'ckpt');
    mkdirSync(folder);
    await saveAdapters(lora, join(folder, 'adapters.safetensors'));
    const expected = logitsOf(lora);
    const base = await Qwen3.load(dense);
    expect(maxAbsDiff(expected, logitsOf(base))).toBeGreaterThan(1e-2);

    for (const [name, adapters] of [
      ['fused-file', join(folder, 'adapters.safetensors')],
      ['fused-folder', folder],
    ]) {
      const out = join(work, name);
      const r = run(['convert', dense, '--adapters', adapters, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const fused = await Qwen3.load(out);
      expect(fused.namedParameters().some(([k]) => k.includes('lora'))).toBe(false);
      expect(maxAbsDiff(logitsOf(fused), expected)).toBeLessThan(1e-4);
    }
    // Fused, then quantized.
    const out = join(work, 'fused-q8');
    expect(run(['convert', dense, '--adapters', folder, '--quantize', '--bits', '8', '--group-size', '32', '--out', out]).code).toBe(0);
    const fq = await Qwen3.load(out);
    expect(fq.config.quantization).not.toBeNull();
    const scale = mx.max(mx.abs(expected)).item() as number;
    expect(maxAbsDiff(logitsOf(fq), expected)).toBeLessThan(0.05 * scale);
    expectUsageError(
      run(['convert', dense, '--adapters', tinyQwen3Path('moe'), '--out', join(work, 'y')]),
      /is a folder without adapters\.safetensors/,
    );
  });
});
