// The gradient of every weight of the tiny dense Qwen3 and Qwen3-MoE through `GRPOTrainer.lossAndGrad`
// against TRL 1.16's own `GRPOTrainer._compute_loss` with the real model forward and `backward()`
// (tooling/reference/grpo_trl_tools_router_golden.py): loss types, sequence-level importance
// sampling, KL, off-policy ratios, gradient accumulation, entropy quantile, tool masks and the MoE
// router load-balancing loss, on the same weights and batch (float32).
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { Qwen3 } from '@mlxn/models-qwen3';
import { gradientSummary } from '@mlxn/test-support/hf-gradients';
import { qwen3TokenizerDir, tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { afterAll, describe, expect, it } from 'vitest';
import { type GRPOConfigInput, GRPOTrainer, type TrainBatch } from '../src/index.js';
import { cleanup, tempDir } from './trainer-fixture.js';

interface GradEntry {
  shape: number[];
  sq_norm: number;
  dot: number;
  data?: number[];
}
interface Case {
  kind: 'dense' | 'moe';
  config: Record<string, unknown>;
  batch: { old?: boolean; ref?: boolean; tools?: boolean };
  old_per_token_logps: number[] | null;
  ref_per_token_logps: number[] | null;
  num_items_in_batch: number;
  loss: number;
  aux_loss_enabled: boolean;
  router_aux_loss_coef: number;
  metrics: Record<string, number>;
  grads: Record<string, GradEntry>;
}
const golden = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'trl_compute_loss_grads.json'), 'utf8')) as {
  prompt_ids: number[][];
  prompt_mask: number[][];
  completion_ids: number[][];
  completion_mask: number[][];
  tool_mask: number[][];
  advantages: number[];
  cases: Record<string, Case>;
};
afterAll(cleanup);

const folders = new Map<string, string>();
function folder(kind: 'dense' | 'moe'): string {
  if (!folders.has(kind)) {
    const dir = tempDir(`mlxn-grpo-trl-${kind}-`);
    cpSync(tinyQwen3Path(kind), dir, { recursive: true });
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(qwen3TokenizerDir(), f), join(dir, f));
    folders.set(kind, dir);
  }
  return folders.get(kind)!;
}

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
const f32 = (rows: number[][]) => mx.array(rows, 'float32');

describe("gradients through TRL's _compute_loss (golden)", () => {
  // With gradient checkpointing (TRL's default) and, for the MoE model, also without it.
  const runs = Object.entries(golden.cases).flatMap(([name, c]) =>
    (c.kind === 'moe' ? [true, false] : [true]).map((ck) => [name, c, ck] as const),
  );
  for (const [name, c, checkpointing] of runs) {
    it(`${name}${checkpointing ? '' : ' (no checkpointing)'}`, async () => {
      const model = await Qwen3.load(folder(c.kind), { truncatedVocab: true });
      const config: GRPOConfigInput = {
        numGenerations: 2,
        perDeviceTrainBatchSize: 4,
        maxCompletionLength: 6,
        bf16: false,
        gradientCheckpointing: checkpointing,
        outputDir: tempDir(),
        maxSteps: 1,
        ...Object.fromEntries(Object.entries(c.config).map(([k, v]) => [camel(k), v])),
      };
      const trainer = new GRPOTrainer({
        model,
        rewardFuncs: () => [0, 0, 0, 0],
        trainDataset: ['a', 'b', 'c', 'd'].map((prompt) => ({ prompt })),
        config,
      });
      expect(trainer.routerLoss?.coef ?? 0).toBeCloseTo(c.aux_loss_enabled ? c.router_aux_loss_coef : 0, 12);
      const cmask = golden.completion_mask.map((r, i) => r.map((m, j) => m * (c.batch.tools ? golden.tool_mask[i][j] : 1)));
      const batch: TrainBatch = {
        inputIds: mx.array(
          golden.prompt_ids.map((p, i) => [...p, ...golden.completion_ids[i]]),
          'int32',
        ),
        attentionMask: f32(golden.prompt_mask.map((p, i) => [...p, ...golden.completion_mask[i]])),
        completionMask: f32(cmask),
        promptLength: golden.prompt_ids[0].length,
        advantages: mx.array(golden.advantages, 'float32'),
        oldLogprobs: c.old_per_token_logps ? mx.reshape(mx.array(c.old_per_token_logps, 'float32'), [4, 6]) : null,
        refLogprobs: c.ref_per_token_logps ? mx.reshape(mx.array(c.ref_per_token_logps, 'float32'), [4, 6]) : null,
        numItemsInBatch: c.num_items_in_batch,
        tokens: 0,
      };
      const { loss, grads, metrics } = trainer.lossAndGrad(batch);
      expect(rel(loss, c.loss), `loss ${loss} vs ${c.loss}`).toBeLessThan(1e-5);
      if (c.metrics.aux_loss !== undefined) expect(rel(metrics.aux_loss, c.metrics.aux_loss)).toBeLessThan(1e-5);
      else expect(metrics.aux_loss).toBeUndefined();
      const flat = new Map(mx.treeFlattenWithPaths(grads));
      for (const [hf, g] of Object.entries(c.grads)) {
        const { data, sqNorm: sq, dot, patternNorm: pNorm } = gradientSummary(flat, hf, g.shape);
        if (g.sq_norm === 0) {
          expect(sq, hf).toBe(0);
          continue;
        }
        // ‖g‖² within 2e-5 (1e-5 on ‖g‖) and the projection on a fixed direction within 1e-5 of ‖g‖·‖p‖.
        expect(rel(sq, g.sq_norm), `${hf} |g|^2`).toBeLessThan(2e-5);
        expect(Math.abs(dot - g.dot) / (Math.sqrt(g.sq_norm) * pNorm), `${hf} projection`).toBeLessThan(1e-5);
        if (g.data) {
          const scale = Math.sqrt(g.sq_norm);
          const err = Math.sqrt(g.data.reduce((s, x, i) => s + (data[i] - x) ** 2, 0));
          expect(err / scale, `${hf} elementwise`).toBeLessThan(1e-5);
        }
      }
      mx.dispose(grads);
    });
  }
});
