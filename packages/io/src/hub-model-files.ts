/**
 * Which files of a model repository are downloaded: what loading a model reads (config,
 * generation config, weights and their index, tokenizer files and chat templates), nothing
 * else (no README images, ONNX exports, GGUF or PyTorch copies of the weights). Only files at
 * the top of the repository, with plain names: a name from the server never becomes a path
 * with a folder in it, so it cannot climb out of the cache.
 */

// Letters, digits, '_', '-', '.'; not starting with '.'; at most 255 bytes (one path component).
const PLAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

/**
 * A model folder's files besides its config and weights: the tokenizer files, the chat
 * templates and the generation settings. A hub download fetches them, and `Qwen3.save` copies
 * those the source folder has into the folder it writes.
 */
export const MODEL_SIDE_FILES: readonly string[] = Object.freeze([
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'chat_template.jinja',
  'chat_template.json',
  'generation_config.json',
]);

const SIDE_FILE_NAMES = new Set(MODEL_SIDE_FILES);

/** Whether `name` (a path in the repository) is a file a model folder needs. */
export function isModelFile(name: string): boolean {
  if (!PLAIN_NAME.test(name)) return false;
  return name === 'config.json' || SIDE_FILE_NAMES.has(name) || name.endsWith('.safetensors') || name.endsWith('.safetensors.index.json');
}

/**
 * The files to download out of a repository's listing. Weights are the `model*.safetensors`
 * files when there are any (as mlx-lm downloads them), so a LoRA adapter or a second copy of
 * the weights beside them is not fetched; otherwise every `.safetensors` file.
 */
export function selectModelFiles(names: readonly string[]): string[] {
  const wanted = names.filter(isModelFile);
  const hasModelWeights = wanted.some((n) => /^model.*\.safetensors$/.test(n));
  return wanted.filter((n) => !n.endsWith('.safetensors') || !hasModelWeights || n.startsWith('model')).sort();
}
