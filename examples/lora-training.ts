// LoRA fine-tuning of a Qwen3 in a custom loop with @mlxn/nn: adapters on every linear of the
// attention and MLP, the base frozen, a few dozen Adam steps on one paragraph, then the
// adapters saved (a small file), attached to a freshly loaded model, and fused into its weights.
// Run: pnpm exec tsx lora-training.ts [--model <folder or hub id, e.g. Qwen/Qwen3-0.6B>] [--revision R] [--steps N]
// Without a folder it uses a tiny random Qwen3 with the real tokenizer (hidden size 16, one
// layer, frozen random embeddings): its loss falls, but it is far too small to learn to recite the
// text, so its completions stay noise. Given a real Qwen3 folder the same code fine-tunes it.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as mx from '@mlxn/core';
import { Qwen3 } from '@mlxn/models-qwen3';
import { Adam, adapterParameters, crossEntropy, fuseLoRA, linearToLoRALayers, loadAdapters, saveAdapters, valueAndGrad } from '@mlxn/nn';
import { tinyQwen3WithTokenizer } from '../tooling/test-support/qwen3.mjs';

const { values } = parseArgs({
  options: { model: { type: 'string' }, revision: { type: 'string' }, steps: { type: 'string', default: '40' } },
});
const folder = values.model ?? tinyQwen3WithTokenizer();
// A hub id not in the local Hugging Face cache is downloaded into it first.
const loadOptions = values.revision === undefined ? {} : { revision: values.revision };
const steps = Number(values.steps);

const model = await Qwen3.load(folder, loadOptions);
const tokenizer = model.tokenizer;
if (tokenizer === undefined) throw new Error(`${folder} has no tokenizer.json: this example trains on text`);

const text = 'The capital of France is Paris. The capital of Italy is Rome. The capital of Japan is Tokyo.';
const tokens = tokenizer.encode(text, { addSpecialTokens: false });
// Next-token prediction: every token predicts the one after it.
const inputs = mx.keep(mx.array([tokens.slice(0, -1)], 'int32'));
const targets = mx.keep(mx.array([tokens.slice(1)], 'int32'));
const lossOf = (m: Qwen3) => crossEntropy(m.forward(inputs), targets, { reduction: 'mean' });
const evalLoss = (m: Qwen3) => mx.tidy(() => lossOf(m).item() as number);
const complete = async (m: Qwen3) => (await m.generate('The capital of Italy is', { maxTokens: 4 })).text;

// The base weights by checkpoint key, to check later that training left them untouched
// (MLX arrays are immutable: an update would replace them, so keeping the handles is enough).
const baseWeights = new Map(model.namedParameters());
console.log(`before: loss ${evalLoss(model).toFixed(4)}, "The capital of Italy is" -> ${JSON.stringify(await complete(model))}`);

// Every linear of the attention and the MLP (q, k, v, o; gate, up, down), matched by path.
const targetsLinears = /\.(self_attn|mlp)\.\w+_proj$/;
mx.random.seed(0); // the adapters' A matrices start random
const adapted = linearToLoRALayers(model, { rank: 8, scale: 2, targets: targetsLinears });
console.log(
  `adapters on ${adapted.length} linears; trainable ${model.numParameters({ trainable: true })} of ${model.numParameters()} parameters`,
);

const optimizer = new Adam({ learningRate: 1e-2 });
const lossAndGrad = valueAndGrad(model, () => lossOf(model));
let firstLoss = Number.NaN;
let lastLoss = Number.NaN;
for (let step = 0; step < steps; step++) {
  lastLoss = mx.tidy(() => {
    const [loss, grads] = lossAndGrad();
    optimizer.update(model, grads);
    mx.eval(loss, model.trainableParameters(), optimizer.state);
    return loss.item() as number;
  });
  if (step === 0) firstLoss = lastLoss;
  if (step % 10 === 0 || step === steps - 1) console.log(`step ${step}: loss ${lastLoss.toFixed(4)}`);
}
const trainedLoss = evalLoss(model);
console.log(`after: loss ${trainedLoss.toFixed(4)}, "The capital of Italy is" -> ${JSON.stringify(await complete(model))}`);

// Only the adapters moved: every base tensor (now under `<linear>.linear.*`) is the same array.
let unchanged = 0;
for (const [key, now] of model.namedParameters()) {
  const original = baseWeights.get(key.replace(/\.linear\.(weight|bias)$/, '.$1'));
  if (original === undefined) continue; // an adapter
  if (!mx.arrayEqual(original, now).item()) throw new Error(`base weight ${key} changed during LoRA training`);
  unchanged++;
}
console.log(`base weights unchanged: ${unchanged === baseWeights.size} (${unchanged} tensors)`);

// Save only the adapters, then attach them to a fresh copy of the base model.
const dir = mkdtempSync(join(tmpdir(), 'mlxn-lora-'));
const file = join(dir, 'adapters.safetensors');
await saveAdapters(model, file);
console.log(`saved ${adapterParameters(model).length} adapter tensors: ${(statSync(file).size / 1024).toFixed(1)} KiB`);
const fresh = await Qwen3.load(folder, loadOptions);
const freshLoss = evalLoss(fresh);
loadAdapters(fresh, file);
const reloadedLoss = evalLoss(fresh);
console.log(
  `fresh model: loss ${freshLoss.toFixed(4)}; with the loaded adapters: ${reloadedLoss.toFixed(4)} (same as trained: ${reloadedLoss === trainedLoss})`,
);

// Fusing merges W + scale·Bᵀ·Aᵀ into each linear: plain linears again, no adapter cost at inference.
fuseLoRA(fresh);
const fusedLoss = evalLoss(fresh);
const fusedGap = Math.abs(fusedLoss - trainedLoss);
console.log(
  `fused: ${adapterParameters(fresh).length} adapter tensors left, loss ${fusedLoss.toFixed(4)} (differs from trained by ${fusedGap.toExponential(1)}), "The capital of Italy is" -> ${JSON.stringify(await complete(fresh))}`,
);
console.log(`loss dropped: ${firstLoss.toFixed(4)} -> ${trainedLoss.toFixed(4)}`);
mx.dispose([inputs, targets]);
rmSync(dir, { recursive: true, force: true });
