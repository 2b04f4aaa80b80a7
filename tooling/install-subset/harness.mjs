// Installs a subset of the packed @mlxn tarballs into an empty npm project and runs programs
// against it, the way a user who installs only those packages would.
//
// The requested packages become `file:` dependencies; every other packed @mlxn package is an
// npm `override` pointing at its tarball, so a package's own dependency declarations (for
// example @mlxn/core's optionalDependencies on its platform package) decide what npm pulls
// in, exactly as they would from the registry. Packages outside @mlxn come from the registry
// through npm's ordinary configuration.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../..');

/**
 * The internal packages an install of `names` brings in: the names themselves plus, through
 * the packed manifests, dependencies, optional dependencies and non-optional peers that are
 * among the packed packages.
 */
function internalClosure(names, packed) {
  const byName = new Map(packed.map((p) => [p.name, p.manifest]));
  const out = new Set();
  const visit = (name) => {
    if (out.has(name)) return;
    const manifest = byName.get(name);
    if (!manifest) throw new Error(`${name} is not among the packed packages`);
    out.add(name);
    const optionalPeers = manifest.peerDependenciesMeta ?? {};
    const next = [
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.optionalDependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}).filter((n) => !optionalPeers[n]?.optional),
    ];
    for (const n of next) if (byName.has(n)) visit(n);
  };
  for (const n of names) visit(n);
  return [...out].sort();
}

/** The @mlxn packages present in a project's node_modules (npm installs flat). */
function installedInternal(projectDir) {
  const scope = join(projectDir, 'node_modules/@mlxn');
  return existsSync(scope)
    ? readdirSync(scope)
        .map((n) => `@mlxn/${n}`)
        .sort()
    : [];
}

// The scenario programs must see only the project: no native override, no module paths, and
// none of the variables a surrounding `pnpm run` or vitest sets for its own scripts. npm's
// configuration (npm_config_*, .npmrc) is kept: it is how a user's npm reaches its registry.
const FOREIGN_ENV =
  /^(MLXN_NATIVE_PATH|NODE_PATH|NODE_OPTIONS|VITEST.*|TEST|npm_lifecycle_.*|npm_package_.*|npm_execpath|npm_node_execpath|npm_command|npm_config_user_agent|PNPM_.*)$/;

export function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!FOREIGN_ENV.test(k)) env[k] = v;
  // The scenarios check the platform package's own (CPU) runtime, also on a machine with an
  // NVIDIA driver; core-cuda-runtime sets the backend itself for the processes it starts.
  env.MLXN_MLX_BACKEND = 'cpu';
  return env;
}

/** The Node running this process, as a runtime for `runScenario`'s `nodes`. */
export const thisNode = { label: `node ${process.version}`, path: process.execPath };

/**
 * Creates `workDir/<scenario.id>`, installs the scenario's packages from the tarballs (or, with
 * `registry`, by name and version from that registry, which must hold them all), checks
 * which @mlxn packages arrived, and runs its programs with each of `nodes` ({ label, path }:
 * one install serves every Node, since nothing we publish has install scripts or depends on
 * the Node version at install time). Never throws for a failing scenario: the result says
 * what failed.
 */
export function runScenario(scenario, packed, workDir, { programTimeoutMs = 120_000, nodes = [thisNode], registry } = {}) {
  const dir = join(workDir, scenario.id);
  mkdirSync(dir, { recursive: true });
  const byName = new Map(packed.map((p) => [p.name, p]));
  const dependencies = {};
  const overrides = {};
  for (const name of scenario.install) {
    if (!byName.has(name)) throw new Error(`${scenario.id}: ${name} is not among the packed packages`);
    // From a registry: by name and exact version, as a user would; otherwise the tarball.
    dependencies[name] = registry ? byName.get(name).version : `file:${byName.get(name).tarball}`;
  }
  if (registry) {
    // Only @mlxn comes from the given registry; everything else through npm's own configuration.
    writeFileSync(join(dir, '.npmrc'), `@mlxn:registry=${registry}\n`);
  } else {
    for (const [name, p] of byName) if (!(name in dependencies)) overrides[name] = `file:${p.tarball}`;
  }
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: `mlxn-install-subset-${scenario.id}`, version: '0.0.0', private: true, dependencies, overrides }, null, 2)}\n`,
  );
  cpSync(join(here, 'shared'), dir, { recursive: true });
  cpSync(join(here, 'scenarios', scenario.id), dir, { recursive: true });
  for (const [to, from] of Object.entries(scenario.fixtures ?? {})) {
    cpSync(join(repoRoot, from), join(dir, to), { recursive: true });
  }

  const env = cleanEnv();
  const start = performance.now();
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd: dir,
    env,
    encoding: 'utf8',
    timeout: 600_000,
  });
  const installSeconds = (performance.now() - start) / 1000;
  const result = {
    id: scenario.id,
    dir,
    installSeconds,
    expected: internalClosure(scenario.install, packed),
    installed: installedInternal(dir),
    problems: [],
    programs: [],
  };
  if (npm.status !== 0) {
    result.problems.push(`npm install failed (${npm.status ?? npm.signal}):\n${npm.stdout}${npm.stderr}`);
    return result;
  }
  if (result.installed.join() !== result.expected.join()) {
    result.problems.push(`installed ${result.installed.join(', ') || 'nothing'}; expected exactly ${result.expected.join(', ')}`);
  }
  for (const name of scenario.absent) {
    if (existsSync(join(dir, 'node_modules', name))) result.problems.push(`${name} must not be installed`);
  }

  for (const node of nodes) {
    for (const program of scenario.programs) {
      const t = performance.now();
      const r = spawnSync(node.path, [program], {
        cwd: realpathSync(dir),
        env,
        encoding: 'utf8',
        timeout: programTimeoutMs,
      });
      const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
      const ok = r.status === 0;
      result.programs.push({ program, node: node.label, ok, seconds: (performance.now() - t) / 1000, output });
      if (!ok) result.problems.push(`${program} on ${node.label} exited with ${r.status ?? r.signal}:\n${output}`);
    }
  }
  return result;
}
