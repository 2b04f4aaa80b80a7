import { describe, expect, it, vi } from 'vitest';
import {
  accuracyReward,
  answersMatch,
  compileJsonSchema,
  extractAnswer,
  findToolCalls,
  formatReward,
  JsonSchemaError,
  jsonSchemaReward,
  lengthReward,
  parseNumber,
  type RewardArgs,
  type RewardFunction,
  RewardFunctionError,
  runRewardFunctions,
  toolCallReward,
} from '../src/index.js';

/** Reward arguments for direct calls of a built-in. */
function argsFor(completions: string[], columns: Record<string, unknown[]> = {}, ids?: number[][]): RewardArgs {
  return {
    prompts: completions.map(() => 'q'),
    completions,
    completionIds: ids ?? completions.map(() => []),
    trainerState: {},
    logMetric: () => {},
    ...columns,
  };
}

describe('runRewardFunctions', () => {
  const inputs = [
    { prompt: 'a?', answer: '1', level: 3 },
    { prompt: 'a?', answer: '1', level: 3 },
    { prompt: 'b?', answer: '2', level: 5 },
    { prompt: 'b?', answer: '2', level: 5 },
  ];
  const base = { inputs, completions: ['1', '7', '2', 'x'], completionIds: [[1], [2, 3], [4], []], trainerState: { step: 3 }, step: 3 };

  it('passes prompts, completions, ids, every column and the trainer state, like TRL', async () => {
    let seen: RewardArgs | undefined;
    const spy: RewardFunction = (args) => {
      seen = args;
      return args.completions.map(() => 1);
    };
    await runRewardFunctions({ ...base, rewardFuncs: [spy] });
    expect(seen!.prompts).toEqual(['a?', 'a?', 'b?', 'b?']);
    expect(seen!.completions).toEqual(base.completions);
    expect(seen!.completionIds).toEqual(base.completionIds);
    expect(seen!.answer).toEqual(['1', '1', '2', '2']);
    expect(seen!.level).toEqual([3, 3, 5, 5]);
    expect(seen!.trainerState).toEqual({ step: 3 });
    expect(seen!.messages).toBeUndefined();
    expect('prompt' in seen!).toBe(false);
  });

  it('builds messages for chat prompts', async () => {
    let seen: RewardArgs | undefined;
    const chat = [{ role: 'user', content: 'hi' }];
    await runRewardFunctions({
      inputs: [{ prompt: chat }, { prompt: chat }],
      completions: ['yo', 'hey'],
      completionIds: [[1], [2]],
      trainerState: null,
      step: 0,
      rewardFuncs: [
        (a) => {
          seen = a;
          return [0, 0];
        },
      ],
    });
    expect(seen!.messages).toEqual([
      [...chat, { role: 'assistant', content: 'yo' }],
      [...chat, { role: 'assistant', content: 'hey' }],
    ]);
  });

  it('mixes sync and async functions, keeps nulls, names columns by function', async () => {
    const exact: RewardFunction = (a) => a.completions.map((c, i) => (c === (a.answer as string[])[i] ? 1 : 0));
    const onlyFirst = async (a: RewardArgs) => {
      await new Promise((r) => setTimeout(r, 5));
      return a.completions.map((_, i) => (i === 0 ? 0.5 : null));
    };
    const t = await runRewardFunctions({ ...base, rewardFuncs: [exact, onlyFirst], warn: () => {} });
    expect(t.names).toEqual(['exact', 'onlyFirst']);
    expect(t.rewardsPerFunc).toEqual([
      [1, 0.5],
      [0, null],
      [1, null],
      [0, null],
    ]);
  });

  it('warns, as TRL does, when every function returns null for a completion', async () => {
    const warn = vi.fn();
    await runRewardFunctions({ ...base, rewardFuncs: [(a) => a.completions.map((_, i) => (i === 2 ? null : 1))], warn });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/All reward functions returned null for completion 2/);
  });

  it('a throwing function stops the step with an error naming it and the step', async () => {
    const broken: RewardFunction = function brokenReward() {
      throw new Error('boom');
    };
    const err = await runRewardFunctions({ ...base, rewardFuncs: [broken] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RewardFunctionError);
    expect((err as Error).message).toBe('reward function "brokenReward" threw: boom at step 3');
    expect((err as RewardFunctionError).rewardFunction).toBe('brokenReward');
    expect((err as RewardFunctionError).step).toBe(3);
    const rejecting = async () => Promise.reject(new Error('async boom'));
    await expect(runRewardFunctions({ ...base, rewardFuncs: [rejecting] })).rejects.toThrow(/"rejecting" threw: async boom at step 3/);
  });

  it('rejects wrong lengths and non-finite rewards', async () => {
    await expect(
      runRewardFunctions({
        ...base,
        rewardFuncs: [
          function short() {
            return [1];
          },
        ],
      }),
    ).rejects.toThrow(/"short" returned 1 rewards for 4 completions/);
    await expect(
      runRewardFunctions({
        ...base,
        rewardFuncs: [
          function nan() {
            return [1, NaN, 1, 1];
          },
        ],
      }),
    ).rejects.toThrow(/"nan" returned NaN for completion 1/);
    await expect(
      runRewardFunctions({
        ...base,
        rewardFuncs: [
          function str() {
            return ['1', 1, 1, 1] as never;
          },
        ],
      }),
    ).rejects.toThrow(/a finite number or null/);
  });

  it('refuses duplicate names and reserved column names', async () => {
    const f = () => [1, 1, 1, 1];
    await expect(runRewardFunctions({ ...base, rewardFuncs: [f, f] })).rejects.toThrow(/two reward functions are named "f"/);
    await expect(runRewardFunctions({ ...base, inputs: inputs.map((r) => ({ ...r, completions: 1 })), rewardFuncs: [f] })).rejects.toThrow(
      /column "completions" clashes/,
    );
  });

  it('collects metrics the functions log', async () => {
    const t = await runRewardFunctions({
      ...base,
      rewardFuncs: [
        (a) => {
          a.logMetric('custom', 2);
          return a.completions.map(() => 0);
        },
      ],
    });
    expect(t.loggedMetrics).toEqual({ custom: [2] });
  });
});

describe('answer extraction and comparison', () => {
  it('finds the answer tag, \\boxed or the last number, ignoring reasoning', () => {
    expect(extractAnswer('<think>maybe 3</think><answer> 42 </answer>')).toBe('42');
    expect(extractAnswer('so \\boxed{\\frac{1}{2}} done')).toBe('\\frac{1}{2}');
    expect(extractAnswer('<think>7</think>It is 1,234 apples.')).toBe('1,234');
    expect(extractAnswer('<think>7 8 9</think>no idea')).toBeNull();
    expect(extractAnswer('a <answer>x</answer> b', 'last-number')).toBeNull();
  });
  it('parses numbers in the usual answer forms', () => {
    expect(parseNumber('1,234')).toBe(1234);
    expect(parseNumber('$12.50')).toBe(12.5);
    expect(parseNumber('3/4')).toBe(0.75);
    expect(parseNumber('-7.')).toBe(-7);
    expect(parseNumber('12 apples')).toBeNull();
    expect(parseNumber('1,23')).toBeNull();
  });
  it('compares numerically or as normalised strings', () => {
    expect(answersMatch('4.0', '4')).toBe(true);
    expect(answersMatch('4.01', 4)).toBe(false);
    expect(answersMatch(' Paris. ', 'paris')).toBe(true);
    expect(answersMatch('04', '4', { compare: 'string' })).toBe(false);
  });
});

describe('built-in rewards', () => {
  it('accuracy: 1/0 against the gold column, null without gold', () => {
    const acc = accuracyReward();
    expect(acc.name).toBe('accuracy');
    const out = acc(argsFor(['<answer>5</answer>', 'the answer is 6', 'five', 'x'], { answer: ['5', 5, '5', null] }));
    expect(out).toEqual([1, 0, 0, null]);
    expect(() => acc(argsFor(['1']))).toThrow(/no "answer" column/);
    const words = accuracyReward({ answerField: 'city', extract: 'answer-tag', name: 'city_match' });
    expect(words.name).toBe('city_match');
    expect(words(argsFor(['<answer>New  York</answer>', '<answer>Boston</answer>'], { city: ['new york', 'NYC'] }))).toEqual([1, 0]);
  });

  it('format: the think/answer layout', () => {
    const fmt = formatReward();
    expect(
      fmt(
        argsFor([
          '<think>2+2</think>\n<answer>4</answer>',
          '<think>a</think><answer>4</answer> trailing',
          '<answer>4</answer>',
          '<think>a</think><think>b</think><answer>4</answer>',
          '<think>a</think><answer>4</answer><answer>5</answer>',
        ]),
      ),
    ).toEqual([1, 0, 0, 0, 0]);
    const inside = formatReward({ startInReasoning: true });
    expect(inside(argsFor(['reasoning</think><answer>4</answer>', '<think>x</think><answer>4</answer>']))).toEqual([1, 0]);
    const thinkOnly = formatReward({ answer: false });
    expect(thinkOnly(argsFor(['<think>x</think> anything', 'no think']))).toEqual([1, 0]);
  });

  it("length: TRL's soft overlong punishment", () => {
    const len = lengthReward({ maxCompletionLength: 10, softPunishCache: 4 });
    const ids = [6, 7, 8, 10, 11].map((n) => new Array<number>(n).fill(0));
    expect(
      len(
        argsFor(
          ids.map(() => ''),
          {},
          ids,
        ),
      ),
    ).toEqual([0, -0.25, -0.5, -1, -1]);
    expect(() => lengthReward({ maxCompletionLength: 10, softPunishCache: 0 })).toThrow(/softPunishCache/);
  });

  it('tool calls: well-formed Qwen3 calls of known tools with valid arguments', () => {
    const tools = toolCallReward({
      tools: [
        {
          type: 'function',
          function: {
            name: 'add',
            parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
          },
        },
        'now',
      ],
    });
    const call = (body: string) => `<tool_call>\n${body}\n</tool_call>`;
    expect(
      tools(
        argsFor([
          call('{"name": "add", "arguments": {"a": 1, "b": 2}}'),
          call('{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\": 2}"}') + call('{"name": "now"}'),
          call('{"name": "add", "arguments": {"a": 1}}'),
          call('{"name": "sub", "arguments": {}}'),
          call('{"name": "add", arguments: {}}'),
          '<tool_call>{"name": "now"}',
          'no call at all',
          `<think>${call('{"name": "now"}')}</think>I will not call.`,
        ]),
      ),
    ).toEqual([1, 1, 0, 0, 0, 0, 0, 0]);
    const optional = toolCallReward({ requireCall: false });
    expect(optional(argsFor(['plain', call('{"name": "anything"}')]))).toEqual([null, 1]);
    expect(findToolCalls(`${call('[1]')}`).invalid[0].error).toMatch(/must be a JSON object/);
  });

  it('JSON schema: extracts the JSON and validates it', () => {
    const r = jsonSchemaReward({
      schema: {
        type: 'object',
        properties: { city: { type: 'string', minLength: 1 }, days: { type: 'integer', minimum: 1 } },
        required: ['city'],
        additionalProperties: false,
      },
    });
    expect(
      r(
        argsFor([
          '{"city": "Oslo", "days": 3}',
          'Here:\n```json\n{"city": "Oslo"}\n```',
          '<think>{}</think><answer>{"city": "Rome"}</answer>',
          '{"city": "Oslo", "days": 1.5}',
          '{"city": "Oslo", "extra": true}',
          '{"days": 2}',
          'not json',
        ]),
      ),
    ).toEqual([1, 1, 1, 0, 0, 0, 0]);
  });
});

describe('the JSON-schema validator', () => {
  it('implements the keywords of draft 2020-12, reporting the first rule broken', () => {
    const v = compileJsonSchema({
      $defs: { tag: { type: 'string', pattern: '^[a-z]+$' } },
      type: 'object',
      properties: {
        tags: { type: 'array', items: { $ref: '#/$defs/tag' }, minItems: 1, uniqueItems: true },
        kind: { enum: ['a', 'b'] },
        n: { anyOf: [{ type: 'null' }, { type: 'number', exclusiveMinimum: 0, multipleOf: 0.5 }] },
        pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'boolean' }], items: false },
        one: { oneOf: [{ type: 'integer' }, { type: 'number', maximum: 10 }] },
        // Any unit but kelvin must be celsius.
        unit: { if: { const: 'kelvin' }, else: { enum: ['celsius'] } },
      },
      dependentRequired: { unit: ['n'] },
    });
    expect(v({ tags: ['x', 'y'], kind: 'a', n: 1.5, pair: ['s', true], one: 20, unit: 'kelvin' })).toEqual([]);
    expect(v({ tags: [] })).toEqual(['(root)/tags: must NOT have fewer than 1 items']);
    expect(v({ tags: ['X'] })).toEqual(['(root)/tags/0: must match pattern "^[a-z]+$"']);
    expect(v({ tags: ['x', 'x'] })[0]).toMatch(/^\(root\)\/tags: must NOT have duplicate items/);
    expect(v({ kind: 'c' })).toEqual(['(root)/kind: must be equal to one of the allowed values']);
    expect(v({ n: 0 })).toEqual(['(root)/n: must be null', '(root)/n: must be > 0', '(root)/n: must match a schema in anyOf']);
    expect(v({ n: 0.7 }).at(-1)).toBe('(root)/n: must match a schema in anyOf');
    expect(v({ pair: ['s', true, 1] })).toEqual(['(root)/pair: must NOT have more than 2 items']);
    expect(v({ one: 3 })).toEqual(['(root)/one: must match exactly one schema in oneOf']);
    expect(v({ n: 1, unit: 'fahrenheit' })).toEqual(['(root)/unit: must be equal to one of the allowed values']);
    expect(v({ unit: 'celsius' })).toEqual(['(root): must have property n when property unit is present']);
    expect(v([])).toEqual(['(root): must be object']);
    // multipleOf allows for floating point: 0.3 / 0.1 is 2.9999999999999996.
    expect(compileJsonSchema({ multipleOf: 0.1 })(0.3)).toEqual([]);
    // `format` is an annotation.
    expect(compileJsonSchema({ type: 'string', format: 'email' })('not an address')).toEqual([]);
  });

  it('follows the draft $schema names: 2019-09 and 07 too', () => {
    const tuple = compileJsonSchema({
      $schema: 'http://json-schema.org/draft-07/schema#',
      items: [{ type: 'string' }],
      additionalItems: false,
    });
    expect(tuple(['a'])).toEqual([]);
    expect(tuple(['a', 1])).toEqual(['(root): must NOT have more than 1 items']);
    expect(compileJsonSchema({ $schema: 'https://json-schema.org/draft/2019-09/schema', type: 'integer' })(1.5)).toEqual([
      '(root): must be integer',
    ]);
    expect(() => compileJsonSchema({ $schema: 'http://json-schema.org/draft-04/schema#' })).toThrow(/draft-04.*is not supported/);
  });

  it('compiles schemas that share an $id, and bounds the nesting of the value', () => {
    const person = () => ({
      $id: 'https://example.com/person',
      type: 'object',
      properties: { name: { type: 'string' }, kids: { type: 'array', items: { $ref: 'https://example.com/person' } } },
      required: ['name'],
    });
    const first = compileJsonSchema(person());
    const second = compileJsonSchema(person());
    expect(first({ name: 'a', kids: [{ name: 'b' }] })).toEqual([]);
    expect(second({ name: 'a', kids: [{}] })).toEqual(["(root)/kids/0: must have required property 'name'"]);
    // A recursive schema walks as deep as the value; model output nested 100,000 deep is a
    // violation, not a stack overflow.
    const nested = compileJsonSchema({ anyOf: [{ type: 'number' }, { type: 'array', items: { $ref: '#' } }] });
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(nested(deep)).toEqual(['(root): nests deeper than 200 levels']);
    let shallow: unknown = 1;
    for (let i = 0; i < 150; i++) shallow = [shallow];
    expect(nested(shallow)).toEqual([]);
  });

  it('rejects unknown keywords, invalid schemas, bad $refs and $ref cycles with a JsonSchemaError', () => {
    expect(() => compileJsonSchema({ type: 'object', requried: ['a'] })).toThrow(JsonSchemaError);
    expect(() => compileJsonSchema({ type: 'object', requried: ['a'] })).toThrow(/unknown keyword: "requried"/);
    expect(() => compileJsonSchema({ $ref: '#/$defs/missing' })).toThrow(/can't resolve reference #\/\$defs\/missing/);
    expect(() => compileJsonSchema({ type: 'float' })).toThrow(/schema is invalid: data\/type/);
    expect(() => compileJsonSchema({ $ref: '#' })(1)).toThrow(/a \$ref cycle/);
  });
});
