// Quantized layers against Python mlx.nn, quantize()/dequantize() over a module tree, and
// loading the mlx-community layout (weight/scales/biases).
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';
import { close, equal, g } from './helpers.js';

class Net extends nn.Module {
  embedTokens = new nn.Embedding(16, 64);
  layers = [new nn.Linear(64, 64), new nn.Linear(64, 32)];
  lmHead = new nn.Linear(32, 10); // 32 is not a multiple of 64: left alone by default
  forward(ids: mx.Array) {
    let h = this.embedTokens.forward(ids);
    for (const l of this.layers) h = l.forward(h);
    return this.lmHead.forward(h);
  }
}

describe('QuantizedLinear / QuantizedEmbedding', () => {
  for (const bits of [4, 8]) {
    it(`affine ${bits}-bit packs and multiplies as mlx.nn does`, () => {
      const lin = new nn.Linear(64, 8, { bias: false });
      lin.weight = g('quant.w');
      const q = nn.QuantizedLinear.fromLinear(lin, { groupSize: 32, bits });
      equal(q.weight, g(`quant${bits}.weight`));
      close(q.scales, g(`quant${bits}.scales`), 0, 0);
      close(q.biases!, g(`quant${bits}.biases`), 0, 0);
      close(q.forward(g('quant.x')), g(`quant${bits}.y`), 1e-4, 1e-4);
      expect(q.inputDims).toBe(64);
      expect(q.namedTrainableParameters()).toEqual([]);
      q.unfreeze();
      expect(q.namedTrainableParameters()).toEqual([]); // quantized weights never train
    });
  }

  it('QuantizedEmbedding rows and asLinear', () => {
    const e = new nn.Embedding(8, 64);
    e.weight = g('quant.w');
    const q = nn.QuantizedEmbedding.fromEmbedding(e, { groupSize: 32, bits: 4 });
    close(q.forward(mx.array([2, 0, 7])), g('qemb.y'), 1e-6);
    close(q.asLinear(g('quant.x')), g('quant4.y'), 1e-4, 1e-4);
    close(q.toEmbedding().weight, q.dequantizedWeight(), 0, 0);
  });

  it('micro-scaling mode mxfp4 has no biases', () => {
    const q = new nn.QuantizedLinear(64, 8, { mode: 'mxfp4' });
    expect(q.groupSize).toBe(32);
    expect(q.biases).toBeUndefined();
    expect(q.namedParameters().map(([k]) => k)).toEqual(['weight', 'scales', 'bias']);
    expect(q.forward(mx.ones([2, 64])).shape).toEqual([2, 8]);
  });

  it('rejects weights whose width is not a multiple of the group size', () => {
    expect(() => new nn.QuantizedLinear(48, 8, { groupSize: 32 })).toThrow(/multiple of groupSize 32/);
    expect(() => new nn.QuantizedLinear(64, 8, { mode: 'int3' as 'affine' })).toThrow(/unknown quantization mode/);
  });
});

describe('resolveQuantization', () => {
  it("fills each mode's default group size and bits (MLX's table), keeping what is given", () => {
    expect(nn.resolveQuantization()).toEqual({ mode: 'affine', groupSize: 64, bits: 4 });
    expect(nn.resolveQuantization({ mode: 'mxfp4' })).toEqual({ mode: 'mxfp4', groupSize: 32, bits: 4 });
    expect(nn.resolveQuantization({ mode: 'mxfp8' })).toEqual({ mode: 'mxfp8', groupSize: 32, bits: 8 });
    expect(nn.resolveQuantization({ mode: 'nvfp4' })).toEqual({ mode: 'nvfp4', groupSize: 16, bits: 4 });
    expect(nn.resolveQuantization({ groupSize: 32, bits: 8 })).toEqual({ mode: 'affine', groupSize: 32, bits: 8 });
    expect(() => nn.resolveQuantization({ mode: 'toString' as never })).toThrow(/unknown quantization mode 'toString'/);
  });
});

describe('quantize / dequantize over a model', () => {
  it('quantizes eligible layers in place, close to the float model', () => {
    mx.random.seed(3);
    const m = new Net();
    const ids = mx.array([[1, 5, 9]]);
    const ref = m.forward(ids);
    nn.quantize(m, { groupSize: 64, bits: 8 });
    expect(m.embedTokens).toBeInstanceOf(nn.QuantizedEmbedding);
    expect(m.layers[1]).toBeInstanceOf(nn.QuantizedLinear);
    expect(m.lmHead).toBeInstanceOf(nn.Linear);
    close(m.forward(ids), ref, 2e-2, 2e-2);
    nn.dequantize(m);
    expect(m.layers[0]).toBeInstanceOf(nn.Linear);
    close(m.forward(ids), ref, 2e-2, 2e-2);
  });

  it('a filter chooses layers and per-layer settings by checkpoint path', () => {
    const m = new Net();
    const seen: string[] = [];
    nn.quantize(m, {
      bits: 4,
      filter: (p) => {
        seen.push(p);
        return p === 'layers.1' ? { bits: 8 } : p === 'layers.0';
      },
    });
    expect(seen).toEqual(['embed_tokens', 'layers.0', 'layers.1', 'lm_head']);
    expect((m.layers[0] as unknown as nn.QuantizedLinear).bits).toBe(4);
    expect((m.layers[1] as unknown as nn.QuantizedLinear).bits).toBe(8);
    expect(m.embedTokens).toBeInstanceOf(nn.Embedding);
  });

  it('loads an mlx-community style checkpoint: quantize by the presence of .scales, then load', () => {
    const src = new Net();
    nn.quantize(src, { groupSize: 32, bits: 4, filter: (p) => p !== 'lm_head' });
    const weights = new Map(src.namedParameters());
    expect([...weights.keys()]).toContain('layers.0.biases');
    const dst = new Net();
    nn.quantize(dst, { groupSize: 32, bits: 4, filter: (p) => weights.has(`${p}.scales`) });
    dst.loadWeights(weights);
    const ids = mx.array([[3, 4]]);
    expect(dst.forward(ids).tolist()).toEqual(src.forward(ids).tolist());
    // A float model cannot take quantized weights: the error names each mismatch.
    expect(() => new Net().loadWeights(weights)).toThrow(
      /weights unexpected: .*'layers.0.biases'.*expected shape \[64, 64\] but got \[64, 8\]/,
    );
  });

  it('quantizeFromCheckpoint follows the tensor names and per-layer overrides of config.quantization', () => {
    const src = new Net();
    nn.quantize(src, { groupSize: 32, bits: 4, filter: (p) => (p === 'layers.1' ? { bits: 8 } : p !== 'lm_head') });
    const weights = src.namedParameters();
    const config = { group_size: 32, bits: 4, 'layers.1': { bits: 8 } };
    const dst = nn.quantizeFromCheckpoint(
      new Net(),
      weights.map(([k]) => k),
      config,
    );
    dst.loadWeights(weights);
    expect((dst.layers[1] as unknown as nn.QuantizedLinear).bits).toBe(8);
    expect(dst.lmHead).toBeInstanceOf(nn.Linear);
    const ids = mx.array([[0, 15]]);
    expect(dst.forward(ids).tolist()).toEqual(src.forward(ids).tolist());
    expect(() => nn.quantizeFromCheckpoint(new Net(), [], { bits: 0 })).toThrow(/bits must be a positive integer, got 0/);
  });
});
