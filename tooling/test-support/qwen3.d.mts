export type TinyQwen3Kind = 'dense' | 'moe' | 'dense-4bit' | 'moe-4bit';
/** The folder of one tiny checkpoint (tooling/fixtures/qwen3/<kind>). */
export declare function tinyQwen3Path(kind?: TinyQwen3Kind): string;
/** mlx-lm's expected outputs for a tiny checkpoint (see tooling/reference/qwen3_golden.py). */
export declare function tinyQwen3Expected(kind?: TinyQwen3Kind): {
  mlx: string;
  mlx_lm: string;
  prompt: number[];
  batch: number[][];
  batch_left_padding: number[];
  decode: number[][];
  model: { tokens: number[]; margins: number[]; near_ties: number };
  /** Path of `<kind>.expected.safetensors`: logits, logits_cached, batch_logits, batch_decode. */
  tensors: string;
};
/** The folder holding the real Qwen3 tokenizer.json / tokenizer_config.json. */
export declare function qwen3TokenizerDir(): string;
/** What `randomTinyQwen3` uses of @mlxn/core, @mlxn/io and @mlxn/models-qwen3. */
export interface RandomQwen3Modules<Model> {
  mx: { random: { seed(seed: number): void; normal(shape: number[]): unknown }; eval(...trees: unknown[]): void };
  Tokenizer: { loadSync(dir: string): { chatTemplate(): unknown } };
  Qwen3: new (config: never, options: never) => Model & { update(params: unknown): unknown; parameters(): unknown };
  parseQwen3Config(raw: Record<string, unknown>): { vocabSize: number; hiddenSize: number };
}
/** A 2-layer Qwen3 (hidden 64, GQA 4/2 heads) with random weights from `seed`, the real tokenizer and peaked logits. */
export declare function randomTinyQwen3<Model>(
  modules: RandomQwen3Modules<Model>,
  seed?: number,
  overrides?: Record<string, unknown>,
): Model;
/** A tiny Qwen3 (vocab 151936, hidden 16, 1 layer) with the real Qwen3 tokenizer, generated from a seed into the temp folder. */
export declare function tinyQwen3WithTokenizer(seed?: number): string;
