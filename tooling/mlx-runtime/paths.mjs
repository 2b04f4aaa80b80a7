// Where the fetched MLX runtime lives. Shared by the fetch script and the native build
// so both agree on one cache directory outside the repository.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const pin = JSON.parse(readFileSync(join(here, 'pin.json'), 'utf8'));

export function platformKey() {
  return `${process.platform === 'darwin' ? 'darwin' : process.platform}-${process.arch}`;
}

export function cacheRoot() {
  if (process.env.MLXN_CACHE_DIR) return process.env.MLXN_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'mlxn');
}

/** The prefix (include/, lib/) of the pinned prebuilt runtime for this platform. */
export function runtimePrefix() {
  return join(cacheRoot(), `mlx-${pin.version}-${platformKey()}`);
}
