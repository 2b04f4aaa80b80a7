// GRPOTrainer's parts against TRL's semantics, on the tiny fixture model.

import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { tokenLogprobs } from '@mlxn/models-qwen3';
import { adapterParameters } from '@mlxn/nn';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { cutAtEos, MetricsLog, ProgressBar, readMetrics, rolloutTensors, tokenizePrompts, withAdaptersDisabled } from '../src/index.js';
import { cleanup, lowTokenShare, tempDir, tinyModel, tinyTrainer } from './trainer-fixture.js';

afterAll(cleanup);

// batchGenerate is a method of @mlxn/models-qwen3's Qwen3 (on its prototype; spied on per instance).
const spyGenerate = (model: object) =>
  vi.spyOn(model as { batchGenerate: (p: number[][], o: Record<string, unknown>) => Promise<unknown> }, 'batchGenerate');

const flat = (a: mx.Array) => Array.from(a.dataSync() as Float32Array);

describe('rollouts', () => {
  it('keeps the first end-of-sequence token and nothing after it', () => {
    const eos = new Set([2, 9]);
    expect(cutAtEos([5, 6, 2, 7, 9], eos)).toEqual({ ids: [5, 6, 2], ended: true });
    expect(cutAtEos([5, 6, 7], eos)).toEqual({ ids: [5, 6, 7], ended: false });
    expect(cutAtEos([9], eos)).toEqual({ ids: [9], ended: true });
  });

  it('left-pads prompts, right-pads completions and masks truncated rows when asked', () => {
    const prompts = [[1, 2, 3], [4]];
    const completions = [
      [5, 2],
      [6, 7, 8],
    ];
    const truncated = [false, true];
    const t = rolloutTensors(prompts, completions, truncated, { padTokenId: 0 });
    expect(t.promptLength).toBe(3);
    expect(t.inputIds.tolist()).toEqual([
      [1, 2, 3, 5, 2, 0],
      [0, 0, 4, 6, 7, 8],
    ]);
    expect(t.attentionMask.tolist()).toEqual([
      [1, 1, 1, 1, 1, 0],
      [0, 0, 1, 1, 1, 1],
    ]);
    expect(t.completionMask.tolist()).toEqual([
      [1, 1, 0],
      [1, 1, 1],
    ]);
    const masked = rolloutTensors(prompts, completions, truncated, { padTokenId: 0, maskTruncatedCompletions: true });
    expect(masked.completionMask.tolist()).toEqual([
      [1, 1, 0],
      [0, 0, 0],
    ]);
    expect(masked.attentionMask.tolist()).toEqual([
      [1, 1, 1, 1, 1, 0],
      [0, 0, 1, 0, 0, 0],
    ]);
  });

  it('truncates prompts on the left to maxPromptLength', async () => {
    const model = await tinyModel();
    const full = tokenizePrompts(model.tokenizer!, ['12+34='])[0];
    const cut = tokenizePrompts(model.tokenizer!, ['12+34='], { maxPromptLength: 3 })[0];
    expect(cut).toEqual(full.slice(-3));
    expect(() => tokenizePrompts(model.tokenizer!, ['x'], { maxPromptLength: 0 })).toThrow(/maxPromptLength/);
  });

  it('generates every prompt × generation in ONE batched call', async () => {
    const { model, trainer } = await tinyTrainer({ maxSteps: 1 });
    const spy = spyGenerate(model);
    await trainer.train();
    expect(spy).toHaveBeenCalledTimes(1);
    const [prompts, options] = spy.mock.calls[0];
    expect(prompts).toHaveLength(8); // 2 prompts × 4 generations
    expect(prompts[0]).toEqual(prompts[3]); // a group is one prompt repeated
    expect(options).toMatchObject({ maxTokens: 6, maxBatchSize: 8, includeStopToken: true, temperature: 1 });
  });
});

describe('GRPOTrainer parts', () => {
  it('scores log-probabilities from the logits divided by the sampling temperature', async () => {
    const { model, trainer } = await tinyTrainer({ temperature: 0.7, maxSteps: 1, numIterations: 2 });
    await trainer.train();
    const batch = (
      trainer as unknown as {
        bufferState(): { batches: { inputIds: mx.Array; attentionMask: mx.Array; promptLength: number; oldLogprobs: mx.Array }[] };
      }
    ).bufferState().batches[0];
    // numIterations 2: the buffer keeps the generating policy's log-probabilities (before the update).
    expect(batch.oldLogprobs).not.toBeNull();
    const model2 = await tinyModel();
    const expected = tokenLogprobs(model2, batch.inputIds, {
      start: batch.promptLength,
      temperature: 0.7,
      mask: batch.attentionMask,
    }).logprobs;
    const plain = tokenLogprobs(model2, batch.inputIds, { start: batch.promptLength, temperature: 1, mask: batch.attentionMask }).logprobs;
    const got = flat(batch.oldLogprobs);
    for (const [i, v] of flat(expected).entries()) expect(got[i]).toBeCloseTo(v, 5);
    expect(flat(plain).some((v, i) => Math.abs(v - got[i]) > 1e-3)).toBe(true);
    void model;
  });

  it('reuses one generation for numIterations × stepsPerGeneration micro-steps', async () => {
    const { model, trainer } = await tinyTrainer({ maxSteps: 4, stepsPerGeneration: 2, perDeviceTrainBatchSize: 4, numIterations: 2 });
    const spy = spyGenerate(model);
    await trainer.train();
    expect(spy).toHaveBeenCalledTimes(1); // 4 micro-steps = 2 slices × 2 iterations of one generation
    expect(trainer.state.microStep).toBe(4);
  });

  it('accumulates gradients over gradientAccumulationSteps micro-batches per update', async () => {
    const { model, trainer } = await tinyTrainer({ maxSteps: 1, gradientAccumulationSteps: 2, perDeviceTrainBatchSize: 4 });
    const spy = vi.spyOn(trainer, 'lossAndGrad');
    const step = vi.spyOn(trainer, 'step');
    await trainer.train();
    expect(spy).toHaveBeenCalledTimes(2);
    expect(step).toHaveBeenCalledTimes(1);
    expect(Number(trainer.optimizer.step.item())).toBe(1);
    void model;
  });

  it('skips a step whose loss is not finite, reports it and goes on', async () => {
    const out = tempDir();
    const { model, trainer } = await tinyTrainer({ maxSteps: 3, outputDir: out });
    const real = trainer.lossAndGrad.bind(trainer);
    let calls = 0;
    vi.spyOn(trainer, 'lossAndGrad').mockImplementation((batch) => {
      const r = real(batch);
      calls++;
      return calls === 2 ? { ...r, loss: Number.NaN } : r;
    });
    let before: Float32Array | null = null;
    let after: Float32Array | null = null;
    const step = trainer.step.bind(trainer);
    vi.spyOn(trainer, 'step').mockImplementation((o) => {
      const w = () =>
        Float32Array.from(
          model
            .namedParameters()
            .find(([k]) => k.endsWith('mlp.down_proj.weight'))![1]
            .dataSync() as Float32Array,
        );
      if (calls === 2) before = w();
      const r = step(o);
      if (calls === 2) after = w();
      return r;
    });
    const result = await trainer.train();
    expect(result.globalStep).toBe(3);
    expect(result.skippedSteps).toBe(1);
    expect(Array.from(after!)).toEqual(Array.from(before!));
    const records = readMetrics(join(out, 'metrics.jsonl'));
    expect(records[1].skipped_steps).toBe(1);
    expect(records[0].skipped_steps).toBeUndefined();
    expect(Number.isFinite(records[2].loss)).toBe(true);
  });

  it('stops with an error naming the reward function and the step when it throws', async () => {
    const broken = function brokenReward(): number[] {
      throw new Error('no gold answer');
    };
    const { trainer } = await tinyTrainer({}, { rewardFuncs: [lowTokenShare, broken] });
    await expect(trainer.train()).rejects.toThrow(/brokenReward.*step 0.*no gold answer|brokenReward.*no gold answer.*step 0/);
  });

  it('reports the gradient norm before clipping and clips to maxGradNorm', async () => {
    const logs: Record<string, unknown>[] = [];
    const { trainer } = await tinyTrainer({ maxGradNorm: 1e-6, maxSteps: 1 }, { onLog: (r) => logs.push(r) });
    await trainer.train();
    expect(logs[0].grad_norm as number).toBeGreaterThan(1e-6);
  });

  it('stops when the signal aborts', async () => {
    const { trainer } = await tinyTrainer({ maxSteps: 50 });
    const ac = new AbortController();
    trainer.metrics; // eslint: touch
    const p = trainer.train({ signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toThrow();
    expect(trainer.state.globalStep).toBeLessThan(50);
  });
});

describe('LoRA and the reference model', () => {
  it('trains only the adapters: base weights keep their values, only adapters get gradients', async () => {
    const { model, trainer } = await tinyTrainer({
      lora: { rank: 4, alpha: 8, targetModules: ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'] },
      maxSteps: 2,
      beta: 0.04,
    });
    const base = new Map(
      model
        .namedParameters()
        .filter(([k]) => !/lora_[ab]$/.test(k))
        .map(([k, a]) => [k, Array.from(a.dataSync() as Float32Array)]),
    );
    const adaptersBefore = new Map(adapterParameters(model).map(([k, a]) => [k, Array.from(a.dataSync() as Float32Array)]));
    const trainable = model.namedTrainableParameters().map(([k]) => k);
    expect(trainable.length).toBeGreaterThan(0);
    expect(trainable.every((k) => /lora_[ab]$/.test(k))).toBe(true);
    const seen: string[][] = [];
    const acc = trainer.accumulate.bind(trainer);
    vi.spyOn(trainer, 'accumulate').mockImplementation((g) => {
      seen.push(mx.treeFlattenWithPaths(g).map(([k]) => k));
      acc(g);
    });
    await trainer.train();
    expect(seen.length).toBe(2);
    for (const keys of seen) expect(keys.every((k) => /lora[AB]$/.test(k))).toBe(true);
    for (const [k, a] of model.namedParameters()) {
      if (/lora_[ab]$/.test(k)) continue;
      expect(Array.from(a.dataSync() as Float32Array), k).toEqual(base.get(k));
    }
    const changed = adapterParameters(model).some(([k, a]) =>
      Array.from(a.dataSync() as Float32Array).some((v, i) => v !== adaptersBefore.get(k)![i]),
    );
    expect(changed).toBe(true);
  });

  it('uses the base with adapters disabled as the reference (no second copy)', async () => {
    const plain = await tinyModel();
    const { model } = await tinyTrainer({ lora: { rank: 4, alpha: 8 } });
    // Make the adapters do something, then compare the disabled model with the plain one.
    for (const [, m] of model.namedModules()) {
      const l = m as unknown as { loraB?: mx.Array };
      if (l.loraB) l.loraB = mx.ones(l.loraB.shape);
    }
    const ids = mx.array([[15, 10, 16, 28, 17, 18]], 'int32');
    const ref = tokenLogprobs(plain, ids, { start: 4 }).logprobs;
    const withAdapters = tokenLogprobs(model, ids, { start: 4 }).logprobs;
    const disabled = withAdaptersDisabled(model, () => tokenLogprobs(model, ids, { start: 4 }).logprobs);
    for (const [i, v] of flat(ref).entries()) expect(flat(disabled)[i]).toBeCloseTo(v, 5);
    expect(flat(withAdapters).some((v, i) => Math.abs(v - flat(ref)[i]) > 1e-3)).toBe(true);
    // And the adapters are back afterwards.
    for (const [i, v] of flat(tokenLogprobs(model, ids, { start: 4 }).logprobs).entries()) expect(v).toBeCloseTo(flat(withAdapters)[i], 5);
  });

  it('uses a given refModel for the KL term', async () => {
    const logs: Record<string, unknown>[] = [];
    const refModel = await tinyModel();
    const { trainer } = await tinyTrainer({ beta: 0.1, maxSteps: 3 }, { refModel, onLog: (r) => logs.push(r) });
    await trainer.train();
    expect(logs[0].kl).toBeCloseTo(0, 6);
    expect(logs[2].kl as number).toBeGreaterThan(0);
  });

  it('logs the KL to the starting weights when beta > 0 without LoRA', async () => {
    const logs: Record<string, unknown>[] = [];
    const { trainer } = await tinyTrainer({ beta: 0.1, maxSteps: 3 }, { onLog: (r) => logs.push(r) });
    await trainer.train();
    expect(logs[0].kl).toBeCloseTo(0, 6); // the first step's policy is the reference
    expect(logs[2].kl as number).toBeGreaterThan(0);
  });
});

describe('precision', () => {
  it('trains with bf16 compute while weights and optimizer state stay float32', async () => {
    const { model, trainer } = await tinyTrainer({ bf16: true, maxSteps: 2 });
    const result = await trainer.train();
    expect(result.skippedSteps).toBe(0);
    for (const [, a] of model.namedParameters()) expect(a.dtype).toBe('float32');
    const state = mx.treeFlattenWithPaths(trainer.optimizer.state).filter(([k]) => /\.(m|v)$/.test(k));
    expect(state.length).toBeGreaterThan(0);
    for (const [, a] of state) expect(a.dtype).toBe('float32');
  });

  it('keeps float32 optimizer state for bfloat16 weights', async () => {
    const { model, trainer } = await tinyTrainer({ bf16: false, maxSteps: 1 });
    model.setDtype('bfloat16');
    await trainer.train();
    for (const [, a] of model.namedParameters()) expect(a.dtype).toBe('bfloat16');
    for (const [k, a] of mx.treeFlattenWithPaths(trainer.optimizer.state)) if (/\.(m|v)$/.test(k)) expect(a.dtype).toBe('float32');
  });

  it("keeps the optimizer state in the weights' dtype with optimizerStateDtype 'parameter'", async () => {
    const { model, trainer } = await tinyTrainer({
      bf16: false,
      maxSteps: 2,
      gradientAccumulationSteps: 2,
      optimizerStateDtype: 'parameter',
    });
    model.setDtype('bfloat16');
    const before = mx.treeFlatten(model.trainableParameters()).map((a) => a.tolist());
    const result = await trainer.train();
    expect(result.skippedSteps).toBe(0);
    const state = mx.treeFlattenWithPaths(trainer.optimizer.state).filter(([k]) => /\.(m|v)$/.test(k));
    expect(state.length).toBeGreaterThan(0);
    for (const [, a] of state) expect(a.dtype).toBe('bfloat16');
    for (const [, a] of model.namedParameters()) expect(a.dtype).toBe('bfloat16');
    const after = mx.treeFlatten(model.trainableParameters()).map((a) => a.tolist());
    expect(after).not.toEqual(before);
  });

  it('gives float32 weights the same updates with either optimizerStateDtype', async () => {
    const weights = async (optimizerStateDtype: string, bf16: boolean) => {
      const { model, trainer } = await tinyTrainer({ bf16, maxSteps: 2, gradientAccumulationSteps: 2, optimizerStateDtype });
      await trainer.train();
      for (const [k, a] of mx.treeFlattenWithPaths(trainer.optimizer.state)) if (/\.(m|v)$/.test(k)) expect(a.dtype, k).toBe('float32');
      return mx.treeFlatten(model.trainableParameters()).map((a) => a.tolist());
    };
    for (const bf16 of [false, true]) expect(await weights('parameter', bf16)).toEqual(await weights('float32', bf16));
  });
});

describe('metrics and progress', () => {
  it('averages a logging window without NaN values and writes JSON lines', () => {
    const dir = tempDir();
    const seen: Record<string, unknown>[] = [];
    const m = new MetricsLog({ outputDir: dir, onLog: (r) => seen.push(r) });
    m.add('reward', 1);
    m.add('reward', Number.NaN);
    m.add('reward', 3);
    m.add('kl', Number.NaN);
    const r = m.flush({ step: 2, epoch: 0.5 });
    expect(r).toEqual({ step: 2, epoch: 0.5, reward: 2, kl: null });
    expect(seen).toEqual([r]);
    m.add('reward', 5);
    m.flush({ step: 4, epoch: 1 });
    expect(readMetrics(join(dir, 'metrics.jsonl')).map((x) => x.step)).toEqual([2, 4]);
    m.truncateAfter(3);
    expect(readMetrics(join(dir, 'metrics.jsonl')).map((x) => x.step)).toEqual([2]);
  });

  it('draws a bar in place on a terminal and plain lines otherwise', () => {
    const chunks: string[] = [];
    const write = (s: string) => {
      chunks.push(s);
      return true;
    };
    const stream = { write, isTTY: true, columns: 200 } as unknown as NodeJS.WritableStream;
    const bar = new ProgressBar(4, { stream, label: 'GRPO', width: 8 });
    bar.update(2, { reward: 0.5 });
    bar.done();
    expect(chunks[0]).toMatch(/^\rGRPO ████░░░░ 2\/4 .*\| reward 0\.500$/);
    expect(chunks[1]).toBe('\n');
    const lines: string[] = [];
    const writeLine = (s: string) => {
      lines.push(s);
      return true;
    };
    const plain = new ProgressBar(40, { stream: { write: writeLine } as unknown as NodeJS.WritableStream });
    for (let i = 1; i <= 40; i++) plain.update(i, { loss: 1 });
    expect(lines.length).toBeLessThanOrEqual(21);
    expect(lines[lines.length - 1]).toMatch(/^step 40\/40 \(100%\) .* loss 1\n$/);
  });
});
