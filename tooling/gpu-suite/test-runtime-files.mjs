// Lists, one path per line relative to the repository root, what the test suites need that git
// does not track: the node_modules folders of the workspace (pnpm's symlinks) and the store
// folders (node_modules/.pnpm/<name>@<version>) reachable from them, the packages' dist/ and
// the native binary folder. tooling/gpu-suite/stage.sh packs these for the GPU machine, which has
// no registry to install them from.
//
// Only what the vitest suites of packages/* and examples/ reach is listed: the packaging tools
// (publint, attw, changesets, typedoc, turbo, @napi-rs/cli) are left out, which keeps the
// transfer under the GPU machine's 64 MiB per call.
import { existsSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const store = join(root, 'node_modules', '.pnpm');
// Top-level tools the suites run: the runner, tsx for child processes, tsc for the examples'
// type check, and Node's types for it.
const ROOT_TOOLS = ['vitest', 'tsx', 'typescript', '@types/node'];
const LEFT_OUT = /^(@napi-rs|@changesets|@arethetypeswrong|publint|typedoc|typedoc-plugin-markdown|turbo|tsup)$/;

const workspaces = [...readdirSync(join(root, 'packages')).map((p) => join('packages', p)), 'examples', join('tooling', 'test-support')];

const storeDirs = new Set();
const linkDirs = new Set(['node_modules/.bin']);
const pending = [];

/** The node_modules/<name> entries of a folder (scoped names included). */
function entries(nodeModules) {
  if (!existsSync(nodeModules)) return [];
  const out = [];
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) for (const sub of readdirSync(join(nodeModules, name))) out.push(`${name}/${sub}`);
    else out.push(name);
  }
  return out;
}

function visit(path) {
  let real;
  try {
    real = realpathSync(path);
  } catch {
    return; // a dangling optional dependency
  }
  if (!real.startsWith(store + sep)) return; // a workspace package: listed with the workspaces
  const top = relative(store, real).split(sep)[0];
  if (storeDirs.has(top)) return;
  storeDirs.add(top);
  // A store folder holds the package and symlinks to its dependencies, side by side.
  const siblings = join(store, top, 'node_modules');
  for (const name of entries(siblings)) pending.push(join(siblings, name));
}

for (const name of ROOT_TOOLS) visit(join(root, 'node_modules', name));
for (const ws of workspaces) {
  const nm = join(root, ws, 'node_modules');
  if (!existsSync(nm)) continue;
  linkDirs.add(relative(root, nm));
  for (const name of entries(nm)) if (!LEFT_OUT.test(name)) visit(join(nm, name));
}
while (pending.length > 0) visit(pending.pop());

const lines = [...linkDirs];
for (const name of ROOT_TOOLS) lines.push(join('node_modules', name));
for (const dir of [...storeDirs].sort()) lines.push(join('node_modules', '.pnpm', dir));
for (const ws of workspaces) {
  const dist = join(ws, 'dist');
  if (existsSync(join(root, dist)) && lstatSync(join(root, dist)).isDirectory()) lines.push(dist);
}
process.stdout.write(`${lines.join('\n')}\n`);
