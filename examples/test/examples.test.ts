// Every example runs the way a user runs it (tsx, importing the built packages), and prints what
// it promises, so the examples never rot.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const examples = join(import.meta.dirname, '..');
const tsx = join(examples, '../node_modules/.bin/tsx');
const run = (script: string, args: string[] = []) =>
  execFileSync(tsx, [join(examples, script), ...args], { cwd: examples, encoding: 'utf8' });

describe('examples', () => {
  it('sampling-other-engine samples plain-JS logits reproducibly, without MLX', () => {
    const out = run('sampling-other-engine.ts');
    expect(out).toMatch(/^greedy +: the cat sat on the dog ran away \.$/m);
    expect(out).toContain('reproducible  : true');
  }, 60_000);

  it('custom-training-loop learns and resumes bit for bit', () => {
    const out = run('custom-training-loop.ts');
    const before = Number(/held-out MSE before: (\S+)/.exec(out)![1]);
    const after = Number(/held-out MSE after: (\S+)/.exec(out)![1]);
    expect(after).toBeLessThan(before / 20);
    expect(out).toContain('resumed run matches: true');
  }, 120_000);
});

// The model examples run on the tiny random Qwen3 with the real tokenizer (tooling/test-support),
// so their text is noise; the tests check the facts each example promises, which do not depend on it.
const num = (out: string, re: RegExp) => {
  const m = re.exec(out);
  if (m === null) throw new Error(`no match for ${re} in:\n${out}`);
  return Number(m[1]);
};

describe('model examples', () => {
  it('prompt-cache-reuse prefills only the questions and matches fresh runs', () => {
    const out = run('prompt-cache-reuse.ts');
    const prefix = num(out, /^shared prefix: (\d+) tokens$/m);
    expect(prefix).toBeGreaterThan(1000);
    const rows = [...out.matchAll(/prefilled with cache: (\d+) tokens, without: (\d+) tokens/g)];
    expect(rows).toHaveLength(2);
    for (const [, cached, fresh] of rows) {
      expect(Number(cached)).toBeLessThan(30);
      expect(Number(fresh)).toBe(Number(cached) + prefix);
    }
    expect(out.match(/same greedy output as a fresh run: true/g)).toHaveLength(2);
    expect(num(out, /largest log-probability difference: (\S+)/)).toBeLessThan(1e-4);
    expect(out).toContain(`cache after the last trim: ${prefix} tokens`);
    expect(num(out, /second reused (\d+) of/)).toBe(prefix);
  }, 120_000);

  it('chat-tools runs the tool round trip through chat, template and parser', () => {
    const out = run('chat-tools.ts');
    expect(out).toMatch(/<tools>\n\{"type": "function", "function": \{"name": "get_weather"/);
    expect(out).toContain('tool call: get_weather({"city":"Paris"})\ntool call: get_weather({"city":"Tokyo"})');
    expect(out).toContain('tool result: {"city":"Tokyo","temperature":24,"unit":"celsius","sky":"light rain"}');
    expect(out).toContain('assistant: In Paris it is 18 °C with sunny. In Tokyo it is 24 °C with light rain.');
    expect(out).toContain('[finish: stop after 2 rounds]');
    expect(out).toContain('tool responses in the final prompt: 2');
    expect(out).toMatch(/parseReply of a malformed call: 0 tool calls, invalid: the tool call is not valid JSON/);
  }, 120_000);

  it('batch-generation stops rows on their own and equals one-by-one generation', () => {
    const out = run('batch-generation.ts');
    const rows = [...out.matchAll(/^row (\d+): .*maxTokens (\d+).*\n {2}finish: (\w+), (\d+) tokens, same as alone: (\w+)$/gm)];
    expect(rows.map((r) => r[3])).toEqual(['length', 'length', 'stop', 'length']);
    for (const [, , maxTokens, finish, count, same] of rows) {
      if (finish === 'length') expect(Number(count)).toBe(Number(maxTokens));
      else expect(Number(count)).toBeLessThan(Number(maxTokens));
      expect(same).toBe('true');
    }
    // Batched: fewer forward passes than tokens generated.
    expect(num(out, /decoding steps: (\d+)/)).toBeLessThan(num(out, /for (\d+) generated tokens/));
    expect(out).toContain('all rows equal one-by-one generation: true');
    expect(num(out, /largest log-probability difference: (\S+)/)).toBeLessThan(1e-4);
  }, 120_000);

  it('grpo-custom-reward trains with an async JS reward and logs what it returned', () => {
    const out = run('grpo-custom-reward.ts', ['--steps', '3']);
    const steps = [...out.matchAll(/^step (\d+): reward (\S+) \(asciiShare (\S+), length (\S+)\)/gm)];
    expect(steps.map((s) => Number(s[1]))).toEqual([1, 2, 3]);
    for (const [, , reward, ascii, length] of steps) {
      expect(Number(ascii)).toBeGreaterThanOrEqual(0);
      expect(Number(ascii)).toBeLessThanOrEqual(1);
      expect(Number(reward)).toBeCloseTo(Number(ascii) + 0.5 * Number(length), 3);
    }
    expect(out).toContain('custom reward called 3 times with 8, 8, 8 completions');
    expect(out).toContain('logged means equal the returned scores: true; reward = asciiShare + 0.5 × length: true');
    expect(out).toContain('3 steps, 0 skipped');
  }, 180_000);

  it('lora-training lowers the loss through adapters only, and they reload and fuse exactly', () => {
    const out = run('lora-training.ts', ['--steps', '20']);
    const before = num(out, /^before: loss (\S+),/m);
    const after = num(out, /^after: loss (\S+),/m);
    expect(after).toBeLessThan(before - 2);
    expect(out).toMatch(/adapters on 7 linears; trainable 2048 of \d+ parameters/);
    expect(out).toContain('base weights unchanged: true (13 tensors)');
    expect(out).toContain('saved 14 adapter tensors');
    expect(num(out, /^fresh model: loss (\S+);/m)).toBeCloseTo(before, 4);
    expect(out).toContain('(same as trained: true)');
    expect(out).toContain('fused: 0 adapter tensors left');
    expect(num(out, /differs from trained by (\S+)\)/)).toBeLessThan(1e-4);
  }, 180_000);
});

describe('examples type-check', () => {
  it('every example compiles against the packages’ published types', () => {
    const tsc = join(examples, '../node_modules/.bin/tsc');
    // Throws with the compiler's output when any example does not type-check.
    execFileSync(tsc, ['--noEmit', '-p', join(examples, 'tsconfig.json')], { cwd: examples, encoding: 'utf8' });
  }, 180_000);
});
