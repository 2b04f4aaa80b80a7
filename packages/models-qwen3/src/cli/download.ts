/**
 * `mlxn-qwen3 download <id>`: puts a Hugging Face model into the local Hugging Face cache (where
 * mlx-lm and transformers find it too) and prints its snapshot folder. Only the files a model
 * needs are fetched; an interrupted download resumes. Ctrl-C stops it (exit code 130).
 */
import { downloadHubSnapshot, parseHubId } from '@mlxn/io';
import { type CommandSpec, flag, type ParsedArgs, UsageError } from './args.js';
import { onInterrupt } from './interrupts.js';
import { REVISION_FLAG } from './model-folder.js';
import { writeOut } from './output.js';
import { downloadProgressBar } from './progress-bar.js';

export const DOWNLOAD: CommandSpec = {
  name: 'mlxn-qwen3 download',
  usage: '<org/name[@revision]> [options]',
  summary:
    'Download a model from the Hugging Face hub into the local Hugging Face cache (HF_HUB_CACHE,\n' +
    'HF_HOME) and print its folder. Only config, weights, tokenizer, chat template and generation\n' +
    'config are fetched; files already there are kept, an interrupted download resumes. Gated models\n' +
    'need a token in HF_TOKEN; HF_ENDPOINT picks another hub.',
  maxPositionals: 1,
  flags: { ...REVISION_FLAG },
  epilog: [
    'Examples:',
    '  mlxn-qwen3 download Qwen/Qwen3-0.6B',
    '  mlxn-qwen3 download mlx-community/Qwen3-0.6B-4bit --revision main',
  ].join('\n'),
};

export async function runDownload(args: ParsedArgs): Promise<number> {
  const id = args.positionals[0];
  if (id === undefined) throw new UsageError('missing the model id (org/name, e.g. Qwen/Qwen3-0.6B)');
  const parsed = parseHubId(id);
  if (parsed === undefined) throw new UsageError(`${JSON.stringify(id)} is not a Hugging Face model id (org/name, optionally @revision)`);
  const revision = flag<string>(args, 'revision');
  if (revision !== undefined && parsed.revision !== undefined && revision !== parsed.revision) {
    throw new UsageError(`${id}: --revision ${revision} given as well as @${parsed.revision}`);
  }
  const controller = new AbortController();
  const stopListening = onInterrupt(() => controller.abort());
  const bar = downloadProgressBar(parsed.repo);
  let folder: string;
  try {
    folder = await downloadHubSnapshot(id, { revision, signal: controller.signal, onProgress: (e) => bar.update(e) });
  } catch (e) {
    if (controller.signal.aborted) {
      bar.end();
      process.stderr.write('mlxn-qwen3 download: interrupted; run it again to resume\n');
      return 130;
    }
    throw e;
  } finally {
    bar.end();
    stopListening();
  }
  await writeOut(`${folder}\n`);
  return 0;
}
