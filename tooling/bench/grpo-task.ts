/**
 * The task both GRPO benchmarks train on (grpo.ts against mlx-lm-lora, grpo-trl.ts against TRL):
 * arithmetic prompts and a reward that every reference side computes the same way.
 */

/**
 * `n` prompts "What is a + b? Answer:" with two-digit operands, from a fixed LCG. Every prompt
 * has the same token count, so trainers that batch prompts in different orders (mlx-lm-lora
 * sorts them by length, TRL shuffles) see identical shapes.
 */
export function arithmeticPrompts(n: number): { prompt: string; answer: string }[] {
  let s = 12345;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return 10 + (s % 90);
  };
  return Array.from({ length: n }, () => {
    const a = next();
    const b = next();
    return { prompt: `What is ${a} + ${b}? Answer:`, answer: String(a + b) };
  });
}

/**
 * 1 when the gold answer appears in the completion, plus 0.01 per character, so that a group's
 * rewards differ and its advantages are not all zero. The Python sides compute
 * `(1.0 if a in c else 0.0) + 0.01 * len(c)`; `len` counts code points, as `[...text]` does.
 */
export function arithmeticReward(inputs: { completions: unknown[]; answer?: unknown }): number[] {
  const answers = inputs.answer as string[];
  return inputs.completions.map((c, i) => {
    const text = String(c);
    return (text.includes(answers[i]) ? 1 : 0) + 0.01 * [...text].length;
  });
}

/**
 * The AdamW half of a GRPOTrainer config both benchmarks share: a constant learning rate and
 * the given moments' coefficients (weight decay applied by the trainer, as torch's AdamW).
 */
export function adamWConfig(learningRate: number, o: { beta1: number; beta2: number; epsilon: number; weightDecay: number }) {
  return {
    learningRate,
    lrSchedulerType: 'constant' as const,
    adamBeta1: o.beta1,
    adamBeta2: o.beta2,
    adamEpsilon: o.epsilon,
    weightDecay: o.weightDecay,
  };
}
