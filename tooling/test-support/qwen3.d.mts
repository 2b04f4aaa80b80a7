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
/** A tiny Qwen3 (vocab 151936, hidden 16, 1 layer) with the real Qwen3 tokenizer, generated from a seed into the temp folder. */
export declare function tinyQwen3WithTokenizer(seed?: number): string;
