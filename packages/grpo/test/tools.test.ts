// Tool turns in rollouts (TRL 1.16's tool loop): the chat template's renders of multi-turn
// transcripts and TRL's own tool-turn suffix ids (goldens from transformers and TRL,
// tooling/reference/grpo_trl_tools_router_golden.py), tool execution that never throws, the loop
// over a scripted policy, and zero gradient on every tool-turn position.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { type ChatMessage, Tokenizer } from '@mlxn/io';
import { qwen3TokenizerDir } from '@mlxn/test-support/qwen3';
import { describe, expect, it } from 'vitest';
import { onCpuDevice } from '../../../tooling/test-support/devices.mjs';
import {
  type GRPOTool,
  generateRollouts,
  grpoLoss,
  type PolicyModel,
  rolloutTensors,
  runToolCalls,
  toolSchemas,
  toolSuffixIds,
  toolTable,
} from '../src/index.js';

interface GoldenCase {
  prompt: ChatMessage[];
  messages: ChatMessage[];
  chat_template_kwargs: Record<string, unknown>;
  prompt_text: string;
  prompt_ids: number[];
  text: string;
  ids: number[];
  suffixes: { tool_messages: ChatMessage[]; suffix_ids: number[] }[];
}
const golden = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'trl_tool_turns.json'), 'utf8')) as {
  tools: Record<string, unknown>[];
  eos_token_id: number;
  cases: Record<string, GoldenCase>;
};
const tok = Tokenizer.loadSync(qwen3TokenizerDir());
const thinking = (kw: Record<string, unknown>) => (kw.enable_thinking === undefined ? {} : { enableThinking: Boolean(kw.enable_thinking) });

const ADD: GRPOTool = {
  name: 'add',
  description: 'Adds two numbers.',
  parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  handler: ({ a, b }) => Number(a) + Number(b),
};
const WEATHER: GRPOTool = {
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  handler: async ({ city }) => ({ city, temp: 21 }),
};

describe('tool turns as transformers and TRL render them (golden)', () => {
  it('tool schemas are the ones the golden prompts were rendered with', () => {
    expect(toolSchemas([WEATHER, ADD])).toEqual(golden.tools);
  });

  for (const [name, c] of Object.entries(golden.cases)) {
    it(`${name}: prompt, whole transcript (text and ids) and TRL's tool-turn suffix ids`, () => {
      const kw = { ...thinking(c.chat_template_kwargs), tools: golden.tools };
      expect(tok.applyChatTemplate(c.prompt, { ...kw, addGenerationPrompt: true })).toBe(c.prompt_text);
      expect(tok.applyChatTemplate(c.prompt, { ...kw, addGenerationPrompt: true, tokenize: true })).toEqual(c.prompt_ids);
      expect(tok.applyChatTemplate(c.messages, kw)).toBe(c.text);
      expect(tok.applyChatTemplate(c.messages, { ...kw, tokenize: true })).toEqual(c.ids);
      for (const s of c.suffixes)
        expect(toolSuffixIds(tok, s.tool_messages, { chatTemplateKwargs: c.chat_template_kwargs })).toEqual(s.suffix_ids);
    });
  }
});

describe('runToolCalls', () => {
  const opts = { timeoutMs: 40, maxResultChars: 60 };
  it('runs sync and async tools; errors, unknown tools and timeouts become results, never throws', async () => {
    let aborted = false;
    const table = toolTable([
      ADD,
      WEATHER,
      {
        name: 'boom',
        handler: () => {
          throw new Error('bad input');
        },
      },
      { name: 'reject', handler: async () => Promise.reject(new Error('no service')) },
      {
        name: 'slow',
        handler: (_a, { signal }) =>
          new Promise((resolve) => {
            const t = setTimeout(() => resolve('late'), 5_000);
            signal.addEventListener('abort', () => {
              aborted = true;
              clearTimeout(t);
              resolve('stopped');
            });
          }),
      },
      { name: 'big', handler: () => 'x'.repeat(100) },
    ]);
    const out = await runToolCalls(
      [
        { name: 'add', arguments: { a: 2, b: 3 } },
        { name: 'get_weather', arguments: { city: 'Rome' } },
        { name: 'boom', arguments: {} },
        { name: 'reject', arguments: {} },
        { name: 'slow', arguments: {} },
        { name: 'nope', arguments: {} },
        { name: 'big', arguments: {} },
      ],
      table,
      opts,
    );
    expect(out).toEqual([
      { name: 'add', content: '5', failed: false },
      { name: 'get_weather', content: '{"city":"Rome","temp":21}', failed: false },
      { name: 'boom', content: '{"error":"bad input"}', failed: true },
      { name: 'reject', content: '{"error":"no service"}', failed: true },
      { name: 'slow', content: '{"error":"Tool slow timed out after 40 ms"}', failed: true },
      { name: 'nope', content: '{"error":"Tool nope not found."}', failed: true },
      { name: 'big', content: `${'x'.repeat(60)}… [40 more characters cut]`, failed: false },
    ]);
    expect(aborted).toBe(true);
  });

  it('rejects malformed tool lists', () => {
    expect(() => toolTable([{ name: 'a b', handler: () => 1 }])).toThrow(/identifier/);
    expect(() => toolTable([ADD, ADD])).toThrow(/twice/);
    expect(() => toolTable([{ name: 'f' } as GRPOTool])).toThrow(/handler/);
    expect(() => toolTable([{ name: 'f', handler: () => 1, parms: {} } as unknown as GRPOTool])).toThrow(/parms/);
  });
});

/** A policy that replies from a script: each call's rows get the next reply for their conversation. */
function scriptedPolicy(
  replies: (prompt: number[]) => string,
): PolicyModel & { calls: { prompts: number[][]; options: Record<string, unknown> }[] } {
  const eos = golden.eos_token_id;
  const calls: { prompts: number[][]; options: Record<string, unknown> }[] = [];
  return {
    tokenizer: tok,
    eosTokenIds: [eos],
    calls,
    async batchGenerate(prompts, options) {
      calls.push({ prompts: prompts.map((p) => [...p]), options });
      return prompts.map((p) => ({ tokens: [...tok.encode(replies(p), { addSpecialTokens: false }), eos, 7, 7] }));
    },
  };
}

const CALL_ADD = '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>';

describe('the tool loop (TRL _tool_call_loop)', () => {
  const prompt: ChatMessage[] = [{ role: 'user', content: 'What is 2+3?' }];
  const base = { maxCompletionLength: 200, temperature: 1, seed: 5 };
  const loopOpts = (over: Record<string, unknown> = {}) => ({
    tools: toolTable([ADD]),
    maxToolCallingIterations: null,
    toolTimeoutMs: 1000,
    maxToolResultChars: 1000,
    chatTemplateKwargs: null,
    ...over,
  });

  it('runs the calls, appends the tool turn, generates after it and masks the tool turn', async () => {
    const policy = scriptedPolicy((p) => (tok.decode(p).includes('<tool_response>') ? 'The answer is 5.' : CALL_ADD));
    const promptIds = tok.applyChatTemplate(prompt, { addGenerationPrompt: true, tokenize: true, tools: toolSchemas([ADD]) });
    const r = await generateRollouts(policy, [prompt, [{ role: 'user', content: 'hi' }]], [promptIds, [1, 2, 3]], {
      ...base,
      toolLoop: loopOpts(),
    });
    const eos = golden.eos_token_id;
    const first = [...tok.encode(CALL_ADD, { addSpecialTokens: false }), eos];
    const suffix = toolSuffixIds(tok, [{ role: 'tool', name: 'add', content: '5' }]);
    const second = [...tok.encode('The answer is 5.', { addSpecialTokens: false }), eos];
    // Row 1 ("hi", whose script also calls add) goes through the same two turns.
    expect(r.completionIds[0]).toEqual([...first, ...suffix, ...second]);
    expect(r.toolMask![0]).toEqual([...first.map(() => 1), ...suffix.map(() => 0), ...second.map(() => 1)]);
    expect(policy.calls).toHaveLength(2);
    expect(policy.calls[1].prompts[0]).toEqual([...promptIds, ...first, ...suffix]);
    // The next turn may only use what is left of maxCompletionLength, and draws from its own seed.
    expect(policy.calls[1].options.maxTokens).toBe(200 - first.length - suffix.length);
    expect(policy.calls[1].options.seed).not.toBe(policy.calls[0].options.seed);
    expect(r.toolCallCount).toBe(2);
    expect(r.toolFailureCount).toBe(0);
    expect(r.truncated).toEqual([false, false]);
    expect(r.completions[0]).toContain('<tool_response>\n5\n</tool_response>');
    // The completion as TRL's conversational completions: assistant turn with its calls, results, next turn.
    expect(r.completionMessages![0]).toEqual([
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'add', arguments: { a: 2, b: 3 } } }] },
      { role: 'tool', name: 'add', content: '5' },
      { role: 'assistant', content: 'The answer is 5.' },
    ]);
    // Reward functions of a chat dataset see the prompt followed by those turns.
    const { runRewardFunctions } = await import('../src/index.js');
    let seen: unknown;
    await runRewardFunctions({
      rewardFuncs: [
        (args) => {
          seen = args.messages;
          return [1, 1];
        },
      ],
      inputs: [{ prompt }, { prompt }],
      completions: r.completions,
      completionIds: r.completionIds,
      completionMessages: r.completionMessages,
      trainerState: {},
      step: 0,
    });
    expect((seen as unknown[][])[0]).toEqual([...prompt, ...r.completionMessages![0]]);
  });

  it('stops after maxToolCallingIterations rounds and counts failed calls', async () => {
    const policy = scriptedPolicy(() => '<tool_call>\n{"name": "sub", "arguments": {}}\n</tool_call>');
    const r = await generateRollouts(policy, [prompt], [[1, 2]], { ...base, toolLoop: loopOpts({ maxToolCallingIterations: 2 }) });
    expect(policy.calls).toHaveLength(3);
    expect(r.toolCallCount).toBe(2);
    expect(r.toolFailureCount).toBe(2);
    expect(r.completions[0]).toContain('{"error":"Tool sub not found."}');
  });

  it('drops a tool turn that would pass maxCompletionLength (the completion stays as it was)', async () => {
    const policy = scriptedPolicy(() => CALL_ADD);
    const firstLen = tok.encode(CALL_ADD, { addSpecialTokens: false }).length + 1;
    const r = await generateRollouts(policy, [prompt], [[1, 2]], { ...base, maxCompletionLength: firstLen + 3, toolLoop: loopOpts() });
    expect(policy.calls).toHaveLength(1);
    expect(r.completionIds[0]).toHaveLength(firstLen);
    expect(r.toolMask![0].every((m) => m === 1)).toBe(true);
    expect(r.toolCallCount).toBe(1);
  });

  it('needs chat prompts', async () => {
    await expect(
      generateRollouts(
        scriptedPolicy(() => 'x'),
        ['text'],
        [[1]],
        { ...base, toolLoop: loopOpts() },
      ),
    ).rejects.toThrow(/chat prompts/);
  });
});

describe('tool-turn positions get exactly zero gradient', () => {
  it('for every loss type, through rolloutTensors and grpoLoss', () => {
    const completionIds = [
      [11, 12, 13, 14, 15, 16, 17],
      [21, 22, 23],
    ];
    const toolMask = [
      [1, 1, 0, 0, 0, 1, 1],
      [1, 1, 1],
    ];
    const t = rolloutTensors([[1, 2], [3]], completionIds, [false, false], { padTokenId: 0, toolMask });
    expect(Array.from(t.completionMask.dataSync() as Float32Array)).toEqual([1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    // Tool tokens are still attended to.
    expect(Array.from(t.attentionMask.dataSync() as Float32Array)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0]);
    const logprobs = mx.array(
      [
        [-1.2, -0.3, -2.0, -0.7, -1.1, -0.4, -0.9],
        [-0.5, -1.5, -0.2, 0, 0, 0, 0],
      ],
      'float32',
    );
    const old = mx.array(
      [
        [-1.0, -0.5, -1.0, -1.0, -1.0, -0.2, -1.3],
        [-0.6, -1.1, -0.4, 0, 0, 0, 0],
      ],
      'float32',
    );
    const ref = mx.array(
      [
        [-1.1, -0.2, -1.5, -0.9, -1.0, -0.5, -1.0],
        [-0.4, -1.2, -0.3, 0, 0, 0, 0],
      ],
      'float32',
    );
    for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo'] as const) {
      for (const importanceSamplingLevel of ['token', 'sequence'] as const) {
        const g = mx.grad(
          (lp: mx.Array) =>
            grpoLoss({
              logprobs: lp,
              oldLogprobs: old,
              refLogprobs: ref,
              advantages: mx.array([0.8, -0.6]),
              completionMask: t.completionMask,
              config: { lossType, importanceSamplingLevel, beta: 0.1, maxCompletionLength: 7 },
            }).loss,
        )(logprobs);
        const v = Array.from(g.dataSync() as Float32Array);
        for (const j of [2, 3, 4]) expect(Math.abs(v[j]), `${lossType}/${importanceSamplingLevel} position ${j}`).toBe(0);
        expect(
          [0, 1, 5, 6].every((j) => v[j] !== 0),
          `${lossType}/${importanceSamplingLevel}`,
        ).toBe(true);
      }
    }
  });
});

describe('GRPOTrainer with tools', () => {
  it('renders the tool schemas into chat prompts and runs the tool loop in generateRollouts', async () => {
    const { GRPOTrainer } = await import('../src/index.js');
    const { tinyModel, tempDir, cleanup } = await import('./trainer-fixture.js');
    try {
      const model = await tinyModel();
      const scripted = scriptedPolicy((p) => (tok.decode(p).includes('<tool_response>') ? 'Done.' : CALL_ADD));
      // Only generation is exercised here (the fixture's 512-token vocabulary cannot embed chat-template tokens).
      Object.defineProperty(model, 'batchGenerate', { value: scripted.batchGenerate, configurable: true });
      Object.defineProperty(model, 'eosTokenIds', { value: [golden.eos_token_id], configurable: true });
      const records = [{ prompt: [{ role: 'user', content: 'What is 2+3?' }] }];
      const trainer = new GRPOTrainer({
        model,
        tools: [ADD],
        rewardFuncs: () => [0, 0],
        trainDataset: [...records, ...records],
        config: {
          numGenerations: 2,
          perDeviceTrainBatchSize: 2,
          outputDir: tempDir(),
          maxToolCallingIterations: 1,
          chatTemplateKwargs: { enable_thinking: false },
        },
      });
      const r = await trainer.generateRollouts([records[0], records[0]]);
      const expectedPrompt = tok.applyChatTemplate(records[0].prompt, {
        addGenerationPrompt: true,
        tokenize: true,
        tools: toolSchemas([ADD]),
        enableThinking: false,
      });
      expect(r.promptIds[0]).toEqual(expectedPrompt);
      expect(r.toolCallCount).toBe(2);
      expect(r.toolMask![0].filter((m) => m === 0).length).toBe(
        toolSuffixIds(tok, [{ role: 'tool', name: 'add', content: '5' }], { chatTemplateKwargs: { enable_thinking: false } }).length,
      );
      expect(r.completions[0].endsWith('Done.')).toBe(true);
      expect(
        () =>
          new GRPOTrainer({
            model,
            tools: [{ name: 'x' } as GRPOTool],
            rewardFuncs: () => [0, 0],
            trainDataset: records,
            config: { numGenerations: 2, perDeviceTrainBatchSize: 2 },
          }),
      ).toThrow(/handler/);
    } finally {
      cleanup();
    }
  });
});

describe('training with tools (tiny Qwen3 with the full Qwen3 vocabulary)', () => {
  it(
    'trains a step on tool rollouts; tool-turn positions contribute nothing to the loss or the gradients',
    onCpuDevice(mx, async () => {
      const { GRPOTrainer } = await import('../src/index.js');
      const { Qwen3 } = await import('@mlxn/models-qwen3');
      const { tinyQwen3WithTokenizer } = await import('@mlxn/test-support/qwen3');
      const { tempDir, cleanup } = await import('./trainer-fixture.js');
      try {
        const model = await Qwen3.load(tinyQwen3WithTokenizer(1));
        // Completion 0 of each prompt calls the tool, completion 1 answers at once.
        let call = 0;
        const scripted = scriptedPolicy((p) =>
          tok.decode(p).includes('<tool_response>') ? 'Done.' : call++ % 2 === 0 ? CALL_ADD : 'No tool.',
        );
        Object.defineProperty(model, 'batchGenerate', { value: scripted.batchGenerate, configurable: true });
        const logs: Record<string, unknown>[] = [];
        const trainer = new GRPOTrainer({
          model,
          tools: [ADD],
          rewardFuncs: ({ messages }) => (messages as ChatMessage[][]).map((m) => (m.some((x) => x.role === 'tool') ? 1 : 0)),
          trainDataset: [{ prompt: [{ role: 'user', content: 'What is 2+3?' }] }],
          config: {
            numGenerations: 2,
            perDeviceTrainBatchSize: 2,
            maxSteps: 1,
            loggingSteps: 1,
            bf16: false,
            outputDir: tempDir(),
            maxCompletionLength: 120,
            beta: 0.1,
          },
          onLog: (r) => logs.push(r as Record<string, unknown>),
        });
        await trainer.train();
        expect(logs[0]['tools/call_frequency']).toBe(0.5);
        expect(logs[0]['tools/failure_frequency']).toBe(0);
        expect(logs[0].reward).toBe(0.5);
        expect(Number.isFinite(logs[0].loss as number)).toBe(true);

        const r = trainer.lastRollouts!.rollouts;
        const row = r.toolMask!.findIndex((m) => m.includes(0));
        expect(row).toBeGreaterThanOrEqual(0);
        const t = rolloutTensors(r.promptIds, r.completionIds, r.truncated, { padTokenId: 0, toolMask: r.toolMask });
        const c = t.completionMask.shape[1];
        const tool = new Float32Array(r.completionIds.length * c);
        for (const [i, m] of r.toolMask!.entries()) {
          for (const [j, v] of m.entries()) tool[i * c + j] = v === 0 ? 1 : 0;
        }
        const toolPositions = mx.reshape(mx.array(tool, 'float32'), [-1, c]);
        // Old and reference log-probabilities that differ only where the tools wrote: garbage there
        // must change nothing at all.
        const base = mx.multiply(mx.ones([r.completionIds.length, c]), -2.5);
        const junk = mx.add(base, mx.multiply(toolPositions, 40));
        const batch = (lp: mx.Array) => ({
          inputIds: t.inputIds,
          attentionMask: t.attentionMask,
          completionMask: t.completionMask,
          promptLength: t.promptLength,
          advantages: mx.array([1, -1], 'float32'),
          oldLogprobs: lp,
          refLogprobs: lp,
          numItemsInBatch: Number(mx.sum(t.completionMask).item()),
          tokens: 0,
        });
        const a = trainer.lossAndGrad(batch(base));
        const b = trainer.lossAndGrad(batch(junk));
        expect(b.loss).toBe(a.loss);
        const gb = new Map(mx.treeFlattenWithPaths(b.grads));
        for (const [k, g] of mx.treeFlattenWithPaths(a.grads)) expect(mx.arrayEqual(g, gb.get(k)!).item(), k).toBe(true);
        // ...while the same garbage on the model's own tokens does change the loss.
        const modelPositions = mx.subtract(t.completionMask, 0);
        const c2 = trainer.lossAndGrad(batch(mx.add(base, mx.multiply(modelPositions, 40))));
        expect(c2.loss).not.toBe(a.loss);
      } finally {
        cleanup();
      }
    }),
  );
});
