/**
 * `--version` of the command-line tools: the version of the package a tool ships in, read from
 * its package.json (found from the running file, in `dist/` or `src/`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `name` and `version` of the nearest package.json above `moduleUrl` (an `import.meta.url`). */
export function packageOf(moduleUrl: string): { name: string; version: string } {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (typeof pkg.name === 'string' && typeof pkg.version === 'string') return { name: pkg.name, version: pkg.version };
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(moduleUrl)}`);
    dir = up;
  }
}

/** The line `--version` prints: `mlxn-qwen3 0.1.0 (@mlxn/models-qwen3, Node v22.12.0)`. */
export function versionLine(tool: string, moduleUrl: string): string {
  const { name, version } = packageOf(moduleUrl);
  return `${tool} ${version} (${name}, Node ${process.version})\n`;
}
