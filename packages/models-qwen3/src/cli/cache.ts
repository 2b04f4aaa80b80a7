/**
 * `mlxn-qwen3 cache`: what the local Hugging Face cache holds (the models of mlx-lm, transformers
 * and ours alike), each repository with its size and its snapshots, and the branches or tags
 * pointing at them. `--json` prints the same as JSON.
 */
import { hubCacheDir, listHubCache } from '@mlxn/io';
import { type CommandSpec, flag, type ParsedArgs } from './args.js';
import { writeOut } from './output.js';
import { formatBytes } from './progress-bar.js';

export const CACHE: CommandSpec = {
  name: 'mlxn-qwen3 cache',
  usage: '[options]',
  summary: 'List the models in the local Hugging Face cache (HF_HUB_CACHE, HF_HOME) with their revisions and sizes.',
  maxPositionals: 0,
  flags: { json: { kind: 'boolean', help: 'Print the listing as JSON.' } },
};

export async function runCache(args: ParsedArgs): Promise<number> {
  const dir = hubCacheDir();
  const repos = listHubCache(dir);
  if (flag(args, 'json')) {
    await writeOut(`${JSON.stringify({ cache: dir, repos }, null, 2)}\n`);
    return 0;
  }
  const lines = [`${dir}: ${repos.length} model${repos.length === 1 ? '' : 's'}`];
  for (const r of repos) {
    lines.push(`${r.repo}  ${formatBytes(r.bytes)}`);
    for (const v of r.revisions) {
      lines.push(
        `  ${v.commit.slice(0, 12)}  ${(v.refs.length > 0 ? v.refs.join(', ') : '(no ref)').padEnd(12)}  ${String(v.files).padStart(3)} files  ${formatBytes(v.bytes)}`,
      );
    }
  }
  await writeOut(`${lines.join('\n')}\n`);
  return 0;
}
