// Runs the TypeScript code blocks of a package README the way a user would: as a module file
// importing the *built* package by its name (the package's self-reference), through tsx.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The ```ts blocks of `<pkgDir>/README.md`, in order. */
export function readmeBlocks(pkgDir) {
  const text = readFileSync(join(pkgDir, 'README.md'), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/**
 * Runs one block inside the package folder (so the package name resolves to itself) and returns
 * what it printed. Throws when the package is not built: README tests must never skip silently.
 */
export function runReadmeBlock(pkgDir, code) {
  const tsx = join(pkgDir, 'node_modules/.bin/tsx');
  if (!existsSync(join(pkgDir, 'dist/index.js'))) throw new Error(`${pkgDir} is not built: run \`pnpm build\` first`);
  if (!existsSync(tsx)) throw new Error(`tsx is not installed for ${pkgDir}: run \`pnpm install\``);
  const dir = mkdtempSync(join(pkgDir, '.readme-'));
  try {
    writeFileSync(join(dir, 'example.mts'), code);
    return execFileSync(tsx, [join(dir, 'example.mts')], { cwd: pkgDir, encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
