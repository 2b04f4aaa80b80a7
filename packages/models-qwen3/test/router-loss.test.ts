// The router load-balancing loss against transformers 5.17's own (`Qwen3MoeForCausalLM(...,
// output_router_logits=True).aux_loss`, tooling/reference/grpo_trl_tools_router_golden.py):
// router logits, the loss with and without an attention mask, and its gradient for every weight.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { valueAndGrad } from '@mlxn/nn';
import { gradientSummary } from '@mlxn/test-support/hf-gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointedValueAndGradWithRouterLoss,
  loadBalancingLoss,
  paddingAttentionMask,
  parseQwen3Config,
  Qwen3,
  routerLossSettings,
  tokenLogprobsFromHidden,
  withRouterLogits,
} from '../src/index.js';
import { tinyQwen3Path } from './helpers.js';

interface GradEntry {
  shape: number[];
  sq_norm: number;
  dot: number;
  data?: number[];
}
interface Golden {
  input_ids: number[][];
  attention_mask: number[][];
  num_experts: number;
  top_k: number;
  router_aux_loss_coef: number;
  cases: Record<'masked' | 'no_mask', { aux_loss: number; router_logits: number[][]; grads: Record<string, GradEntry> }>;
}
const golden = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'router_loss_golden.json'), 'utf8')) as Golden;

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

let model: Qwen3;
beforeAll(async () => {
  model = await Qwen3.load(tinyQwen3Path('moe'));
});

describe('router load-balancing loss (transformers 5.17 golden)', () => {
  it("reads the settings from the model's config, transformers' default coefficient included", () => {
    expect(routerLossSettings(model)).toEqual({
      numExperts: golden.num_experts,
      topK: golden.top_k,
      routerAuxLossCoef: golden.router_aux_loss_coef,
    });
  });

  for (const name of ['masked', 'no_mask'] as const) {
    it(`matches the loss, the router logits and every weight's gradient (${name})`, () => {
      const c = golden.cases[name];
      const ids = mx.array(golden.input_ids, 'int32');
      const attn = mx.array(golden.attention_mask, 'float32');
      const attentionMask = name === 'masked' ? attn : null;
      const settings = routerLossSettings(model)!;
      let logits: mx.Array[] = [];
      const [aux, grads] = valueAndGrad(model, () => {
        const { routerLogits } = withRouterLogits(model, () =>
          model.hidden(ids, { mask: attentionMask ? paddingAttentionMask(attentionMask) : 'causal' }),
        );
        logits = routerLogits;
        return loadBalancingLoss(routerLogits, { numExperts: settings.numExperts, topK: settings.topK, attentionMask });
      })();
      expect(rel(Number(aux.item()), c.aux_loss)).toBeLessThan(1e-5);
      expect(logits).toHaveLength(c.router_logits.length);
      logits.forEach((l, i) => {
        const ours = Array.from(mx.reshape(l, [-1]).dataSync() as Float32Array);
        // Padded rows' logits are not compared (their attention rows are fully masked, so they differ by design).
        const valid = golden.attention_mask.flat();
        ours.forEach((v, j) => {
          if (attentionMask === null || valid[Math.floor(j / golden.num_experts)] === 1)
            expect(Math.abs(v - c.router_logits[i][j])).toBeLessThan(1e-5);
        });
      });
      const flat = new Map(mx.treeFlattenWithPaths(grads).map(([k, v]) => [k, v]));
      for (const [hf, g] of Object.entries(c.grads)) {
        const { data, sqNorm: sq, dot } = gradientSummary(flat, hf, g.shape);
        if (g.sq_norm === 0) expect(sq, hf).toBe(0);
        else expect(rel(sq, g.sq_norm), hf).toBeLessThan(2e-5);
        const scale = Math.sqrt(g.sq_norm * data.length);
        expect(Math.abs(dot - g.dot) / Math.max(scale, 1e-30), hf).toBeLessThan(1e-5);
        if (g.data)
          for (const [i, x] of g.data.entries())
            expect(Math.abs(data[i] - x), `${hf}[${i}]`).toBeLessThan(1e-5 * Math.max(1e-3, Math.sqrt(g.sq_norm)));
      }
    });
  }

  it('checkpointed: the same value and gradients as the plain backward pass, head loss and router loss together', () => {
    const ids = mx.array(golden.input_ids, 'int32');
    const attn = mx.array(golden.attention_mask, 'float32');
    const mask = paddingAttentionMask(attn);
    const { numExperts, topK } = routerLossSettings(model)!;
    const head = (h: mx.Array) => {
      const lp = tokenLogprobsFromHidden(model, h, ids, { start: 4 }).logprobs;
      return [mx.negative(mx.mean(lp)), mx.max(lp)];
    };
    const [plainOut, plainGrads] = valueAndGrad(model, () => {
      const { value: h, routerLogits } = withRouterLogits(model, () => model.hidden(ids, { mask }));
      const aux = loadBalancingLoss(routerLogits, { numExperts, topK, attentionMask: attn });
      const [first, ...rest] = head(h);
      return [mx.add(first, mx.multiply(aux, 0.3)), ...rest, aux];
    })() as unknown as [mx.Array[], Parameters<typeof mx.treeFlattenWithPaths>[0]];
    const [ckOut, ckGrads] = checkpointedValueAndGradWithRouterLoss(model, head, ids, {
      mask,
      tokenMask: attn,
      numExperts,
      topK,
      weight: 0.3,
    });
    expect(ckOut).toHaveLength(3);
    for (const [i, v] of ckOut.entries()) expect(Math.abs(Number(v.item()) - Number(plainOut[i].item()))).toBeLessThan(1e-6);
    expect(rel(Number(ckOut[2].item()), golden.cases.masked.aux_loss)).toBeLessThan(1e-5);
    const ck = new Map(mx.treeFlattenWithPaths(ckGrads));
    const plain = mx.treeFlattenWithPaths(plainGrads);
    expect(plain.length).toBe(ck.size);
    for (const [k, g] of plain) expect(mx.allclose(ck.get(k)!, g, { atol: 1e-6, rtol: 1e-5 }).item(), k).toBe(true);
    // The router's share reaches the gate weights (a zero weight would leave them the head's alone).
    const [, noAux] = checkpointedValueAndGradWithRouterLoss(model, head, ids, { mask, tokenMask: attn, numExperts, topK, weight: 0 });
    const gate = 'model.layers.0.mlp.gate.weight';
    expect(mx.allclose(new Map(mx.treeFlattenWithPaths(noAux)).get(gate)!, ck.get(gate)!, { atol: 1e-7 }).item()).toBe(false);
  });

  it('checkpointed: layers without experts (mlp_only_layers) and a frozen head', () => {
    mx.random.seed(3);
    const mixed = new Qwen3(
      parseQwen3Config({
        model_type: 'qwen3_moe',
        vocab_size: 64,
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 3,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        head_dim: 16,
        moe_intermediate_size: 16,
        num_experts: 4,
        num_experts_per_tok: 2,
        norm_topk_prob: false,
        mlp_only_layers: [1],
        eos_token_id: 1,
      }),
    );
    mixed.lmHead!.freeze();
    const ids = mx.array(
      [
        [3, 9, 27, 5, 11],
        [8, 2, 40, 33, 7],
      ],
      'int32',
    );
    const head = (h: mx.Array) => [mx.mean(mx.square(mixed.logitsFromHidden(h)))];
    const [plainOut, plainGrads] = valueAndGrad(mixed, () => {
      const { value: h, routerLogits } = withRouterLogits(mixed, () => mixed.hidden(ids));
      expect(routerLogits).toHaveLength(2);
      const aux = loadBalancingLoss(routerLogits, { numExperts: 4, topK: 2 });
      return [mx.add(head(h)[0], mx.multiply(aux, 0.7)), aux];
    })() as unknown as [mx.Array[], Parameters<typeof mx.treeFlattenWithPaths>[0]];
    const [ckOut, ckGrads] = checkpointedValueAndGradWithRouterLoss(mixed, head, ids, { numExperts: 4, topK: 2, weight: 0.7 });
    for (const [i, v] of ckOut.entries()) expect(Math.abs(Number(v.item()) - Number(plainOut[i].item()))).toBeLessThan(1e-6);
    const ck = new Map(mx.treeFlattenWithPaths(ckGrads));
    expect(ck.has('lmHead.weight')).toBe(false);
    for (const [k, g] of mx.treeFlattenWithPaths(plainGrads))
      expect(mx.allclose(ck.get(k)!, g, { atol: 1e-6, rtol: 1e-5 }).item(), k).toBe(true);
  });

  it('gives 0 without router logits and rejects bad settings', () => {
    expect(Number(loadBalancingLoss([], { numExperts: 4, topK: 2 }).item())).toBe(0);
    expect(() => loadBalancingLoss([mx.zeros([3, 4])], { numExperts: 4, topK: 5 })).toThrow(/topK/);
    expect(() => loadBalancingLoss([mx.zeros([3, 5])], { numExperts: 4, topK: 2 })).toThrow(/numExperts/);
    expect(() => loadBalancingLoss([mx.zeros([3, 4])], { numExperts: 4, topK: 2, attentionMask: mx.ones([1, 2]) })).toThrow(/rows/);
  });

  it('collects nothing outside withRouterLogits', () => {
    const ids = mx.array([[1, 2, 3]], 'int32');
    const { routerLogits } = withRouterLogits(model, () => model.hidden(ids));
    expect(routerLogits).toHaveLength(2);
    const blocks = model.modules().filter((m) => '_routerLogits' in m) as unknown as { _routerLogits: unknown }[];
    expect(blocks.length).toBe(2);
    for (const b of blocks) expect(b._routerLogits).toBeNull();
  });
});
